// Public surface of the crypto core: Tink keysets, hybrid encryption (ECIES,
// HPKE), CMMS SignedMessage signatures and key loading. Internals (AEAD,
// HKDF, proto helpers) stay private to the part.
export { CryptoError } from './errors.js';
export type { CryptoErrorCode } from './errors.js';

export {
  assertPublicKeyset,
  detectKeysetFormat,
  hasSecretMaterial,
  keysetBytes,
  keysetInfo,
  KeyMaterialType,
  KeyStatusType,
  MAX_KEYSET_BYTES,
  OutputPrefixType,
  parseKeyset,
  primaryKey,
  publicKeyset,
  serializeKeyset,
  validateKeyset,
} from './keyset.js';
export type { KeyData, Keyset, KeysetFormat, KeysetInfo, KeysetKey } from './keyset.js';
export { DEFAULT_KEY_TEMPLATE, generateKeyset, KEY_TEMPLATE_NAMES, keyTemplate, templateNameOf } from './keyset-templates.js';
export { addKey, deleteKey, destroyKey, disableKey, enableKey, promoteKey } from './keyset-ops.js';
export { describeKeyset, describeKeysetInfo } from './keyset-describe.js';
export type { KeyDescription, KeysetDescription } from './keyset-describe.js';
export {
  decryptKeyset,
  encryptKeyset,
  parseEncryptedKeyset,
  serializeEncryptedKeyset,
  DEFAULT_SCRYPT,
} from './keyset-encryption.js';
export type { KeysetProtection, ScryptParams } from './keyset-encryption.js';
export { loadKeyset, readKeyset, saveKeyset, readEncryptedKeysetInfo } from './keyset-io.js';
export type { KeysetSecrets, LoadedKeyset, SaveKeysetOptions } from './keyset-io.js';

export { decrypt, encrypt, MAX_HYBRID_BYTES } from './hybrid.js';
export type { HybridOptions } from './hybrid.js';
export { openBase, sealBase } from './hpke.js';
export { decryptMessage, encryptMessage } from './encrypted-message.js';

export {
  assertKeyMatchesCertificate,
  exportEncryptedPrivateKeyPem,
  exportPrivateKeyDer,
  isEncryptedPrivateKey,
  loadPrivateKey,
  loadPublicKey,
  publicKeyFromCertificate,
  publicKeyFromSpki,
  privateKeyNeedsRewrite,
} from './keys.js';
export { readCertificateInfo } from './certificate-info.js';
export type { CertificateInfo } from './certificate-info.js';
export {
  defaultSignatureAlgorithm,
  describeSignatureAlgorithm,
  SIGNATURE_ALGORITHM_NAMES,
  signatureAlgorithmByName,
  signatureAlgorithmByOid,
  SignatureAlgorithms,
  signatureAlgorithmFromIdentifier,
} from './signature-algorithm.js';
export type { SignatureAlgorithm, SignatureAlgorithmName } from './signature-algorithm.js';
export { derToP1363, p1363ToDer } from './ecdsa-signature.js';
export {
  parseSignedMessage,
  signBytes,
  signMessage,
  verifyAndUnpack,
  verifyBytes,
  verifySignedMessage,
} from './signed-message.js';
export type { Signer, VerifiedMessage } from './signed-message.js';
export type { Pkcs8EncryptionOptions } from './pkcs8-encryption.js';
