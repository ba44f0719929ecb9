/** PEM (RFC 7468) encoding and decoding, and DER/PEM detection. */
import { DerError, Tag, TagClass, parse } from './der.js';
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
  if (!looksLikePem(bytes)) {
    // Anything else must be one DER SEQUENCE filling the input; a text file or
    // a truncated download is named as such, not by the DER reader's detail.
    if (!isDerSequence(bytes)) throw new PemError(`not a DER or PEM ${noun(labels[0] ?? 'file')}`);
    return [bytes];
  }
  const blocks = decodePem(Buffer.from(bytes).toString('latin1')).filter((b) => labels.includes(b.label));
  if (blocks.length === 0) throw new PemError(`no PEM block labelled ${labels.join(' or ')}`);
  return blocks.map((b) => b.der);
}

/** `CERTIFICATE` -> `certificate`, `X509 CRL` -> `CRL`: the label as a message names it. */
function noun(label: string): string {
  return label.replace(/^X509 /, '').replace(/\b[A-Z]{4,}\b/g, (w) => w.toLowerCase());
}

function isDerSequence(bytes: Uint8Array): boolean {
  try {
    const node = parse(bytes);
    return node.cls === TagClass.UNIVERSAL && node.constructed && node.tag === Tag.SEQUENCE;
  } catch (err) {
    if (err instanceof DerError) return false;
    throw err;
  }
}
