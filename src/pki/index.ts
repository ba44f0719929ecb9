// Public surface of the PKI: X.509 parsing, RFC 5280 path validation with
// host checks, trust stores, CRLs, and the private CA (profiles, CSRs, CRL
// issuing, the CA directory, keys on a PKCS#11 token, the general-name
// encoders its name constraints use). Path building internals stay private
// to the part.
export { PkiError } from './errors.js';
export type { PkiErrorCode } from './errors.js';

// Parsing
export {
  KEY_USAGE_BITS,
  OID,
  parseCertificate,
  parseCertificates,
  parseCertificatesFrom,
  readCertificatesFile,
} from './certificate.js';
export type {
  AlgorithmIdentifier,
  AuthorityKeyIdentifierDetails,
  BasicConstraints,
  Certificate,
  Extension,
  KeyUsage,
  NameConstraints,
} from './certificate.js';
export { ATTRIBUTE_TYPES, attributeValues, namesEqual, parseName } from './name.js';
export type { Name, NameAttribute } from './name.js';
export { formatGeneralName, formatIp, parseGeneralNames } from './general-name.js';
export type { GeneralName } from './general-name.js';

// Validation
export { validatePath } from './validate.js';
export type { Purpose, ValidatedPath, ValidationOptions } from './validate.js';
export { DEFAULT_VALIDATION_PROFILE, isValidationProfileName, VALIDATION_PROFILE_NAMES } from './validation-profiles.js';
export type { ValidationProfileName } from './validation-profiles.js';
export { TrustStore } from './trust-store.js';
export { LinkCache } from './path-builder.js';
export { combineRevocationCheckers } from './revocation.js';
export type { RevocationChecker, RevocationStatus } from './revocation.js';
export { CRL_REASONS, CrlRevocationChecker, crlStatus, isCrlCurrent, isCrlReason, parseCrl, parseCrls, verifyCrl } from './crl.js';
export type { Crl, CrlReason, IssuingDistributionPoint, RevokedCertificate } from './crl.js';
export { checkHost, PublicSuffixList } from './hostname.js';
export type { HostCheckOptions } from './hostname.js';
export { verifyCertificateSignature } from './algorithms.js';

// Certificate authority
export { crossSign, DEFAULT_DAYS, initRoot, issueIntermediate, issueLeaf } from './ca.js';
export type {
  CertificateAuthority,
  CrossSignOptions,
  IntermediateOptions,
  IssuedCertificate,
  LeafOptions,
  RootOptions,
  SubjectInput,
} from './ca.js';
export type { ValidityRequest } from './ca-policy.js';
export { isLeafProfile, LEAF_PROFILES } from './ca-profiles.js';
export type { LeafProfile } from './ca-profiles.js';
export type { GeneralNameInput } from './ca-general-names.js';
export type { NameConstraintsInput } from './extensions-builder.js';
export { parseSubject, subjectToDer } from './ca-name.js';
export type { SubjectAttribute } from './ca-name.js';
export { buildCsr, parseCsr } from './csr.js';
export type { CertificationRequest, CsrOptions } from './csr.js';
export { buildCrl } from './crl-builder.js';
export type { CrlOptions, RevokedCertificateEntry } from './crl-builder.js';
export { generateKeyPair, isKeyType, KEY_TYPES, keyTypeOf, spkiOf, subjectKeyIdentifierOf } from './key-types.js';
export type { KeyPair, KeyType } from './key-types.js';

// CA directory
export {
  addRevocation,
  CA_FILES,
  createCaDirectory,
  normalizeSerial,
  openCa,
  readCaCertificate,
  readCaChain,
  readCaState,
  recordFor,
  releaseHold,
  serialOf,
  takeCrlNumber,
  withCaLock,
  writeCaState,
  openTokenCa,
  readCaKeyCustody,
} from './ca-store.js';
export type { CaState, IssuedKind, IssuedRecord, NewCaDirectory, RevocationRecord } from './ca-store.js';
export { PASSPHRASE_ENV, resolvePassphrase } from './ca-key-file.js';
export type { PassphraseSource } from './ca-key-file.js';
export { encodeConstraintBase, encodeGeneralName, ipAddressBytes, normalizeDnsName } from './ca-general-names.js';
export {
  PKCS11_MODULE_ENV,
  PKCS11_PIN_ENV,
  TOKEN_KEY_TYPES,
  findTokenPublicKey,
  generateTokenKey,
  parsePkcs11Uri,
  pkcs11Signer,
} from './pkcs11-signer.js';
export type { TokenAccess } from './pkcs11-signer.js';
export type { KeySigner } from './signer.js';
