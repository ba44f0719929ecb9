/**
 * Compromise drills, each the real procedure followed by checks from
 * outside: an EDP signing certificate (pending work fails, succeeded results
 * become untrusted, the CRL says keyCompromise), the MC's encryption key
 * (both EDPs re-encrypt their EventGroups, ongoing measurements replaced),
 * a DataProvider's encryption key (its open requisitions refused), and a
 * compromise killed in the middle and finished by a second run.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { create, fromBinary } from '@bufbuild/protobuf';
import { decryptMessage, encryptMessage, publicKeyset, type Keyset } from '../crypto/index.js';
import { Certificate_RevocationState } from '../gen/wfa/measurement/api/v2alpha/certificate_pb.js';
import { EventGroup_MetadataSchema } from '../gen/wfa/measurement/api/v2alpha/event_group_pb.js';
import { Measurement_Failure_Reason, Measurement_State } from '../gen/wfa/measurement/api/v2alpha/measurement_pb.js';
import { MeasurementSpecSchema } from '../gen/wfa/measurement/api/v2alpha/measurement_spec_pb.js';
import { hex } from '../lib/bytes.js';
import { readJsonLines } from '../lib/files.js';
import type { CompromiseReport } from '../rotation/index.js';
import { Drill, expect, type DrillResult } from './checks.js';
import type { DrillContext } from './drill-context.js';
import { active, clientOf, crlRevokes, decrypts, entry, privateKeyset, readJson, renderedFingerprint, servedFingerprint } from './observe.js';
import type { Participant } from './participants.js';

/** Names kept per blast-radius category in the rehearsal's report (the procedure's own report has them all). */
const LISTED = 100;

function listed(names: readonly string[]): string[] {
  return names.length <= LISTED ? [...names] : [...names.slice(0, LISTED), `... and ${names.length - LISTED} more`];
}

function reportBase(ctx: DrillContext, name: string): string {
  const dir = join(ctx.root, 'reports');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return join(dir, name);
}

async function runProcedure(ctx: DrillContext, drill: Drill, args: string[], base: string): Promise<CompromiseReport | undefined> {
  let report: CompromiseReport | undefined;
  await drill.check(`halo-keys ${args.slice(0, 2).join(' ')} completes`, async () => {
    const r = await ctx.run.json<{ steps: Array<{ status: string }> }>([...args, '--report', base]);
    expect(r.steps.every((s) => s.status === 'done'), 'a step is not done');
    report = readJson<CompromiseReport>(`${base}.json`);
    return `${r.steps.length} steps`;
  });
  return report;
}

export async function signingCertificateCompromise(ctx: DrillContext): Promise<DrillResult> {
  const p = ctx.cast.edp1;
  const drill = new Drill('edp-signing-compromise', `${p.label}: its signing certificate leaked`, ctx.progress);
  const w = ctx.workload!;
  const old = active(p, 'signing');
  const report = await runProcedure(ctx, drill, ['compromise', 'certificate', old.kingdomCertificate!, '--dir', p.dir], reportBase(ctx, 'edp1-signing'));
  if (report) {
    drill.result.blastRadius = { failed: listed(report.failed.measurements), untrusted: listed(report.untrusted.measurements) };
    const mc = clientOf(ctx.cast.mc, ctx.passphrase);
    await drill.check('the blast radius: every measurement awaiting edp1 failed, every succeeded one untrusted', () => {
      expect(report!.failed.measurements.length === w.measurements['awaiting-edp1'].count, `${report!.failed.measurements.length} failed, ${w.measurements['awaiting-edp1'].count} were awaiting edp1`);
      expect(report!.untrusted.measurements.length === w.measurements.succeeded.count, `${report!.untrusted.measurements.length} untrusted, ${w.measurements.succeeded.count} succeeded`);
      return `${report!.failed.measurements.length} failed, ${report!.untrusted.measurements.length} untrusted`;
    });
    await drill.check('the Kingdom: pending measurements FAILED with CERTIFICATE_REVOKED', async () => {
      for (const name of w.measurements['awaiting-edp1'].sample) {
        const m = await mc.measurements.getMeasurement({ name });
        expect(m.state === Measurement_State.FAILED && m.failure?.reason === Measurement_Failure_Reason.CERTIFICATE_REVOKED, `${name} is ${Measurement_State[m.state]}`);
      }
      return `${w.measurements['awaiting-edp1'].sample.length} checked`;
    });
    await drill.check('the Kingdom: succeeded measurements are no longer trusted', async () => {
      for (const name of w.measurements.succeeded.sample) {
        const t = await mc.measurementTrust.getMeasurementTrust({ measurement: name });
        expect(!t.trusted && t.untrustedResultCertificates.includes(old.kingdomCertificate!), `${name} is still trusted`);
      }
      return `${w.measurements.succeeded.sample.length} checked`;
    });
  }
  await drill.check('the Kingdom: the old certificate REVOKED, the DataProvider names the new one', async () => {
    const client = clientOf(p, ctx.passphrase);
    const c = await client.certificates.getCertificate({ name: old.kingdomCertificate! });
    expect(c.revocationState === Certificate_RevocationState.REVOKED, `${old.kingdomCertificate} is ${Certificate_RevocationState[c.revocationState]}`);
    const shown = await client.dataProviders.getDataProvider({ name: p.name });
    expect(shown.certificate === active(p, 'signing').kingdomCertificate && shown.certificate !== old.kingdomCertificate, `it names ${shown.certificate}`);
    return shown.certificate;
  });
  await drill.check('openssl crl: the serial is revoked for keyCompromise', async () => {
    expect(await crlRevokes(p, old.serialHex!), `serial ${old.serialHex} is not in ${p.label}/crl.pem as Key Compromise`);
    return old.serialHex!;
  });
  await drill.check('the keyring: the entry compromised, its private key destroyed', () => {
    const e = entry(p, old.id);
    expect(e.state === 'compromised' && !!e.destroyedAt, `${e.id} is ${e.state}`);
  });
  return drill.finish();
}

/** EventGroups decrypted per DataProvider at most: every one of a small workload, an even spread of a large one. */
const DECRYPTED = 500;

/**
 * Every EventGroup of `dp` for the MC, page by page: how many there are, and of every `stride`-th
 * (every one when the DataProvider made at most DECRYPTED) how many the keysets decrypt.
 */
async function eventGroupsDecrypting(ctx: DrillContext, dp: Participant, made: number, keysets: { old: Keyset; now: Keyset }) {
  const client = clientOf(dp, ctx.passphrase);
  const stride = Math.max(1, Math.ceil(made / DECRYPTED));
  const counts = { total: 0, decrypted: 0, old: 0, now: 0 };
  for (let pageToken = ''; ; ) {
    const page = await client.eventGroups.listEventGroups({ parent: dp.name, pageSize: 500, pageToken });
    for (const eg of page.eventGroups) {
      if (eg.measurementConsumer !== ctx.cast.mc.name || !eg.encryptedMetadata) continue;
      if (counts.total++ % stride !== 0) continue;
      counts.decrypted++;
      if (decrypts(keysets.old, eg.encryptedMetadata)) counts.old++;
      if (decrypts(keysets.now, eg.encryptedMetadata)) counts.now++;
    }
    if (!page.nextPageToken) return counts;
    pageToken = page.nextPageToken;
  }
}

export async function mcEncryptionKeyCompromise(ctx: DrillContext): Promise<DrillResult> {
  const p = ctx.cast.mc;
  const drill = new Drill('mc-encryption-compromise', `${p.label}: its encryption key leaked; both EDPs re-encrypt, ongoing measurements replaced`, ctx.progress);
  const w = ctx.workload!;
  const old = active(p, 'encryption');
  const oldKeyset = privateKeyset(p, ctx.passphrase);
  const report = await runProcedure(ctx, drill, ['compromise', 'encryption-key', '--dir', p.dir, '--key-id', String(old.tinkKeyId)], reportBase(ctx, 'mc-encryption'));
  for (const dp of [ctx.cast.edp1, ctx.cast.edp2]) {
    await drill.check(`${dp.label}: reencrypt event-groups completes`, async () => {
      const r = await ctx.run.json<{ steps?: unknown[] }>(['reencrypt', 'event-groups', '--dir', dp.dir]);
      return `${r.steps?.length ?? 0} steps`;
    });
  }
  const awaiting = w.measurements['awaiting-edp2'];
  if (report) {
    // The report carries a sample and the counts; every replacement is in its .jsonl list.
    const replacements = report.files.lists?.replacements ? readJsonLines<CompromiseReport['replacements'][number]>(report.files.lists.replacements) : report.replacements;
    const eventGroups = report.counts?.eventGroups ?? report.eventGroups.length;
    drill.result.blastRadius = {
      eventGroups: listed(report.files.lists?.eventGroups ? readJsonLines<string>(report.files.lists.eventGroups) : report.eventGroups.map((e) => e.eventGroup)),
      replaced: listed(replacements.map((r) => `${r.old} -> ${r.replacement ?? 'none'}`)),
    };
    await drill.check('the blast radius: every EventGroup and every ongoing measurement encrypted to the key', () => {
      const total = w.eventGroups.edp1 + w.eventGroups.edp2;
      const replaced = replacements.filter((r) => r.replacement !== null).length;
      expect(eventGroups === total, `${eventGroups} EventGroups, ${total} were made`);
      expect(replaced === awaiting.count && replacements.length === awaiting.count, `${replaced} of ${replacements.length} replaced, ${awaiting.count} were ongoing`);
      return `${eventGroups} EventGroups, ${replaced} measurements`;
    });
    const now = privateKeyset(p, ctx.passphrase);
    await drill.check('the Kingdom: each ongoing measurement CANCELLED, its replacement awaiting, encrypted to the new key', async () => {
      const client = clientOf(p, ctx.passphrase);
      const shown = await client.measurementConsumers.getMeasurementConsumer({ name: p.name });
      const sampled = new Set(awaiting.sample);
      const byOld = new Map(replacements.filter((r) => sampled.has(r.old)).map((r) => [r.old, r.replacement]));
      for (const name of awaiting.sample) {
        const m = await client.measurements.getMeasurement({ name });
        expect(m.state === Measurement_State.CANCELLED, `${name} is ${Measurement_State[m.state]}`);
        const replacement = byOld.get(name);
        expect(replacement, `${name} has no replacement`);
        const r = await client.measurements.getMeasurement({ name: replacement });
        const spec = fromBinary(MeasurementSpecSchema, r.measurementSpec!.message!.value);
        expect(hex(spec.measurementPublicKey!.value) === hex(shown.publicKey!.message!.value), `${replacement} is not encrypted to the published key`);
      }
      return `${awaiting.sample.length} checked`;
    });
    for (const dp of [ctx.cast.edp1, ctx.cast.edp2]) {
      await drill.check(`${dp.label}: every EventGroup listed; those decrypted open with the new key and not with the leaked one`, async () => {
        const made = dp === ctx.cast.edp1 ? w.eventGroups.edp1 : w.eventGroups.edp2;
        const c = await eventGroupsDecrypting(ctx, dp, made, { old: oldKeyset, now });
        expect(c.total === made, `${c.total} EventGroups listed, ${made} were made`);
        expect(c.now === c.decrypted && c.old === 0, `of ${c.decrypted} decrypted, ${c.now} open with the new key, ${c.old} with the leaked one`);
        return `${c.total} EventGroups, ${c.decrypted} decrypted`;
      });
    }
  }
  await drill.check('the keyring: the leaked key compromised and gone from the private keyset', () => {
    expect(entry(p, old.id).state === 'compromised', `${old.id} is ${entry(p, old.id).state}`);
    const probe = encryptMessage(publicKeyset(oldKeyset), EventGroup_MetadataSchema, create(EventGroup_MetadataSchema, {}));
    expect(!decrypts(privateKeyset(p, ctx.passphrase), probe), 'the private keyset still decrypts for the leaked key');
  });
  return drill.finish();
}

export async function dataProviderEncryptionKeyCompromise(ctx: DrillContext): Promise<DrillResult> {
  const p = ctx.cast.edp2;
  const drill = new Drill('edp-encryption-compromise', `${p.label}: its encryption key leaked; its open requisitions refused`, ctx.progress);
  const old = active(p, 'encryption');
  const oldKeyset = privateKeyset(p, ctx.passphrase);
  const mc = clientOf(ctx.cast.mc, ctx.passphrase);
  const report = await runProcedure(ctx, drill, ['compromise', 'encryption-key', '--dir', p.dir, '--key-id', String(old.tinkKeyId)], reportBase(ctx, 'edp2-encryption'));
  if (report) {
    // The report lists a sample; every refusal is in its list file.
    const refusals = report.refusals;
    const refusedNames = refusals ? readJsonLines<{ requisition: string; refused: boolean }>(refusals.list).filter((r) => r.refused).map((r) => r.requisition) : report.failed.requisitions;
    drill.result.blastRadius = { refused: listed(refusedNames) };
    const open = ctx.workload!.measurements['awaiting-edp2'].count;
    await drill.check('the blast radius: every open requisition of edp2 (the replacements) refused', () => {
      expect(refusedNames.length === open && (refusals?.refused ?? open) === open, `${refusedNames.length} refused, ${open} were open`);
      return `${open} refused`;
    });
    await drill.check('the Kingdom: their measurements FAILED (REQUISITION_REFUSED)', async () => {
      for (const r of report!.rerun.slice(0, 50)) {
        const m = await mc.measurements.getMeasurement({ name: r.resource });
        expect(m.state === Measurement_State.FAILED && m.failure?.reason === Measurement_Failure_Reason.REQUISITION_REFUSED, `${r.resource} is ${Measurement_State[m.state]}`);
      }
      return `${Math.min(report!.rerun.length, 50)} checked`;
    });
  }
  await drill.check('the Kingdom publishes a new key: the new keyset decrypts what is encrypted to it, the leaked one does not', async () => {
    const shown = await clientOf(p, ctx.passphrase).dataProviders.getDataProvider({ name: p.name });
    const { parseKeyset } = await import('../crypto/index.js');
    const { EncryptionPublicKeySchema } = await import('../gen/wfa/measurement/api/v2alpha/crypto_pb.js');
    const key = parseKeyset(fromBinary(EncryptionPublicKeySchema, shown.publicKey!.message!.value).data);
    const probe = encryptMessage(key, EventGroup_MetadataSchema, create(EventGroup_MetadataSchema, {}));
    expect(decrypts(privateKeyset(p, ctx.passphrase), probe), 'the new private keyset does not decrypt');
    expect(!decrypts(oldKeyset, probe), 'the leaked keyset decrypts it');
    expect(entry(p, old.id).state === 'compromised', `${old.id} is ${entry(p, old.id).state}`);
  });
  return drill.finish();
}

export async function crashedCompromise(ctx: DrillContext): Promise<DrillResult> {
  const p = ctx.cast.duchy;
  const drill = new Drill('crashed-compromise', `${p.label}: its TLS certificate leaked; the procedure killed (SIGKILL) after step 2, finished by a second run`, ctx.progress);
  const old = active(p, 'tls');
  const args = ['compromise', 'certificate', '--skid', old.skid!, '--dir', p.dir];
  await drill.check('the first run dies by SIGKILL', async () => {
    const r = await ctx.run.haloKeys(args, { HALO_KEYS_FAULT_AFTER_STEP: '2' });
    expect(r.signal === 'SIGKILL', `it ended with ${r.code ?? r.signal}`);
  });
  const report = await runProcedure(ctx, drill, args, reportBase(ctx, 'duchy-tls'));
  if (report) drill.result.blastRadius = { crl: [`serial ${old.serialHex}`] };
  await drill.check('openssl crl: the TLS serial is revoked for keyCompromise', async () => {
    expect(await crlRevokes(p, old.serialHex!), `serial ${old.serialHex} is not in ${p.label}/crl.pem as Key Compromise`);
    return old.serialHex!;
  });
  await drill.check('the rendered Secret and the endpoint carry the new TLS certificate', async () => {
    const now = active(p, 'tls');
    expect(now.id !== old.id, 'the TLS certificate was not replaced');
    expect(renderedFingerprint(p) === now.fingerprint, 'the rendered Secret holds another certificate');
    expect((await servedFingerprint(p.endpoint.address)) === now.fingerprint, 'the endpoint serves another certificate');
    expect(entry(p, old.id).state === 'compromised', `${old.id} is ${entry(p, old.id).state}`);
  });
  return drill.finish();
}
