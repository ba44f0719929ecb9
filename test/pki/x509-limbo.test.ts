/**
 * x509-limbo conformance: every testcase of ../shared/testdata/x509-limbo/
 * limbo.json through `validatePath`, scored as upstream harnesses are (a case
 * passes when the verdict matches; a FAILURE at parse time is a FAILURE).
 * Each namespace runs under the profile it tests: `webpki::*` (and the
 * recorded Web PKI chains of `online::*`) under `webpki`, every other
 * namespace under `rfc5280`. Prints pass / unexpected success / unexpected
 * failure / skipped per namespace and profile and in total, with the reason
 * of every case that does not pass, and asserts no unexpected success and
 * >= 99% passes.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { type Certificate, OID, parseCertificates } from '../../src/pki/certificate.js';
import { CrlRevocationChecker, parseCrls } from '../../src/pki/crl.js';
import { PkiError } from '../../src/pki/errors.js';
import { PublicSuffixList } from '../../src/pki/hostname.js';
import { TrustStore } from '../../src/pki/trust-store.js';
import { type ValidationOptions, validatePath } from '../../src/pki/validate.js';
import { type KeyUsage } from '../../src/pki/certificate.js';
import { LinkCache } from '../../src/pki/path-builder.js';
import { type ValidationProfileName } from '../../src/pki/validation-profiles.js';

const LIMBO = new URL('../../../shared/testdata/x509-limbo/limbo.json', import.meta.url);
/** Debian's `publicsuffix` package; without it the public-suffix cases are skipped. */
const PSL_PATH = '/usr/share/publicsuffix/public_suffix_list.dat';

interface PeerName {
  kind: 'DNS' | 'IP' | 'RFC822';
  value: string;
}

interface Testcase {
  id: string;
  conflicts_with: string[];
  features: string[];
  validation_kind: 'SERVER' | 'CLIENT';
  trusted_certs: string[];
  untrusted_intermediates: string[];
  peer_certificate: string;
  validation_time: string | null;
  signature_algorithms: string[];
  key_usage: string[];
  extended_key_usage: string[];
  expected_result: 'SUCCESS' | 'FAILURE';
  expected_peer_name: PeerName | null;
  expected_peer_names: PeerName[];
  max_chain_depth: number | null;
  crls: string[];
}

const EKU_NAMES: Record<string, string> = {
  serverAuth: OID.serverAuth,
  clientAuth: OID.clientAuth,
  codeSigning: OID.codeSigning,
  emailProtection: OID.emailProtection,
  timeStamping: OID.timeStamping,
  OCSPSigning: OID.ocspSigning,
  anyExtendedKeyUsage: OID.anyExtendedKeyUsage,
};

type Verdict = { result: 'SUCCESS' | 'FAILURE'; reason?: string } | { result: 'SKIPPED'; reason: string };

const psl = existsSync(PSL_PATH) ? PublicSuffixList.load(PSL_PATH) : undefined;

/** The profile a namespace tests. */
function profileFor(id: string): ValidationProfileName {
  const ns = id.split('::')[0];
  return ns === 'webpki' || ns === 'online' ? 'webpki' : 'rfc5280';
}

/** Optional limbo features a profile deliberately does not claim, and why. */
const DECLINED_FEATURES: Record<ValidationProfileName, Record<string, string>> = {
  cmms: {},
  rfc5280: {
    'pedantic-rfc5280':
      'a trust anchor is an input to path validation (RFC 5280 §6.1.1 (d)), so a trusted cross-certificate without AKID is honoured, as cve::cve-2024-0567 needs',
  },
  webpki: {},
};

/** Why a case cannot be evaluated here, or undefined when it can. */
function skipReason(tc: Testcase): string | undefined {
  const profile = profileFor(tc.id);
  for (const f of tc.features) {
    const why = DECLINED_FEATURES[profile][f];
    if (why) return `feature ${f} is not claimed by the ${profile} profile: ${why}`;
  }
  if (tc.features.includes('pedantic-public-suffix-wildcard') && !psl) return `feature pedantic-public-suffix-wildcard needs a public suffix list at ${PSL_PATH}`;
  if (tc.signature_algorithms.length > 0) return 'feature: restricting signature algorithms per case';
  // RFC822 peer names (client email identities) are not an identity check of
  // the validator; those cases are still graded on path validity and name constraints.
  return undefined;
}

const pem = (text: string): Certificate[] => parseCertificates(Buffer.from(text));

async function run(tc: Testcase): Promise<Verdict> {
  const skip = skipReason(tc);
  if (skip) return { result: 'SKIPPED', reason: skip };
  try {
    const [leaf] = pem(tc.peer_certificate);
    const anchors = tc.trusted_certs.flatMap(pem);
    const intermediates = tc.untrusted_intermediates.flatMap(pem);
    const ekus = tc.extended_key_usage.map((e) => EKU_NAMES[e] ?? e);
    const options: ValidationOptions = {
      trustStore: new TrustStore(anchors),
      profile: profileFor(tc.id),
      intermediates,
      at: tc.validation_time ? new Date(tc.validation_time) : new Date(),
      // A SERVER case validates a TLS server's certificate, a CLIENT case a TLS client's.
      purpose: tc.validation_kind === 'SERVER' ? 'server' : 'client',
      extendedKeyUsages: ekus,
      keyUsages: tc.key_usage as KeyUsage[],
      ...(tc.max_chain_depth !== null ? { maxDepth: tc.max_chain_depth } : {}),
      ...(tc.crls.length ? { revocation: new CrlRevocationChecker(tc.crls.flatMap((c) => parseCrls(Buffer.from(c)))) } : {}),
      ...(psl ? { publicSuffixes: psl } : {}),
      linkCache: new LinkCache(),
    };
    const hosts: PeerName[] = tc.expected_peer_name ? [tc.expected_peer_name] : [];
    for (const n of tc.expected_peer_names) if (n.kind !== 'RFC822') hosts.push(n);
    if (hosts.length === 0) await validatePath(leaf!, options);
    for (const h of hosts) await validatePath(leaf!, { ...options, host: h.value });
    return { result: 'SUCCESS' };
  } catch (err) {
    if (err instanceof PkiError) return { result: 'FAILURE', reason: `${err.code}: ${err.message}` };
    throw err;
  }
}

test('x509-limbo: each namespace under its profile, no unexpected success and at least 99% of all cases pass', async (t) => {
  const { testcases } = JSON.parse(readFileSync(LIMBO, 'utf8')) as { testcases: Testcase[] };
  assert.equal(testcases.length, 208);
  type Row = { pass: number; unexpectedSuccess: number; unexpectedFailure: number; skipped: number };
  const empty = (): Row => ({ pass: 0, unexpectedSuccess: 0, unexpectedFailure: 0, skipped: 0 });
  const rows = new Map<string, Row>();
  const byProfile = new Map<string, Row>();
  const total = empty();
  const details: string[] = [];
  for (const tc of testcases) {
    const v = await run(tc);
    const profile = profileFor(tc.id);
    const ns = `${tc.id.split('::')[0]!} (${profile})`;
    let key: keyof Row;
    if (v.result === 'SKIPPED') key = 'skipped';
    else if (v.result === tc.expected_result) key = 'pass';
    else key = v.result === 'SUCCESS' ? 'unexpectedSuccess' : 'unexpectedFailure';
    for (const [map, name] of [[rows, ns], [byProfile, `TOTAL ${profile}`]] as const) {
      const row = map.get(name) ?? empty();
      row[key]++;
      map.set(name, row);
    }
    total[key]++;
    if (key !== 'pass') details.push(`  ${key.padEnd(17)} ${tc.id} [${profile}] — ${v.reason ?? `accepted, but ${tc.expected_result} is expected`}`);
  }
  const line = (name: string, r: Row) =>
    `${name.padEnd(24)} pass ${String(r.pass).padStart(3)}  unexpected-success ${String(r.unexpectedSuccess).padStart(2)}  unexpected-failure ${String(r.unexpectedFailure).padStart(2)}  skipped ${String(r.skipped).padStart(2)}`;
  const report = ['x509-limbo results (namespace (profile)):', ...[...rows, ...byProfile].map(([ns, r]) => line(ns, r)), line('TOTAL', total), ...details].join('\n');
  console.log(report);
  t.diagnostic(`x509-limbo: ${total.pass}/${testcases.length} pass, ${total.unexpectedSuccess} unexpected success, ${total.unexpectedFailure} unexpected failure, ${total.skipped} skipped`);
  assert.equal(total.unexpectedSuccess, 0, 'a validator must never accept what should fail');
  assert.ok(total.pass >= Math.ceil(0.99 * testcases.length), `pass count ${total.pass} is below 99% of ${testcases.length}`);
});
