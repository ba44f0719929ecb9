/**
 * Certificate compromise, after the replacement is rotated in: assess the
 * blast radius first (kept from before any change), revoke at the Kingdom
 * (REVOKED, or HOLD for a suspected compromise), mark the keyring entry
 * compromised, destroy the private key, and revoke the certificate in the
 * local CA's CRL (written to `crl.pem` in the state directory). `release-*`
 * undo a HOLD. Every step checks for its own effect first, so a re-run after
 * a crash changes nothing twice.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Certificate_RevocationState } from '../../gen/wfa/measurement/api/v2alpha/certificate_pb.js';
import { writeFileAtomic, encodePem } from '../../lib/index.js';
import {
  addRevocation,
  readCaState,
  releaseHold,
  takeCrlNumber,
  withCaLock,
  writeCaState,
  type CrlReason,
  buildCrl,
} from '../../pki/index.js';
import { RotationError } from '../errors.js';
import type { JournalStep } from '../journal.js';
import { activeEntry, transition, type KeyEntry } from '../keyring.js';
import { auditIds } from '../session.js';
import { type StepContext, type StepHandler, stepEntry } from '../steps/context.js';
import type { CertificateAssessment } from './assessment.js';
import { clientOf } from './kingdom-calls.js';
import { readRecord, writeRecord } from './workspace.js';

export const CRL_FILE = 'crl.pem';
const CRL_DAYS = 7;

function revocationName(state: Certificate_RevocationState): 'NONE' | 'HOLD' | 'REVOKED' {
  return state === Certificate_RevocationState.REVOKED ? 'REVOKED' : state === Certificate_RevocationState.HOLD ? 'HOLD' : 'NONE';
}

function requestedState(step: JournalStep): 'HOLD' | 'REVOKED' {
  return step.args?.revocation === 'HOLD' ? 'HOLD' : 'REVOKED';
}

/** What depends on the certificate, read from the Kingdom (signing) or the keyring (TLS). */
export async function assessCertificate(ctx: StepContext, entry: KeyEntry): Promise<CertificateAssessment> {
  const s = ctx.session;
  const out: CertificateAssessment = {
    at: s.now().toISOString(),
    target: {
      entry: entry.id,
      kind: entry.kind,
      fingerprint: entry.fingerprint,
      stateBefore: entry.state,
      ...(entry.subject ? { subject: entry.subject } : {}),
      ...(entry.skid ? { skid: entry.skid } : {}),
      ...(entry.serialHex ? { serialHex: entry.serialHex } : {}),
      ...(entry.kingdomCertificate ? { kingdomCertificate: entry.kingdomCertificate } : {}),
    },
    otherCertificates: [],
  };
  if (entry.kind === 'signing' && entry.kingdomCertificate) {
    const client = clientOf(ctx);
    const radius = await client.certificateBlastRadius.getCertificateBlastRadius({ certificate: entry.kingdomCertificate });
    out.kingdom = {
      revocationState: revocationName(radius.revocationState),
      pendingMeasurements: radius.pendingMeasurements,
      pendingRequisitions: radius.pendingRequisitions,
      signedResultMeasurements: radius.signedResultMeasurements,
      publicKeyReferences: radius.publicKeyReferences,
    };
    let pageToken = '';
    do {
      const page = await client.certificates.listCertificates({ parent: s.participant, pageSize: 100, pageToken });
      for (const c of page.certificates) {
        if (c.name === entry.kingdomCertificate) continue;
        const local = s.keyring.entries.find((e) => e.kingdomCertificate === c.name);
        out.otherCertificates.push({ name: c.name, revocation: revocationName(c.revocationState), ...(local ? { entry: local.id, state: local.state } : {}) });
      }
      pageToken = page.nextPageToken;
    } while (pageToken);
  } else {
    for (const e of s.keyring.entries) {
      if (e.kind === entry.kind && e.id !== entry.id) out.otherCertificates.push({ entry: e.id, state: e.state, ...(e.kingdomCertificate ? { name: e.kingdomCertificate } : {}) });
    }
  }
  return out;
}

export function summarizeAssessment(a: CertificateAssessment): string {
  if (!a.kingdom) return `${a.target.kind} certificate ${a.target.entry} (SKID ${a.target.skid ?? '-'}): not registered at the Kingdom; ${a.otherCertificates.length} other ${a.target.kind} certificate(s) in the keyring`;
  const k = a.kingdom;
  return [
    `${k.pendingMeasurements.length} pending measurement(s) and ${k.pendingRequisitions.length} requisition(s) will fail`,
    `${k.signedResultMeasurements.length} succeeded measurement(s) have results signed with it`,
    k.publicKeyReferences ? 'the public key names it' : 'the public key does not name it',
  ].join('; ');
}

export const assessCertificateStep: StepHandler = {
  async run(ctx, step) {
    const s = ctx.session;
    const kept = readRecord<CertificateAssessment>(s, ctx.journalId, 'assessment');
    if (kept) return `kept the assessment made before any change: ${summarizeAssessment(kept)}`;
    const entry = stepEntry(ctx, step);
    const assessment = await assessCertificate(ctx, entry);
    writeRecord(s, ctx.journalId, 'assessment', assessment);
    s.record({ action: 'compromise.blast-radius', resource: entry.kingdomCertificate ?? entry.id, ...auditIds(entry), after: assessment.kingdom ?? { kingdom: 'not registered' }, outcome: 'ok', detail: summarizeAssessment(assessment) });
    return summarizeAssessment(assessment);
  },
  async preview(ctx, step) {
    return `blast radius now: ${summarizeAssessment(await assessCertificate(ctx, stepEntry(ctx, step)))}`;
  },
};

/** Revoking while the public key still names the certificate is how upstream users got "Invalid Certificate". */
async function requireNotPublishedWith(ctx: StepContext, certificate: string): Promise<void> {
  const kind = ctx.session.config.participantKind;
  if (kind !== 'dataProvider' && kind !== 'measurementConsumer') return;
  const shown = await ctx.kingdom().getParticipant(ctx.session.participant);
  if (shown.certificate === certificate) {
    throw new RotationError('PRECONDITION_FAILED', `${ctx.session.participant} still names ${certificate} for its public key; the replacement was not published, so it is not revoked yet`);
  }
}

export const revokeKingdomStep: StepHandler = {
  async run(ctx, step) {
    const s = ctx.session;
    const entry = stepEntry(ctx, step);
    const name = entry.kingdomCertificate;
    if (!name) return `${entry.id} is not registered at the Kingdom: nothing to revoke there`;
    const wanted = requestedState(step);
    const kingdom = ctx.kingdom();
    const current = await kingdom.getCertificate(name);
    let detail: string;
    if (current.revocation === wanted || current.revocation === 'REVOKED') {
      detail = `already ${current.revocation} at the Kingdom`;
    } else {
      await requireNotPublishedWith(ctx, name);
      await kingdom.revokeCertificate(name, wanted);
      detail = `RevokeCertificate ${wanted}`;
    }
    const state = current.revocation === 'REVOKED' ? 'REVOKED' : wanted;
    if (entry.kingdomRevocation !== state) {
      entry.kingdomRevocation = state;
      s.save();
    }
    s.record({ action: 'certificate.revoke', resource: name, ...auditIds(entry), before: { revocationState: current.revocation }, after: { revocationState: state }, outcome: 'ok', detail: `${step.args?.reason ?? 'keyCompromise'}: ${detail}` });
    return `${name}: ${detail}`;
  },
  async preview(ctx, step) {
    const entry = stepEntry(ctx, step);
    if (!entry.kingdomCertificate) return 'nothing at the Kingdom (not registered)';
    const current = await ctx.kingdom().getCertificate(entry.kingdomCertificate);
    return `would call RevokeCertificate ${requestedState(step)} on ${entry.kingdomCertificate} (now ${current.revocation}); the Kingdom fails its pending measurements with CERTIFICATE_REVOKED`;
  },
};

export const markCertificateStep: StepHandler = {
  async run(ctx, step) {
    const s = ctx.session;
    const entry = stepEntry(ctx, step);
    if (entry === activeEntry(s.keyring, entry.kind) && step.args?.allowActive !== true) {
      throw new RotationError('PRECONDITION_FAILED', `${entry.id} is still the active ${entry.kind} certificate; the rotation steps before this one did not complete`);
    }
    const before = entry.state;
    const reason = requestedState(step) === 'HOLD' ? `suspected compromise (on hold), ${ctx.journalId}` : `key compromise, ${ctx.journalId}`;
    if (!transition(entry, 'compromised', s.now(), reason)) return `${entry.id} already compromised`;
    s.save();
    s.record({ action: 'key.compromise', resource: entry.kingdomCertificate ?? entry.id, ...auditIds(entry), before: { state: before }, after: { state: 'compromised' }, outcome: 'ok', detail: reason });
    return `${entry.id} marked compromised (was ${before})`;
  },
  async preview(ctx, step) {
    const entry = stepEntry(ctx, step);
    return `would mark ${entry.id} compromised in the keyring (now ${entry.state})`;
  },
};

/** Overwrites then unlinks: a best effort against recovery from the file system (the key was encrypted at rest anyway). */
function shred(path: string): void {
  const size = statSync(path).size;
  writeFileSync(path, randomBytes(Math.max(size, 1)));
  rmSync(path, { force: true });
}

export const destroyPrivateKeyStep: StepHandler = {
  async run(ctx, step) {
    const s = ctx.session;
    const entry = stepEntry(ctx, step);
    if (entry.state !== 'compromised') throw new RotationError('PRECONDITION_FAILED', `${entry.id} is ${entry.state}, not compromised; not destroying its key`);
    const file = entry.privateKeyFile ? s.material.path(entry.privateKeyFile) : undefined;
    const present = file !== undefined && existsSync(file);
    if (present) shred(file);
    if (!entry.destroyedAt) {
      entry.destroyedAt = s.now().toISOString();
      s.save();
    }
    if (!present) return `the private key of ${entry.id} was already destroyed`;
    s.record({ action: 'key.destroy', resource: entry.id, ...auditIds(entry), before: { privateKey: entry.privateKeyFile }, after: { destroyed: true }, outcome: 'ok', detail: 'compromised: private key file overwritten and removed' });
    return `destroyed the private key of ${entry.id} (${entry.privateKeyFile})`;
  },
  async preview(ctx, step) {
    return `would overwrite and delete ${stepEntry(ctx, step).privateKeyFile} (the certificate stays for verifying old signatures)`;
  },
};

/** Writes a fresh CRL of every revocation the CA records into `crl.pem` of the state directory. */
function writeCrl(ctx: StepContext): { number: bigint; count: number } {
  const s = ctx.session;
  const ca = s.ca();
  const thisUpdate = s.now();
  const nextUpdate = new Date(thisUpdate.getTime() + CRL_DAYS * 86_400_000);
  return withCaLock(s.config.ca, () => {
    const state = readCaState(s.config.ca);
    const crlNumber = takeCrlNumber(state);
    const der = buildCrl({
      issuer: ca.certificate,
      issuerKey: ca.privateKey,
      entries: state.revoked.map((r) => ({ serialHex: r.serialHex, revocationDate: new Date(r.revokedAt), reason: r.reason })),
      crlNumber,
      thisUpdate,
      nextUpdate,
    });
    writeCaState(s.config.ca, state);
    writeFileAtomic(join(s.dir, CRL_FILE), encodePem('X509 CRL', der));
    return { number: crlNumber, count: state.revoked.length };
  });
}

export const revokeCrlStep: StepHandler = {
  async run(ctx, step) {
    const s = ctx.session;
    const entry = stepEntry(ctx, step);
    const reason: CrlReason = requestedState(step) === 'HOLD' ? 'certificateHold' : 'keyCompromise';
    if (!entry.serialHex) return `${entry.id} has no serial recorded; not on the local CA's CRL`;
    const changed = withCaLock(s.config.ca, () => {
      const state = readCaState(s.config.ca);
      if (!state.issued.some((r) => r.serialHex === entry.serialHex)) return 'not-issued' as const;
      const existing = state.revoked.find((r) => r.serialHex === entry.serialHex);
      // A hold may become keyCompromise; anything else already there stays.
      if (existing && (existing.reason === reason || existing.reason !== 'certificateHold' || reason === 'certificateHold')) return 'already' as const;
      addRevocation(state, entry.serialHex!, reason, s.now());
      writeCaState(s.config.ca, state);
      return 'added' as const;
    });
    if (changed === 'not-issued') return `serial ${entry.serialHex} was not issued by the keyring's CA (imported); revoke it at its issuer`;
    // The CRL is (re)written whenever it may lack the entry: after adding it, or when no CRL file exists yet.
    if (changed === 'already' && existsSync(join(s.dir, CRL_FILE))) return `serial ${entry.serialHex} already on the CA's revocation list`;
    const crl = writeCrl(ctx);
    s.record({ action: 'ca.revoke', resource: `${s.config.ca}#${entry.serialHex}`, ...auditIds(entry), after: { reason, crlNumber: crl.number.toString() }, outcome: 'ok', detail: `CRL #${crl.number} with ${crl.count} entr${crl.count === 1 ? 'y' : 'ies'} in ${CRL_FILE}` });
    return `serial ${entry.serialHex} revoked (${reason}); CRL #${crl.number} written to ${CRL_FILE}`;
  },
  async preview(ctx, step) {
    const entry = stepEntry(ctx, step);
    return `would add serial ${entry.serialHex ?? '-'} to the CA's revocation list (${requestedState(step) === 'HOLD' ? 'certificateHold' : 'keyCompromise'}) and write a new ${CRL_FILE}`;
  },
};

// --- releasing a hold ----------------------------------------------------------

export const releaseKingdomStep: StepHandler = {
  async run(ctx, step) {
    const s = ctx.session;
    const entry = stepEntry(ctx, step);
    const name = entry.kingdomCertificate;
    if (!name) return `${entry.id} is not registered at the Kingdom`;
    const client = clientOf(ctx);
    const current = await client.certificates.getCertificate({ name });
    if (current.revocationState === Certificate_RevocationState.REVOKED) {
      throw new RotationError('PRECONDITION_FAILED', `${name} is REVOKED at the Kingdom; only a HOLD can be released`);
    }
    let detail = 'not on hold at the Kingdom';
    if (current.revocationState === Certificate_RevocationState.HOLD) {
      await client.certificates.releaseCertificateHold({ name });
      detail = 'ReleaseCertificateHold';
    }
    if (entry.kingdomRevocation) {
      delete entry.kingdomRevocation;
      s.save();
    }
    s.record({ action: 'certificate.release-hold', resource: name, ...auditIds(entry), before: { revocationState: revocationName(current.revocationState) }, after: { revocationState: 'NONE' }, outcome: 'ok', detail });
    return `${name}: ${detail}`;
  },
  async preview(ctx, step) {
    return `would call ReleaseCertificateHold on ${stepEntry(ctx, step).kingdomCertificate ?? '(not registered)'} (measurements failed by the hold stay failed)`;
  },
};

export const releaseCrlStep: StepHandler = {
  async run(ctx, step) {
    const s = ctx.session;
    const entry = stepEntry(ctx, step);
    if (!entry.serialHex) return 'no serial recorded';
    const released = withCaLock(s.config.ca, () => {
      const state = readCaState(s.config.ca);
      const existing = state.revoked.find((r) => r.serialHex === entry.serialHex);
      if (!existing) return false;
      if (existing.reason !== 'certificateHold') throw new RotationError('PRECONDITION_FAILED', `serial ${entry.serialHex} is revoked (${existing.reason}) by the CA, not on hold`);
      releaseHold(state, entry.serialHex!);
      writeCaState(s.config.ca, state);
      return true;
    });
    if (!released && existsSync(join(s.dir, CRL_FILE))) return `serial ${entry.serialHex} is not on the CA's revocation list`;
    const crl = writeCrl(ctx);
    s.record({ action: 'ca.release-hold', resource: `${s.config.ca}#${entry.serialHex}`, ...auditIds(entry), after: { crlNumber: crl.number.toString() }, outcome: 'ok' });
    return `serial ${entry.serialHex} off hold; CRL #${crl.number} written to ${CRL_FILE}`;
  },
  async preview(ctx, step) {
    return `would lift the certificateHold of serial ${stepEntry(ctx, step).serialHex ?? '-'} and write a new ${CRL_FILE}`;
  },
};

export const releaseMarkStep: StepHandler = {
  async run(ctx, step) {
    const s = ctx.session;
    const entry = stepEntry(ctx, step);
    if (entry.state !== 'compromised') return `${entry.id} is ${entry.state}`;
    // It was replaced when it went on hold; without its key it can only verify.
    const to = entry.destroyedAt ? 'retired' : 'retiring';
    transition(entry, to, s.now(), `hold released, ${ctx.journalId}`);
    s.save();
    s.record({ action: 'key.release-hold', resource: entry.kingdomCertificate ?? entry.id, ...auditIds(entry), before: { state: 'compromised' }, after: { state: to }, outcome: 'ok' });
    return `${entry.id} ${to}`;
  },
  async preview(ctx, step) {
    const entry = stepEntry(ctx, step);
    return `would move ${entry.id} from ${entry.state} to ${entry.destroyedAt ? 'retired (its key was destroyed)' : 'retiring'}`;
  },
};
