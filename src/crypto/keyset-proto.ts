/**
 * Small shared pieces of the Tink wire format: type URLs, decoding a nested
 * key proto with a typed error, and big-endian integer encodings (Tink Java
 * writes coordinates in two's complement, so 33 bytes for P-256 sometimes).
 */
import { fromBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { CryptoError, type CryptoErrorCode } from './errors.js';

const PREFIX = 'type.googleapis.com/google.crypto.tink.';
export const TYPE_URL = {
  eciesPrivate: `${PREFIX}EciesAeadHkdfPrivateKey`,
  eciesPublic: `${PREFIX}EciesAeadHkdfPublicKey`,
  hpkePrivate: `${PREFIX}HpkePrivateKey`,
  hpkePublic: `${PREFIX}HpkePublicKey`,
  aesGcm: `${PREFIX}AesGcmKey`,
  aesCtrHmacAead: `${PREFIX}AesCtrHmacAeadKey`,
  aesSiv: `${PREFIX}AesSivKey`,
} as const;

/** Decodes a protobuf message, turning any parse failure into a CryptoError. */
export function decodeProto<D extends DescMessage>(
  schema: D,
  bytes: Uint8Array,
  what: string,
  code: CryptoErrorCode = 'KEYSET_MALFORMED',
): MessageShape<D> {
  try {
    return fromBinary(schema, bytes);
  } catch (err) {
    throw new CryptoError(code, `${what} is not a valid protobuf message`, { cause: err });
  }
}

/**
 * Reads an unsigned big-endian integer that may carry extra leading zero
 * bytes (two's complement) and returns it left-padded to exactly `length`.
 */
export function toFixedLength(bytes: Uint8Array, length: number, what: string): Uint8Array {
  let start = 0;
  while (start < bytes.length && bytes[start] === 0) start++;
  const significant = bytes.length - start;
  if (significant > length) throw new CryptoError('KEYSET_INVALID', `${what} is longer than ${length} bytes`);
  const out = new Uint8Array(length);
  out.set(bytes.subarray(start), length - significant);
  return out;
}

/** The minimal two's-complement form of a non-negative integer, as Java's BigInteger.toByteArray writes it. */
export function toTwosComplement(bytes: Uint8Array): Uint8Array {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const body = bytes.subarray(start);
  if (body.length === 0) return Uint8Array.of(0);
  if ((body[0]! & 0x80) === 0) return Uint8Array.from(body);
  const out = new Uint8Array(body.length + 1);
  out.set(body, 1);
  return out;
}
