import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { CertificateInput, PublicKeyInput } from '../../src/kingdom/store/index.js';

/** Shared by the store suites: fresh databases on both engines, and certificate facts. */

export const TEST_DATABASE_URL_VARIABLE = 'HALO_KEYS_TEST_DATABASE_URL';

export interface TestDatabase {
  readonly url: string;
  drop(): Promise<void>;
}

/**
 * A new, empty PostgreSQL database on the server named by
 * HALO_KEYS_TEST_DATABASE_URL, so parallel runs never share state. A missing
 * variable fails the suite: scripts/test.sh always sets it.
 */
export async function freshPostgresDatabase(): Promise<TestDatabase> {
  const adminUrl = process.env[TEST_DATABASE_URL_VARIABLE];
  if (adminUrl === undefined || adminUrl === '') {
    throw new Error(
      `${TEST_DATABASE_URL_VARIABLE} is not set: the PostgreSQL store tests need a server ` +
        '(run the tests with `npm test` or `bash scripts/test.sh FILE...`, which start one when needed).',
    );
  }
  const name = `halo_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

export function tempDataDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'halo-store-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export const DAY = 24 * 60 * 60 * 1000;
/** Where the test clock stands; certificates below are valid around it. */
export const NOW = new Date('2026-06-01T12:00:00.000Z');

/**
 * Certificate facts for the store. The store keeps DER opaque (the service
 * parses it), so most tests use random bytes in place of DER; the test of
 * byte-exact storage uses a real CMMS certificate.
 */
export function certificateFacts(options: { notValidBefore?: Date; notValidAfter?: Date; skid?: Uint8Array } = {}): CertificateInput {
  return {
    x509Der: new Uint8Array(Buffer.concat([Buffer.from([0x30, 0x82]), randomBytes(40)])),
    subjectKeyIdentifier: options.skid ?? new Uint8Array(randomBytes(20)),
    notValidBefore: options.notValidBefore ?? new Date(NOW.getTime() - 30 * DAY),
    notValidAfter: options.notValidAfter ?? new Date(NOW.getTime() + 365 * DAY),
  };
}

export function publicKeyFacts(): PublicKeyInput {
  return {
    publicKey: new Uint8Array(randomBytes(48)),
    signature: new Uint8Array(randomBytes(70)),
    signatureAlgorithmOid: '1.2.840.10045.4.3.2',
    apiVersion: 'v2alpha',
  };
}

export const randomSkid = (): Uint8Array => new Uint8Array(randomBytes(20));

const secretFiles = fileURLToPath(new URL('../../../shared/testdata/cmms-secretfiles/', import.meta.url));

/** A real CMMS test certificate with its SKID and validity read by the openssl CLI. */
export function cmmsCertificate(file: string): CertificateInput {
  const p = path.join(secretFiles, file);
  const der = new Uint8Array(readFileSync(p));
  const text = execFileSync(
    'openssl',
    ['x509', '-inform', 'DER', '-in', p, '-noout', '-ext', 'subjectKeyIdentifier', '-startdate', '-enddate'],
    { encoding: 'utf8' },
  );
  const skid = /Subject Key Identifier:\s*\n\s*([0-9A-F:]+)/.exec(text)?.[1];
  const start = /notBefore=(.+)/.exec(text)?.[1];
  const end = /notAfter=(.+)/.exec(text)?.[1];
  if (skid === undefined || start === undefined || end === undefined) throw new Error(`openssl output for ${file} lacks a field`);
  return {
    x509Der: der,
    subjectKeyIdentifier: new Uint8Array(Buffer.from(skid.replaceAll(':', ''), 'hex')),
    notValidBefore: new Date(start),
    notValidAfter: new Date(end),
  };
}

export const cmmsFile = (file: string): Uint8Array => new Uint8Array(readFileSync(path.join(secretFiles, file)));
