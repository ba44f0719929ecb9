/** Paths into the shared conformance data, read in place (never copied into the repo). */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const TESTDATA = fileURLToPath(new URL('../../../shared/testdata/', import.meta.url));

export function testdataPath(rel: string): string {
  return TESTDATA + rel;
}

export function readTestdata(rel: string): Uint8Array {
  return new Uint8Array(readFileSync(testdataPath(rel)));
}

/** A file of the CMMS test PKI (`cmms-secretfiles/`): its path and its bytes. */
export const secretfilePath = (name: string): string => testdataPath(`cmms-secretfiles/${name}`);
export const readSecretfile = (name: string): Uint8Array => readTestdata(`cmms-secretfiles/${name}`);

export function readTestdataJson<T = unknown>(rel: string): T {
  return JSON.parse(readFileSync(testdataPath(rel), 'utf8')) as T;
}

export function hex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'hex'));
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}
