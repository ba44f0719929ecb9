/**
 * Every CLI that reads a certificate says, of a file that is none, that it is
 * not a DER or PEM certificate, and names the file (not the DER reader's
 * `element runs past the end of data`).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { assertFails, buildIfStale, fixture, haloKeys, runBin, scratchDir } from './run-cli.js';

const { file } = scratchDir('not-a-certificate-');
const text = file('notes.txt');
const truncated = file('truncated.der');

const epk = (args: string[]) => runBin('bin/EncryptionPublicKeys.js', args);
const ms = (args: string[]) => runBin('bin/MeasurementSystem.js', args);
const expected = (path: string) => new RegExp(`${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not a DER or PEM certificate$`);

describe('a file that is not a certificate', () => {
  before(() => {
    buildIfStale('src/lib/pem.ts');
    writeFileSync(text, 'hello, this is a text file\n');
    // A download cut short: the start of a real DER certificate.
    writeFileSync(truncated, readFileSync(fixture('edp1_cs_cert.der')).subarray(0, 100));
  });

  for (const [label, bad] of [
    ['a text file', () => text],
    ['a truncated DER file', () => truncated],
  ] as const) {
    it(`halo-keys names ${label} (cert inspect, cert verify leaf and --trust, sign, verify, import, kingdom admin)`, () => {
      const path = bad();
      assertFails(haloKeys(['cert', 'inspect', path]), 1, expected(path));
      assertFails(haloKeys(['cert', 'verify', path, '--trust', fixture('edp1_root.pem')]), 1, expected(path));
      assertFails(haloKeys(['cert', 'verify', fixture('edp1_tls.pem'), '--trust', path]), 1, expected(path));
      assertFails(
        haloKeys(['sign', '--certificate', path, '--signing-key', fixture('edp1_cs_private.der'), '-i', text, '-o', file('x.sig')]),
        1,
        expected(path),
      );
      assertFails(haloKeys(['verify', '--certificate', path, '-i', text, '--signature', text]), 1, expected(path));
      assertFails(
        haloKeys(['import', '--dir', file('keyring'), '--participant', 'dataProviders', '--dns', 'localhost', '--root-cert', path, '--root-key', fixture('edp1_root.key')], {
          HALO_KEYS_PASSPHRASE: 'correct horse battery',
        }),
        1,
        expected(path),
      );
      // The file is read before any Kingdom is looked for.
      assertFails(haloKeys(['kingdom', 'admin', '--target', '127.0.0.1:1', '--kingdom-root', fixture('kingdom_root.pem'), '--admin-token-file', text, 'create-model-provider', '--root-cert', path, '--certificate', path]), 1, expected(path));
    });

    it(`EncryptionPublicKeys and MeasurementSystem name ${label}`, () => {
      const path = bad();
      const pb = file('key.pb');
      const s = epk(['serialize', '--data', fixture('edp1_enc_public.tink'), '--out', pb]);
      if (s.code !== 0) throw new Error(s.stderr);
      assertFails(epk(['sign', '--certificate', path, '--signing-key', fixture('edp1_cs_private.der'), '-i', pb, '-o', file('y.sig')]), 1, expected(path), 'EncryptionPublicKeys');
      assertFails(epk(['verify', '--certificate', path, '-i', pb, '--signature', text]), 1, expected(path), 'EncryptionPublicKeys');
      const offline = ['--tls-key-file', fixture('edp1_tls.key'), '--kingdom-public-api-target', '127.0.0.1:1'];
      assertFails(
        ms(['--tls-cert-file', path, '--cert-collection-file', fixture('kingdom_root.pem'), ...offline, 'certificates', 'get', 'dataProviders/AAAAAAAAAHs/certificates/AAAAAAAAAHs']),
        1,
        expected(path),
        'MeasurementSystem',
      );
      assertFails(
        ms(['--tls-cert-file', fixture('edp1_tls.pem'), '--cert-collection-file', path, ...offline, 'certificates', 'get', 'dataProviders/AAAAAAAAAHs/certificates/AAAAAAAAAHs']),
        1,
        expected(path),
        'MeasurementSystem',
      );
      assertFails(
        ms([
          '--tls-cert-file', fixture('edp1_tls.pem'), '--cert-collection-file', fixture('kingdom_root.pem'), ...offline,
          'certificates', 'create', '--parent', 'dataProviders/AAAAAAAAAHs', '--certificate', path,
        ]),
        1,
        expected(path),
        'MeasurementSystem',
      );
    });
  }
});
