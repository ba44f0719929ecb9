import { HaloError } from '../lib/index.js';

/** Every failure of the crypto core; callers switch on `code`. */
export type CryptoErrorCode =
  | 'KEYSET_MALFORMED' // not a parsable Tink keyset (binary or JSON)
  | 'KEYSET_INVALID' // parses, but violates a keyset rule (no primary, duplicate ids, ...)
  | 'KEYSET_HAS_SECRET' // a public keyset was expected
  | 'KEYSET_ENCRYPTED' // an encrypted keyset needs a passphrase or key
  | 'KEYSET_DECRYPTION_FAILED' // wrong passphrase/key, or the encrypted keyset was altered
  | 'KEY_NOT_FOUND' // no key with that id
  | 'UNSUPPORTED_KEY_TYPE' // a key type, curve, hash, point format or DEM we do not implement
  | 'DECRYPTION_FAILED' // wrong key, tampered or truncated ciphertext, wrong context info
  | 'UNSUPPORTED_SIGNATURE_ALGORITHM' // an OID outside the supported set
  | 'SIGNATURE_INVALID' // the signature does not verify
  | 'KEY_MISMATCH' // the private key does not belong to the certificate
  | 'KEY_MALFORMED' // a private or public key that does not parse
  | 'CERTIFICATE_MALFORMED' // a certificate that does not parse
  | 'MESSAGE_MALFORMED' // a protobuf message that does not parse or lacks a required field
  | 'INPUT_TOO_LARGE'; // an input over the configured size limit

export class CryptoError extends HaloError<CryptoErrorCode> {}
