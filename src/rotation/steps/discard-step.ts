/**
 * `abort.discard` (see ../abort.ts): retires a pending entry that an aborted
 * journal created. An encryption key is destroyed in the private keyset (it
 * was never published); a certificate registered at the Kingdom is left
 * `retiring`, since the Kingdom cannot delete it, for the next rotation to retire.
 */
import { existsSync, rmSync } from 'node:fs';
import { KeyStatusType, destroyKey } from '../../crypto/index.js';
import { RotationError } from '../errors.js';
import { certificateFiles } from '../keyring-files.js';
import { findEntry, transition } from '../keyring.js';
import { auditIds } from '../session.js';
import type { StepHandler } from './context.js';

export const discardStep: StepHandler = {
  async run(ctx, step) {
    const s = ctx.session;
    const id = step.entry!;
    const reason = `journal ${String(step.args?.aborted ?? ctx.journalId)} aborted`;
    const entry = findEntry(s.keyring, id);
    if (!entry) {
      // An issue step that stopped before recording its entry leaves at most its key files.
      const files = certificateFiles(id);
      const present = [files.privateKeyFile, files.certificateFile].filter((f) => existsSync(s.material.path(f)));
      for (const f of present) rmSync(s.material.path(f), { force: true });
      return present.length ? `removed the unrecorded key files of ${id}` : `${id} was never created`;
    }
    if (entry.state !== 'pending') return `${id} is ${entry.state}; left as it is`;
    const at = s.now();
    if (entry.kind === 'encryption') {
      const file = s.keyring.encryptionKeyset;
      const keyset = s.material.loadEncryptionKeyset(file);
      if (keyset.primaryKeyId === entry.tinkKeyId) throw new RotationError('STEP_FAILED', `Tink key ${entry.tinkKeyId} is still primary: the previous key was not made primary again`);
      const key = keyset.key.find((k) => k.keyId === entry.tinkKeyId);
      if (key && key.status !== KeyStatusType.DESTROYED) s.material.saveEncryptionKeyset(file, destroyKey(keyset, entry.tinkKeyId!));
      transition(entry, 'retired', at, reason);
      entry.destroyedAt = at.toISOString();
      s.save();
      s.record({ action: 'key.destroy', resource: id, fingerprints: [entry.fingerprint], before: { state: 'pending' }, after: { state: 'retired', destroyed: true }, outcome: 'ok', detail: reason });
      return `destroyed Tink key ${entry.tinkKeyId} (never published)`;
    }
    const to = entry.kingdomCertificate ? 'retiring' : 'retired';
    transition(entry, to, at, reason);
    s.save();
    s.record({ action: 'key.retire', resource: entry.kingdomCertificate ?? id, ...auditIds(entry), before: { state: 'pending' }, after: { state: to }, outcome: 'ok', detail: reason });
    return to === 'retiring' ? `${id} left retiring: ${entry.kingdomCertificate} stays registered at the Kingdom until the next rotation retires it` : `${id} retired (never active)`;
  },
  async preview(ctx, step) {
    const entry = findEntry(ctx.session.keyring, step.entry!);
    if (!entry) return `would remove any key files of ${step.entry} (not in the keyring)`;
    if (entry.kind === 'encryption') return `would destroy Tink key ${entry.tinkKeyId} in the private keyset and mark ${entry.id} retired`;
    return `would mark ${entry.id} ${entry.kingdomCertificate ? 'retiring' : 'retired'}`;
  },
};

