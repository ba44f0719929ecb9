/**
 * Steps shared by TLS and signing certificates: issue a new key and leaf
 * (key file first, then the inventory entry, then the CA's record, so a
 * crash leaves at most a key file that the re-run overwrites), and make the
 * new certificate the active one.
 */
import { findEntry, transition } from '../keyring.js';
import { issueForKind } from '../issue.js';
import { auditIds, certificateEntry } from '../session.js';
import { type StepContext, type StepHandler, optionalEntry, stepEntry } from '../journal/context.js';
import type { JournalStep } from '../journal/journal.js';

export function issueStep(kind: 'tls' | 'signing'): StepHandler {
  return {
    async run(ctx, step) {
      const s = ctx.session;
      const id = step.entry!;
      const existing = findEntry(s.keyring, id);
      if (existing && s.material.hasFiles(existing)) {
        s.recordIssuance(s.material.certificate(existing), kind);
        return `already issued (SKID ${existing.skid})`;
      }
      if (existing) s.keyring.entries = s.keyring.entries.filter((e) => e.id !== id);
      const issued = issueForKind(s, kind);
      const files = s.material.writeCertificateAndKey(id, issued.der, issued.privateKey);
      const entry = certificateEntry(id, kind, issued.certificate, files, 'generated', s.now(), 'pending', `rotation ${ctx.journalId}`);
      s.keyring.entries.push(entry);
      s.save();
      s.recordIssuance(issued.certificate, kind);
      s.record({ action: 'key.create', resource: id, ...auditIds(entry), after: { kind, state: 'pending', notAfter: entry.notAfter }, outcome: 'ok' });
      return `issued SKID ${entry.skid}, valid until ${entry.notAfter}`;
    },
    async preview(ctx) {
      const ca = ctx.session.config.ca;
      return `would create a ${ctx.session.config.keyType} key (encrypted, mode 0600) and a ${kind === 'tls' ? 'tls' : 'signing'} certificate for ${ctx.session.config.subject} from the CA in ${ca}`;
    },
  };
}

/** New entry active; the previous one `retiring` (signing: others may still depend on it) or `retired` (TLS). */
export function activateStep(kind: 'tls' | 'signing', previousState: 'retiring' | 'retired'): StepHandler {
  return {
    async run(ctx, step: JournalStep) {
      const s = ctx.session;
      const entry = stepEntry(ctx, step);
      const previous = optionalEntry(ctx, step.previous);
      const at = s.now();
      const changed: string[] = [];
      const before = { entry: entry.state, previous: previous?.state };
      if (transition(entry, 'active', at, `rotation ${ctx.journalId}`)) changed.push(`${entry.id} active`);
      if (previous && previous.state === 'active' && transition(previous, previousState, at, `replaced by ${entry.id}`)) changed.push(`${previous.id} ${previousState}`);
      if (changed.length === 0) return 'already active';
      s.save();
      s.record({
        action: 'key.activate',
        resource: entry.id,
        ...auditIds(entry, previous),
        before,
        after: { entry: entry.state, previous: previous?.state },
        outcome: 'ok',
        detail: `${kind}: ${changed.join(', ')}`,
      });
      return changed.join(', ');
    },
    async preview(ctx, step) {
      const previous = optionalEntry(ctx, step.previous);
      return `would mark the new ${kind} certificate active${previous ? ` and ${previous.id} (SKID ${previous.skid}) ${previousState}` : ''}`;
    },
  };
}
