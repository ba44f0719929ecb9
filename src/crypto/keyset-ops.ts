/**
 * Keyset operations key rotation needs, as in Tink's KeysetManager: add a
 * key, promote it to primary, enable, disable, destroy (material removed,
 * status kept as DESTROYED) and delete. Each returns a new keyset; the input
 * is never modified.
 */
import { clone, create } from '@bufbuild/protobuf';
import { KeysetSchema, Keyset_KeySchema, KeyStatusType, type Keyset, type Keyset_Key, type KeyTemplate } from '../gen/google/crypto/tink/tink_pb.js';
import { CryptoError } from './errors.js';
import { keyTemplate, newKeyData, newKeyId } from './keyset-templates.js';
import { validateKeyset } from './keyset.js';

export interface AddKeyOptions {
  /** Make the new key the primary at once (default false: add, then promote after the overlap window). */
  primary?: boolean;
}

/** Adds a fresh ENABLED key made from `template`; returns the new keyset and the key's id. */
export function addKey(keyset: Keyset, template: string | KeyTemplate, options: AddKeyOptions = {}): { keyset: Keyset; keyId: number } {
  const t = typeof template === 'string' ? keyTemplate(template) : template;
  const next = clone(KeysetSchema, keyset);
  const keyId = newKeyId(next.key.map((k) => k.keyId));
  next.key.push(create(Keyset_KeySchema, { keyData: newKeyData(t), status: KeyStatusType.ENABLED, keyId, outputPrefixType: t.outputPrefixType }));
  if (options.primary) next.primaryKeyId = keyId;
  validateKeyset(next, { requirePrimary: false });
  return { keyset: next, keyId };
}

function withKey(keyset: Keyset, keyId: number, change: (key: Keyset_Key, next: Keyset) => void): Keyset {
  const next = clone(KeysetSchema, keyset);
  const key = next.key.find((k) => k.keyId === keyId);
  if (!key) throw new CryptoError('KEY_NOT_FOUND', `no key with id ${keyId}`);
  change(key, next);
  return next;
}

function refuseOnPrimary(next: Keyset, keyId: number, what: string): void {
  if (next.primaryKeyId === keyId) throw new CryptoError('KEYSET_INVALID', `cannot ${what} the primary key ${keyId}; promote another key first`);
}

/** Makes an ENABLED key the primary. */
export function promoteKey(keyset: Keyset, keyId: number): Keyset {
  return withKey(keyset, keyId, (key, next) => {
    if (key.status !== KeyStatusType.ENABLED) throw new CryptoError('KEYSET_INVALID', `key ${keyId} is not ENABLED and cannot be primary`);
    next.primaryKeyId = keyId;
  });
}

export function enableKey(keyset: Keyset, keyId: number): Keyset {
  return withKey(keyset, keyId, (key) => {
    if (key.status === KeyStatusType.DESTROYED) throw new CryptoError('KEYSET_INVALID', `key ${keyId} is destroyed`);
    key.status = KeyStatusType.ENABLED;
  });
}

export function disableKey(keyset: Keyset, keyId: number): Keyset {
  return withKey(keyset, keyId, (key, next) => {
    refuseOnPrimary(next, keyId, 'disable');
    if (key.status === KeyStatusType.DESTROYED) throw new CryptoError('KEYSET_INVALID', `key ${keyId} is destroyed`);
    key.status = KeyStatusType.DISABLED;
  });
}

/** Removes the key material but keeps the id, so the id is not reused and the history stays readable. */
export function destroyKey(keyset: Keyset, keyId: number): Keyset {
  return withKey(keyset, keyId, (key, next) => {
    refuseOnPrimary(next, keyId, 'destroy');
    key.keyData = undefined;
    key.status = KeyStatusType.DESTROYED;
  });
}

/** Removes the key entirely. */
export function deleteKey(keyset: Keyset, keyId: number): Keyset {
  return withKey(keyset, keyId, (_key, next) => {
    refuseOnPrimary(next, keyId, 'delete');
    if (next.key.length === 1) throw new CryptoError('KEYSET_INVALID', 'cannot delete the last key');
    next.key = next.key.filter((k) => k.keyId !== keyId);
  });
}
