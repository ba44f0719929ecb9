/**
 * Rotation drills: the scheduled rotation of every kind at day 91 for every
 * participant, a TLS rotation with its rollout check, and a rotation killed
 * in the middle (SIGKILL) and finished by a second run.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keyKindsOf, type KeyKind, type Journal } from '../rotation/index.js';
import { Drill, expect, type DrillResult } from './checks.js';
import { CORRUPT_JOURNAL_HOOK, type DrillContext } from './drill-context.js';
import { active, clientOf, entry, kingdomCertificateMatches, renderedFingerprint, servedFingerprint } from './observe.js';
import type { Participant, ParticipantKind } from './participants.js';

const KIND_OF: Record<ParticipantKind, Parameters<typeof keyKindsOf>[0]> = {
  dataProviders: 'dataProvider',
  measurementConsumers: 'measurementConsumer',
  modelProviders: 'modelProvider',
  duchies: 'duchy',
};

export function kindsOf(p: Participant): readonly KeyKind[] {
  return keyKindsOf(KIND_OF[p.kind]);
}

/** The checks after any rotation of `kinds`: new active entries, the Kingdom, the Secret and the endpoint agree. */
async function checkRotated(ctx: DrillContext, drill: Drill, p: Participant, kinds: readonly KeyKind[], before: Map<KeyKind, string>): Promise<void> {
  // The entry that replaced the one active before: what the Kingdom, the Secret and the endpoint must now show.
  const fresh = (kind: KeyKind) => {
    const now = active(p, kind);
    expect(now.id !== before.get(kind), `the active ${kind} entry is still ${now.id}`);
    return now;
  };
  for (const kind of kinds) {
    await drill.check(`${p.label}: a new active ${kind} entry, the old one no longer active`, () => {
      const now = active(p, kind);
      expect(now.id !== before.get(kind), `the active ${kind} entry is still ${now.id}`);
      const old = entry(p, before.get(kind)!);
      expect(old.state !== 'active', `${old.id} is still active`);
      return `${old.id} ${old.state} -> ${now.id}`;
    });
  }
  if (kinds.includes('signing')) {
    await drill.check(`${p.label}: the Kingdom holds the new signing certificate`, () => kingdomCertificateMatches(clientOf(p, ctx.passphrase), fresh('signing')));
  }
  if (kinds.includes('signing') && (p.kind === 'dataProviders' || p.kind === 'measurementConsumers')) {
    await drill.check(`${p.label}: the Kingdom's ${p.kind === 'dataProviders' ? 'DataProvider' : 'MeasurementConsumer'} names it and publishes the keyring's key`, async () => {
      const client = clientOf(p, ctx.passphrase);
      const shown = p.kind === 'dataProviders' ? await client.dataProviders.getDataProvider({ name: p.name }) : await client.measurementConsumers.getMeasurementConsumer({ name: p.name });
      const signing = fresh('signing');
      expect(shown.certificate === signing.kingdomCertificate, `it names ${shown.certificate}, not ${signing.kingdomCertificate}`);
      const { verifySignedMessage } = await import('../crypto/index.js');
      const der = (await client.certificates.getCertificate({ name: signing.kingdomCertificate! })).x509Der;
      verifySignedMessage(shown.publicKey!, der);
      return `${shown.certificate}, public key signature verifies with it`;
    });
  }
  if (kinds.includes('tls')) {
    await drill.check(`${p.label}: the rendered Secret holds the new TLS certificate`, () => {
      const tls = fresh('tls');
      expect(renderedFingerprint(p) === tls.fingerprint, `${p.rendered} holds another certificate`);
      return tls.fingerprint.slice(0, 16);
    });
    await drill.check(`${p.label}: openssl s_client is served the new TLS certificate`, async () => {
      expect((await servedFingerprint(p.endpoint.address)) === fresh('tls').fingerprint, `${p.endpoint.address} serves another certificate`);
      return p.endpoint.address;
    });
  }
}

function activeIds(p: Participant, kinds: readonly KeyKind[]): Map<KeyKind, string> {
  return new Map(kinds.map((k) => [k, active(p, k).id]));
}

export async function scheduledRotation(ctx: DrillContext): Promise<DrillResult> {
  const drill = new Drill('scheduled-rotation', 'day 91: every participant rotates what its policy says is due (TLS, signing certificate, encryption key)', ctx.progress);
  for (const p of ctx.cast.all) {
    const kinds = kindsOf(p);
    const before = activeIds(p, kinds);
    const due = await drill.check(`${p.label}: status says ${kinds.join(', ')} due`, async () => {
      const r = await ctx.run.json<{ rows: Array<{ kind: KeyKind; state: string; dueAt?: string }> }>(['status', '--dir', p.dir], {}, [0, 3]);
      const now = Date.now();
      const notDue = kinds.filter((k) => !r.rows.some((row) => row.kind === k && row.state === 'active' && row.dueAt !== undefined && Date.parse(row.dueAt) <= now));
      expect(notDue.length === 0, `not due: ${notDue.join(', ')}`);
    });
    const rotated = await drill.check(`${p.label}: rotate (no kind flag) completes`, async () => {
      const r = await ctx.run.json<{ journal?: string; id?: string; steps: Array<{ type: string; status: string }> }>(['rotate', '--dir', p.dir]);
      expect(r.steps.every((s) => s.status === 'done'), 'a step is not done');
      return `${r.steps.length} steps`;
    });
    if (due && rotated) await checkRotated(ctx, drill, p, kinds, before);
  }
  return drill.finish();
}

export async function tlsRotation(ctx: DrillContext): Promise<DrillResult> {
  const p = ctx.cast.edp1;
  const drill = new Drill('tls-rotation', `${p.label}: TLS rotation, the Secret rendered and the endpoint checked to serve the new certificate`, ctx.progress);
  const before = activeIds(p, ['tls']);
  const ok = await drill.check('rotate --tls completes with the rollout check', async () => {
    const r = await ctx.run.json<{ steps: Array<{ type: string; status: string; result?: string }> }>(['rotate', '--dir', p.dir, '--tls']);
    const check = r.steps.find((s) => s.type === 'tls.check-rollout');
    expect(check?.status === 'done', 'the rollout check did not run');
    return check.result ?? 'served';
  });
  if (ok) await checkRotated(ctx, drill, p, ['tls'], before);
  return drill.finish();
}

/** Marks every step the killed run left unfinished as done: a journal that lies (the rehearsal's own test uses it). */
function corruptJournal(dir: string): void {
  const path = join(dir, 'journal.json');
  const j = JSON.parse(readFileSync(path, 'utf8')) as Journal;
  for (const s of j.steps) s.status = 'done';
  writeFileSync(path, `${JSON.stringify(j, null, 2)}\n`, { mode: 0o600 });
}

export async function crashedRotation(ctx: DrillContext): Promise<DrillResult> {
  const p = ctx.cast.mp;
  const drill = new Drill('crashed-rotation', `${p.label}: rotate --all killed (SIGKILL) after step 2, finished by a second run`, ctx.progress);
  const kinds = kindsOf(p);
  const before = activeIds(p, kinds);
  await drill.check('the first run dies by SIGKILL and leaves its journal', async () => {
    const r = await ctx.run.haloKeys(['rotate', '--dir', p.dir, '--all'], { HALO_KEYS_FAULT_AFTER_STEP: '2' });
    expect(r.signal === 'SIGKILL', `it ended with ${r.code ?? r.signal}`);
    expect(existsSync(join(p.dir, 'journal.json')), 'no journal.json');
  });
  await drill.check('status exits 3: the rotation is unfinished', async () => {
    const r = await ctx.run.haloKeys(['status', '--dir', p.dir]);
    expect(r.code === 3 && /unfinished/.test(r.stdout), `exit ${r.code}`);
  });
  if (process.env[CORRUPT_JOURNAL_HOOK] === '1') corruptJournal(p.dir);
  const finished = await drill.check('the second run finishes the same rotation', async () => {
    const r = await ctx.run.json<{ steps: Array<{ status: string }> }>(['rotate', '--dir', p.dir]);
    expect(r.steps.every((s) => s.status === 'done'), 'a step is not done');
    expect(!existsSync(join(p.dir, 'journal.json')), 'journal.json is still there');
  });
  if (finished) await checkRotated(ctx, drill, p, kinds, before);
  return drill.finish();
}
