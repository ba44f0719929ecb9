/** PEM (RFC 7468) encoding and decoding, and DER/PEM detection. */
import { HaloError } from './errors.js';

export class PemError extends HaloError<'PEM_MALFORMED'> {
  constructor(message: string) {
    super('PEM_MALFORMED', message);
  }
}

export interface PemBlock {
  label: string;
  der: Uint8Array;
}

const BLOCK_RE = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;

/** Every PEM block in `text`, in order. Text outside blocks is ignored. */
export function decodePem(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK_RE)) {
    const [, begin, body, end] = m as unknown as [string, string, string, string];
    if (begin !== end) throw new PemError(`PEM block BEGIN ${begin} ends with END ${end}`);
    const b64 = body.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) {
      throw new PemError(`PEM block ${begin} is not valid base64`);
    }
    out.push({ label: begin, der: new Uint8Array(Buffer.from(b64, 'base64')) });
  }
  return out;
}

export function encodePem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** True when the bytes look like PEM text rather than DER. */
export function looksLikePem(bytes: Uint8Array): boolean {
  const head = Buffer.from(bytes.subarray(0, Math.min(bytes.length, 4096))).toString('latin1');
  return head.includes('-----BEGIN ');
}

/**
 * The DER blocks of a file that may be PEM (any number of blocks with one of
 * `labels`) or a single DER element.
 */
export function derBlocks(bytes: Uint8Array, labels: readonly string[]): Uint8Array[] {
  if (!looksLikePem(bytes)) return [bytes];
  const blocks = decodePem(Buffer.from(bytes).toString('latin1')).filter((b) => labels.includes(b.label));
  if (blocks.length === 0) throw new PemError(`no PEM block labelled ${labels.join(' or ')}`);
  return blocks.map((b) => b.der);
}
