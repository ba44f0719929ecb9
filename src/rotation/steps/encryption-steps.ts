/**
 * Encryption keys, in Tink's two phases: add a key to the private keyset,
 * then make it primary; publication (see publish-step.ts) then tells
 * everyone to encrypt to it. The old key stays in the keyset and decrypts
 * until its grace period is over and no pending work is encrypted to it;
 * only then is its material destroyed (the id stays, marked DESTROYED).
 */
import { KeyStatusType, addKey, destroyKey, promoteKey } from '../../crypto/index.js';
import { formatDuration } from '../../lib/index.js';
import { transition } from '../keyring.js';
import { encryptionKeyFingerprint } from '../keyring-files.js';
import { graceOver, stateSince } from '../policy.js';
import { auditIds } from '../session.js';
import { type StepHandler, optionalEntry, stepEntry } from './context.js';

export const addEncryptionKeyStep: StepHandler = {
  async run(ctx, step) {
    const s = ctx.session;
    const id = step.entry!;
    const file = s.keyring.encryptionKeyset;
    const keyset = s.material.loadEncryptionKeyset(file);
    const existing = optionalEntry(ctx, id);
    if (existing && keyset.key.some((k) => k.keyId === existing.tinkKeyId && k.status === KeyStatusType.ENABLED)) {
      return `already added (Tink key ${existing.tinkKeyId})`;
    }
    const { keyset: next, keyId } = addKey(keyset, s.config.encryptionTemplate);
    const at = s.now();
    const fingerprint = encryptionKeyFingerprint(next, keyId);
    // The inventory first: key material that exists is always accounted for.
    if (existing) {
      existing.tinkKeyId = keyId;
      existing.fingerprint = fingerprint;
    } else {
      s.keyring.entries.push({
        id,
        kind: 'encryption',
        state: 'pending',
        createdAt: at.toISOString(),
        origin: 'generated',
        fingerprint,
        tinkKeyId: keyId,
        history: [{ at: at.toISOString(), from: null, to: 'pending', reason: `rotation ${ctx.journalId}` }],
      });
    }
    s.save();
    s.material.saveEncryptionKeyset(file, next);
    s.record({ action: 'key.create', resource: id, fingerprints: [fingerprint], after: { kind: 'encryption', state: 'pending', tinkKeyId: keyId }, outcome: 'ok' });
    return `added Tink key ${keyId}`;
  },
  async preview(ctx) {
    return `would add a ${ctx.session.config.encryptionTemplate} key to ${ctx.session.keyring.encryptionKeyset} (not yet primary)`;
  },
};

export const promoteEncryptionKeyStep: StepHandler = {
  async run(ctx, step) {
    const s = ctx.session;
    const entry = stepEntry(ctx, step);
    const file = s.keyring.encryptionKeyset;
    const keyset = s.material.loadEncryptionKeyset(file);
    if (keyset.primaryKeyId === entry.tinkKeyId) return `Tink key ${entry.tinkKeyId} is already primary`;
    const before = keyset.primaryKeyId;
    s.material.saveEncryptionKeyset(file, promoteKey(keyset, entry.tinkKeyId!));
    s.record({ action: 'key.promote', resource: entry.id, fingerprints: [entry.fingerprint], before: { primaryKeyId: before }, after: { primaryKeyId: entry.tinkKeyId }, outcome: 'ok' });
    return `Tink key ${entry.tinkKeyId} primary (was ${before})`;
  },
  async preview(ctx) {
    return `would make the new key primary in ${ctx.session.keyring.encryptionKeyset}`;
  },
};

export const activateEncryptionKeyStep: StepHandler = {
  async run(ctx, step) {
    const s = ctx.session;
    const entry = stepEntry(ctx, step);
    const previous = optionalEntry(ctx, step.previous);
    const at = s.now();
    const changed: string[] = [];
    if (transition(entry, 'active', at, `rotation ${ctx.journalId}`)) changed.push(`${entry.id} active`);
    if (previous && previous.state === 'active' && transition(previous, 'retiring', at, `replaced by ${entry.id}`)) changed.push(`${previous.id} retiring (still decrypts)`);
    if (!changed.length) return 'already active';
    s.save();
    s.record({ action: 'key.activate', resource: entry.id, ...auditIds(entry, previous), after: { entry: 'active', previous: previous?.state }, outcome: 'ok', detail: changed.join(', ') });
    return changed.join(', ');
  },
  async preview(ctx, step) {
    const previous = optionalEntry(ctx, step.previous);
    return `would mark the new encryption key active${previous ? ` and ${previous.id} retiring (it keeps decrypting for ${formatDuration(ctx.session.config.policy.encryptionGraceMs)})` : ''}`;
  },
};

export const destroyEncryptionKeyStep: StepHandler = {
  async run(ctx, step) {
    const s = ctx.session;
    const entry = stepEntry(ctx, step);
    if (entry.state !== 'retiring') return `${entry.id} is ${entry.state}; nothing to do`;
    const now = s.now();
    if (!graceOver(stateSince(entry), s.config.policy, now)) return `left retiring: grace period runs until ${new Date(stateSince(entry).getTime() + s.config.policy.encryptionGraceMs).toISOString()}`;
    const dependents = await ctx.kingdom().dependents(s.participant, { encryptionKeyIds: [entry.tinkKeyId!] });
    if (!dependents.supported) return `left retiring: the Kingdom offers no way to list pending work of ${s.participant}`;
    if (dependents.encryptionKeys.length > 0) return `left retiring: ${dependents.encryptionKeys.length} pending item(s) are encrypted to Tink key ${entry.tinkKeyId}`;
    const file = s.keyring.encryptionKeyset;
    const keyset = s.material.loadEncryptionKeyset(file);
    const key = keyset.key.find((k) => k.keyId === entry.tinkKeyId);
    if (key && key.status !== KeyStatusType.DESTROYED) s.material.saveEncryptionKeyset(file, destroyKey(keyset, entry.tinkKeyId!));
    transition(entry, 'retired', now, 'grace period over, nothing pending');
    entry.destroyedAt = now.toISOString();
    s.save();
    s.record({ action: 'key.destroy', resource: entry.id, fingerprints: [entry.fingerprint], before: { state: 'retiring' }, after: { state: 'retired', destroyed: true }, outcome: 'ok' });
    return `destroyed Tink key ${entry.tinkKeyId}`;
  },
  async preview(ctx, step) {
    const entry = stepEntry(ctx, step);
    return `would destroy the private material of Tink key ${entry.tinkKeyId} if no pending work is encrypted to it`;
  },
};
