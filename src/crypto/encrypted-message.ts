/**
 * CMMS `EncryptedMessage`: a hybrid-encrypted serialized protobuf message and
 * the type URL of its plaintext (cmms-reference §5.1). CMMS passes no context
 * info; it is optional here for other uses.
 */
import { create, fromBinary, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { EncryptedMessageSchema, type EncryptedMessage } from '../gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { typeNameOfUrl, typeUrlOf } from '../lib/index.js';
import { CryptoError } from './errors.js';
import { decrypt, encrypt, type HybridOptions } from './hybrid.js';
import type { Keyset } from './keyset.js';

export type { EncryptedMessage };

/** Encrypts `message` to the primary key of `publicKeyset`. */
export function encryptMessage<Desc extends DescMessage>(
  publicKeyset: Keyset,
  schema: Desc,
  message: MessageShape<Desc>,
  contextInfo?: Uint8Array,
  options?: HybridOptions,
): EncryptedMessage {
  return create(EncryptedMessageSchema, {
    ciphertext: encrypt(publicKeyset, toBinary(schema, message), contextInfo, options),
    typeUrl: typeUrlOf(schema),
  });
}

/**
 * Decrypts and parses an `EncryptedMessage` as `schema`. Like upstream (Java's
 * Any.unpack), only the name after the last `/` of the type URL is compared.
 */
export function decryptMessage<Desc extends DescMessage>(
  privateKeyset: Keyset,
  encrypted: EncryptedMessage,
  schema: Desc,
  contextInfo?: Uint8Array,
  options?: HybridOptions,
): MessageShape<Desc> {
  const name = typeNameOfUrl(encrypted.typeUrl);
  if (name !== schema.typeName) {
    throw new CryptoError('MESSAGE_MALFORMED', `encrypted message is a ${name || '(no type URL)'}, expected ${schema.typeName}`);
  }
  const plaintext = decrypt(privateKeyset, encrypted.ciphertext, contextInfo, options);
  try {
    return fromBinary(schema, plaintext);
  } catch (err) {
    throw new CryptoError('MESSAGE_MALFORMED', `decrypted ${schema.typeName} does not parse`, { cause: err });
  }
}
