/** Name constraints on openssl-made chains: DNS, IP, email, directory names, wildcards. */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { parseCertificates } from '../../src/pki/certificate.js';
import { PkiError } from '../../src/pki/errors.js';
import { TrustStore } from '../../src/pki/trust-store.js';
import { validatePath } from '../../src/pki/validate.js';
import { OpensslPki } from './openssl-pki.js';

const leafSection = (name: string, san: string, extra = '') => `
[${name}]
basicConstraints = critical,CA:FALSE
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = ${san}
${extra}`;

const cases: [string, string, boolean][] = [
  ['dns-ok', 'DNS:api.example.com', true],
  ['dns-apex', 'DNS:example.com', true],
  ['dns-out', 'DNS:example.org', false],
  ['dns-excluded', 'DNS:x.bad.example.com', false],
  ['wildcard-may-hit-excluded', 'DNS:*.example.com', false],
  ['wildcard-inside', 'DNS:*.good.example.com', true],
  ['ip-ok', 'IP:10.20.30.40', true],
  ['ip-out', 'IP:192.168.0.1', false],
  ['ipv6-ok', 'IP:2001:db8::1', true],
  ['email-ok', 'email:a@example.com', true],
  ['email-out', 'email:a@example.org', false],
  ['uri-ok', 'URI:https://svc.example.com/x', true],
  ['dirname-out', 'dirName:dir_sect', false],
];

const pki = new OpensslPki(`
[constrained]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
nameConstraints = critical,permitted;DNS:example.com,permitted;IP:10.0.0.0/255.0.0.0,permitted;IP:2001:db8::/ffff:ffff::,permitted;email:example.com,permitted;URI:.example.com,permitted;dirName:ok_dir,excluded;DNS:bad.example.com
[ok_dir]
O = Halo
[dir_sect]
O = Elsewhere
${cases.map(([n, san]) => leafSection(n, san)).join('')}
`);
after(() => pki.dispose());

test('every name on the leaf must be permitted and none excluded', async () => {
  const root = pki.root('nc-root');
  const ca = pki.issue('nc-ca', root, 'constrained', '/O=Halo/CN=nc-ca');
  const store = new TrustStore(parseCertificates(pki.read(root)));
  const intermediates = parseCertificates(pki.read(ca));
  const at = new Date(Date.now() + 86_400_000);
  assert.equal(intermediates[0]!.nameConstraints?.permitted.length, 6);
  for (const [name, , ok] of cases) {
    const leaf = parseCertificates(pki.read(pki.issue(name, ca, name, `/O=Halo/CN=${name}`)))[0]!;
    const result = validatePath(leaf, { trustStore: store, intermediates, at });
    if (ok) await result;
    else await assert.rejects(result, (e: unknown) => e instanceof PkiError && e.code === 'NAME_CONSTRAINT_VIOLATION', name);
  }
  // The subject DN is constrained too: O=Other is outside dirName O=Halo.
  const outside = parseCertificates(pki.read(pki.issue('subject-out', ca, 'dns-ok', '/O=Other/CN=x')))[0]!;
  await assert.rejects(validatePath(outside, { trustStore: store, intermediates, at }), (e: unknown) => e instanceof PkiError && e.code === 'NAME_CONSTRAINT_VIOLATION');
});
