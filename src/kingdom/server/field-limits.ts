/**
 * Bounds on the byte fields of every request, checked before a handler
 * parses or stores anything. The message limit alone lets one certificate
 * or signature take 4 MiB, which the store then keeps and every list page
 * carries. Each field gets the bound its content can reach in real CMMS use
 * (docs/security.md lists them); a field beyond it is refused with
 * INVALID_ARGUMENT, reason FIELD_TOO_LARGE, naming the field and the limit.
 */
import { ScalarType, type DescField, type DescMessage } from '@bufbuild/protobuf';
import type { Interceptor } from '@connectrpc/connect';
import { invalidArgument } from '../service/errors.js';

export interface FieldLimits {
  /** X.509 DER of a certificate or root (CreateCertificate, registrations). */
  readonly certificateBytes: number;
}

export const DEFAULT_MAX_CERTIFICATE_BYTES = 64 * 1024;

export const FIXED_FIELD_LIMITS = {
  /** Key identifiers, fingerprints and hashes: SHA-256 is 32 bytes, SHA-512 64. */
  identifierBytes: 64,
  /** A signature: RSA-16384 gives 2 KiB, ECDSA P-521 under 140 bytes. */
  signatureBytes: 16 * 1024,
  /** Anything else (signed or encrypted specs, results, metadata, Any payloads). */
  otherBytes: 1024 * 1024,
} as const;

const IDENTIFIER_FIELD = /(_key_identifiers?|_fingerprint|_hash)$/;
const CERTIFICATE_FIELD = /(^|_)(x509|certificate)_der$/;

function limitOf(field: DescField, limits: FieldLimits): number {
  if (CERTIFICATE_FIELD.test(field.name)) return limits.certificateBytes;
  if (IDENTIFIER_FIELD.test(field.name)) return FIXED_FIELD_LIMITS.identifierBytes;
  if (field.name === 'signature') return FIXED_FIELD_LIMITS.signatureBytes;
  return FIXED_FIELD_LIMITS.otherBytes;
}

const isBytes = (field: DescField) => (field.fieldKind === 'scalar' || field.fieldKind === 'list') && field.scalar === ScalarType.BYTES;

/** Whether a message type holds a bytes field anywhere below it; most requests do not and are not walked. */
function holdsBytes(desc: DescMessage, memo: WeakMap<DescMessage, boolean>): boolean {
  const known = memo.get(desc);
  if (known !== undefined) return known;
  memo.set(desc, false); // a recursive type is answered by its other fields
  let found = false;
  for (const field of desc.fields) {
    if (isBytes(field)) found = true;
    else if (field.fieldKind === 'message' || (field.fieldKind === 'list' && field.listKind === 'message')) found = holdsBytes(field.message, memo);
    else if (field.fieldKind === 'map') found = field.mapKind === 'message' ? holdsBytes(field.message, memo) : field.scalar === ScalarType.BYTES;
    if (found) break;
  }
  memo.set(desc, found);
  return found;
}

/** The first bytes field over its limit, as a dotted proto path, or undefined. */
export function oversizedField(desc: DescMessage, message: object, limits: FieldLimits, memo = new WeakMap<DescMessage, boolean>()): { field: string; size: number; limit: number } | undefined {
  if (!holdsBytes(desc, memo)) return undefined;
  const fields = message as Record<string, unknown>;
  for (const field of desc.fields) {
    let value: unknown;
    if (field.oneof) {
      const o = fields[field.oneof.localName] as { case?: string; value?: unknown } | undefined;
      if (o?.case !== field.localName) continue;
      value = o.value;
    } else {
      value = fields[field.localName];
    }
    if (value === undefined || value === null) continue;
    const values: unknown[] =
      field.fieldKind === 'list' ? (value as unknown[]) : field.fieldKind === 'map' ? Object.values(value as Record<string, unknown>) : [value];
    const nested = field.fieldKind === 'message' || (field.fieldKind === 'list' && field.listKind === 'message') || (field.fieldKind === 'map' && field.mapKind === 'message');
    for (const v of values) {
      if (nested) {
        const inner = oversizedField((field as { message: DescMessage }).message, v as object, limits, memo);
        if (inner) return { ...inner, field: `${field.name}.${inner.field}` };
      } else if (v instanceof Uint8Array) {
        const limit = limitOf(field, limits);
        if (v.length > limit) return { field: field.name, size: v.length, limit };
      }
    }
  }
  return undefined;
}

/** Refuses a unary request with a byte field over its limit. */
export function fieldLimitsInterceptor(limits: FieldLimits): Interceptor {
  const memo = new WeakMap<DescMessage, boolean>();
  return (next) => async (req) => {
    if (!req.stream) {
      const over = oversizedField(req.method.input, req.message, limits, memo);
      if (over) {
        throw invalidArgument('FIELD_TOO_LARGE', `${over.field} is ${over.size} bytes; the limit is ${over.limit}`, {
          field: over.field,
          limit: String(over.limit),
        });
      }
    }
    return next(req);
  };
}
