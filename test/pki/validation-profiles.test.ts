/**
 * The three validation profiles on chains made by the real openssl CLI: the
 * same certificate, judged by `cmms` (the default), `rfc5280` and `webpki`,
 * where their rules differ (CA certificate as the end entity, EKU absent or
 * critical, a host-like Common Name, non-critical nameConstraints, a root
 * with an EKU).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Certificate } from '../../src/pki/certificate.js';
import { checkHost } from '../../src/pki/hostname.js';
import { TrustStore } from '../../src/pki/trust-store.js';
import { type ValidationOptions, validatePath } from '../../src/pki/validate.js';
import { VALIDATION_PROFILE_NAMES, type ValidationProfileName, isValidationProfileName } from '../../src/pki/validation-profiles.js';
import { type Issued, OpensslPki } from './openssl-pki.js';
import { rejectsWith, throwsWith } from './pki-expect.js';

const pki = new OpensslPki(`
[noeku]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:svc.example.com
[criticaleku]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = critical,serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:svc.example.com
[clientonly]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:svc.example.com
[catls]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:svc.example.com
[ncnoncritical]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
nameConstraints = permitted;DNS:example.com
[otherdomain]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:svc.example.org
[rooteku]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
extendedKeyUsage = serverAuth,clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
`);
after(() => pki.dispose());
const parse = (i: Issued): Certificate => pki.certificate(i);
const at = new Date(Date.now() + 86_400_000);

const root = pki.root('root');
const store = new TrustStore([parse(root)]);

/** Validates `leaf` under each profile; `expected` maps a profile to the error code it must give, or 'ok'. */
async function judged(leaf: Certificate, options: Omit<ValidationOptions, 'trustStore' | 'profile'>, expected: Record<ValidationProfileName, string>, trustStore = store) {
  for (const profile of VALIDATION_PROFILE_NAMES) {
    const p = validatePath(leaf, { trustStore, at, ...options, profile });
    if (expected[profile] === 'ok') assert.equal((await p).profile, profile);
    else await rejectsWith(p, expected[profile]);
  }
}

describe('validation profiles', () => {
  test('names: cmms is the default; unknown names are not profiles', async () => {
    assert.deepEqual([...VALIDATION_PROFILE_NAMES].sort(), ['cmms', 'rfc5280', 'webpki']);
    assert.ok(isValidationProfileName('webpki'));
    assert.ok(!isValidationProfileName('strict'));
    const leaf = parse(pki.issue('default', root, 'leaf'));
    assert.equal((await validatePath(leaf, { trustStore: store, at })).profile, 'cmms');
  });

  test('a CA certificate as the end entity: rfc5280 allows it, webpki refuses it, cmms refuses it for a purpose', async () => {
    const ca = parse(pki.issue('ca-as-leaf', root, 'catls'));
    await judged(ca, { host: 'svc.example.com', purpose: 'server' }, { rfc5280: 'ok', webpki: 'KEY_USAGE_MISMATCH', cmms: 'KEY_USAGE_MISMATCH' });
    await judged(ca, { purpose: 'signing' }, { rfc5280: 'ok', webpki: 'KEY_USAGE_MISMATCH', cmms: 'KEY_USAGE_MISMATCH' });
    // With no purpose named (validating an intermediate itself), cmms follows the RFC.
    await judged(ca, {}, { rfc5280: 'ok', webpki: 'KEY_USAGE_MISMATCH', cmms: 'ok' });
  });

  test('EKU: required by webpki, checked when present by cmms and rfc5280', async () => {
    const noEku = parse(pki.issue('no-eku', root, 'noeku'));
    await judged(noEku, { purpose: 'server', host: 'svc.example.com' }, { rfc5280: 'ok', webpki: 'EKU_MISMATCH', cmms: 'ok' });
    const clientOnly = parse(pki.issue('client-only', root, 'clientonly'));
    await judged(clientOnly, { purpose: 'server' }, { rfc5280: 'EKU_MISMATCH', webpki: 'EKU_MISMATCH', cmms: 'EKU_MISMATCH' });
    await judged(clientOnly, { purpose: 'client' }, { rfc5280: 'ok', webpki: 'ok', cmms: 'ok' });
    // CA/B 7.1.2.7.6: a TLS server certificate's EKU is not critical; RFC 5280 lets it be.
    const critical = parse(pki.issue('critical-eku', root, 'criticaleku'));
    await judged(critical, { purpose: 'server' }, { rfc5280: 'ok', webpki: 'EKU_MISMATCH', cmms: 'ok' });
  });

  test('a host-like Common Name that is not a SAN: only webpki reads it (CA/B 7.1.4.3)', async () => {
    const leaf = parse(pki.issue('cn-not-san', root, 'leaf', '/CN=example.com'));
    await judged(leaf, { host: 'leaf.example.com', purpose: 'server' }, { rfc5280: 'ok', webpki: 'HOSTNAME_MISMATCH', cmms: 'ok' });
    // The CN is never a host name it serves (no CN fallback) under any profile.
    await judged(leaf, { host: 'example.com' }, { rfc5280: 'HOSTNAME_MISMATCH', webpki: 'HOSTNAME_MISMATCH', cmms: 'HOSTNAME_MISMATCH' });
    // The domain a wildcard entry is issued under, and a copied SAN entry, pass webpki too.
    const wildcardBase = parse(pki.issue('cn-wildcard-base', root, 'leaf', '/CN=leaf.example.com'));
    await judged(wildcardBase, { host: 'a.leaf.example.com' }, { rfc5280: 'ok', webpki: 'ok', cmms: 'ok' });
    // An address-like CN is checked when an address is: 10.0.0.01 is not the RFC 3986 text of a SAN.
    const oddIp = parse(pki.issue('cn-odd-ip', root, 'leaf', '/CN=10.0.0.01'));
    await judged(oddIp, { host: '10.0.0.1' }, { rfc5280: 'ok', webpki: 'HOSTNAME_MISMATCH', cmms: 'ok' });
    throwsWith(() => checkHost(oddIp, '10.0.0.1', { profile: 'webpki' }), 'HOSTNAME_MISMATCH', 'checkHost under webpki');
    checkHost(oddIp, '10.0.0.1');
  });

  test('non-critical nameConstraints: rfc5280 refuses them (§4.2.1.10); cmms and webpki apply them', async () => {
    const nc = pki.issue('nc-noncritical', root, 'ncnoncritical');
    const inside = parse(pki.issue('nc-inside', nc, 'noeku'));
    await judged(inside, { intermediates: [parse(nc)] }, { rfc5280: 'NAME_CONSTRAINT_VIOLATION', webpki: 'ok', cmms: 'ok' });
    const outside = parse(pki.issue('nc-outside', nc, 'otherdomain'));
    await judged(outside, { intermediates: [parse(nc)] }, { rfc5280: 'NAME_CONSTRAINT_VIOLATION', webpki: 'NAME_CONSTRAINT_VIOLATION', cmms: 'NAME_CONSTRAINT_VIOLATION' });
  });

  test('a root with an EKU: webpki refuses it (CA/B 7.1.2.1.2); cmms and rfc5280 read it as a constraint', async () => {
    const ekuRoot = pki.root('eku-root', '/CN=eku-root', {}, 'rooteku');
    const leaf = parse(pki.issue('under-eku-root', ekuRoot, 'leaf'));
    await judged(leaf, { purpose: 'server' }, { rfc5280: 'ok', webpki: 'EKU_MISMATCH', cmms: 'ok' }, new TrustStore([parse(ekuRoot)]));
  });
});
