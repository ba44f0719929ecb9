/**
 * The API (signing) certificate at the Kingdom: register it once, and retire
 * the old one only when nothing needs it any more. Revocation, when the
 * policy asks for it, comes last and only after checking that the
 * participant's public key names the new certificate (revoking first is how
 * upstream users ended up with "Invalid Certificate").
 */
import { addRevocation, readCaState, withCaLock, writeCaState } from '../../pki/index.js';
import { publishesPublicKey } from '../config.js';
import { activeEntry, transition } from '../keyring.js';
import { auditIds } from '../session.js';
import { sha256Hex } from '../keyring-files.js';
import { type StepHandler, stepEntry } from './context.js';

export const registerStep: StepHandler = {
  async run(ctx, step) {
    const s = ctx.session;
    const entry = stepEntry(ctx, step);
    if (entry.kingdomCertificate) return `already registered as ${entry.kingdomCertificate}`;
    const cert = s.material.certificate(entry);
    const skid = cert.subjectKeyIdentifier ?? new Uint8Array(0);
    // A crash after CreateCertificate and before recording it: the Kingdom already has it.
    const found = (await ctx.kingdom().listCertificatesBySkid(s.participant, skid)).find((c) => sha256Hex(c.der) === entry.fingerprint);
    let name: string;
    let detail: string;
    if (found) {
      name = found.name;
      detail = 'found already registered (no second CreateCertificate)';
    } else {
      name = (await ctx.kingdom().createCertificate(s.participant, cert.der)).name;
      detail = 'CreateCertificate';
    }
    entry.kingdomCertificate = name;
    s.save();
    s.record({ action: 'certificate.register', resource: name, ...auditIds(entry), after: { kingdomCertificate: name }, outcome: 'ok', detail });
    return `${detail}: ${name}`;
  },
  async preview(ctx) {
    return `would call CreateCertificate under ${ctx.session.participant} with the new certificate`;
  },
};

export const retireStep: StepHandler = {
  async run(ctx, step) {
    const s = ctx.session;
    const entry = stepEntry(ctx, step);
    if (entry.state !== 'retiring') return `${entry.id} is ${entry.state}; nothing to do`;
    const at = s.now();
    const retire = (reason: string, detail: string) => {
      const before = entry.state;
      transition(entry, 'retired', at, reason);
      s.save();
      s.record({ action: 'key.retire', resource: entry.kingdomCertificate ?? entry.id, ...auditIds(entry), before: { state: before }, after: { state: 'retired' }, outcome: 'ok', detail });
      return detail;
    };
    if (!entry.kingdomCertificate) return retire('never registered', `${entry.id} was never registered at the Kingdom: retired`);
    const kingdom = ctx.kingdom();
    // Only DataProviders and MeasurementConsumers have a public key that names a certificate.
    const publishes = publishesPublicKey(s.config.participantKind);
    const participant = publishes ? await kingdom.getParticipant(s.participant) : undefined;
    if (participant && participant.certificate === entry.kingdomCertificate) {
      return `left retiring: ${s.participant} still names ${entry.kingdomCertificate} as its public key certificate`;
    }
    const dependents = await kingdom.dependents(s.participant, { certificate: entry.kingdomCertificate });
    if (!dependents.supported) return `left retiring: the Kingdom offers no way to list pending work of ${s.participant}`;
    if (dependents.certificate.length > 0) {
      return `left retiring: ${dependents.certificate.length} pending item(s) reference ${entry.kingdomCertificate} (${dependents.certificate.slice(0, 3).join(', ')}${dependents.certificate.length > 3 ? ', …' : ''})`;
    }
    if (s.config.policy.retiredCertificates === 'revoke') {
      const active = activeEntry(s.keyring, 'signing');
      if (!active?.kingdomCertificate) return `left retiring: the active signing certificate is not registered at the Kingdom; not revoking ${entry.kingdomCertificate}`;
      if (participant && participant.certificate !== active.kingdomCertificate) {
        return `left retiring: ${s.participant} names ${participant.certificate || 'no certificate'}, not the active ${active.kingdomCertificate}; not revoking`;
      }
      const current = await kingdom.getCertificate(entry.kingdomCertificate);
      if (current.revocation !== 'REVOKED') await kingdom.revokeCertificate(entry.kingdomCertificate, 'REVOKED');
      entry.kingdomRevocation = 'REVOKED';
      if (entry.serialHex) {
        withCaLock(s.config.ca, () => {
          const state = readCaState(s.config.ca);
          if (state.issued.some((r) => r.serialHex === entry.serialHex) && !state.revoked.some((r) => r.serialHex === entry.serialHex)) {
            addRevocation(state, entry.serialHex!, 'superseded', at);
            writeCaState(s.config.ca, state);
          }
        });
      }
      s.record({ action: 'certificate.revoke', resource: entry.kingdomCertificate, ...auditIds(entry), after: { revocationState: 'REVOKED' }, outcome: 'ok', detail: 'superseded by rotation' });
      return retire('superseded', `retired and revoked ${entry.kingdomCertificate}`);
    }
    return retire('superseded', `retired ${entry.kingdomCertificate}; left to expire ${entry.notAfter}`);
  },
  async preview(ctx, step) {
    const entry = stepEntry(ctx, step);
    return `would check that nothing pending references ${entry.kingdomCertificate ?? entry.id}, then mark it retired${ctx.session.config.policy.retiredCertificates === 'revoke' ? ' and RevokeCertificate it' : ''}`;
  },
};
