// Internals shared by every part: strict DER, PEM, type URLs, atomic secret
// files, errors, the injected clock.
export { HaloError } from './errors.js';
export { systemClock } from './clock.js';
export type { Clock } from './clock.js';
export { TYPE_URL_PREFIX, packAny, typeNameOfUrl, typeUrlMatches, typeUrlOf } from './type-url.js';
export type { AlgorithmIdentifier } from './algorithm-identifier.js';
export { readAlgorithmIdentifier } from './algorithm-identifier.js';
export {
  DerError,
  Tag,
  TagClass,
  children,
  encode,
  expectUniversal,
  integerBytes,
  isContext,
  isUniversal,
  minimalUnsigned,
  parse,
  readBitString,
  readBoolean,
  readInteger,
  readNull,
  readOctetString,
  readOid,
  readSmallInteger,
  readTime,
  sequence,
  tlv,
} from './der.js';
export { PemError, decodePem, derBlocks, encodePem, looksLikePem } from './pem.js';
export { bytesEqual, concatBytes } from './bytes.js';
export { FileError, readFileBytes, writeFileAtomic, writeSecretFile } from './files.js';
export type { DerNode } from './der.js';
export { sha256Hex } from './digest.js';
export { formatDuration, parseDuration } from './duration.js';
export type { HeldLock, LockOwner } from './pid-lock.js';
export { acquirePidLock, processAlive, readLockFile } from './pid-lock.js';
