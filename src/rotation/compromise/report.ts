/**
 * The last step of every compromise procedure: what failed, what is now
 * untrusted, what to re-run, what replaced what. Built from the workspace
 * (the assessment made before any change, each step's recorded outcomes) and
 * the keyring, written as `report.json` and `report.txt` beside them and, on
 * request, to `--report FILE` (FILE.json and FILE.txt). Rebuilt on a re-run,
 * never appended to.
 */
import { writeFileAtomic } from '../../lib/files.js';
import { findEntry } from '../keyring.js';
import type { KeyringSession } from '../session.js';
import type { StepHandler } from '../journal/context.js';
import { ASSESSED_EVENT_GROUPS, ASSESSED_MEASUREMENTS, ASSESSMENT_SAMPLE, eventGroupCountOf, type AssessedMeasurement, type CertificateAssessment, type EncryptionKeyAssessment } from './assessment.js';
import { REENCRYPTION_REQUESTED, type ReencryptionRequested } from './encryption-key-steps.js';
import { replacementOutcomes, type Replacement } from './replace-measurement.js';
import { refusalReport, type RefusalReport } from './refuse-requisitions.js';
import { REENCRYPTION_OUTCOMES, type ReencryptionLine, type ReencryptionOutcome } from './reencrypt-steps.js';
import { listPath, readList, readRecord, writeList, writeRecord, workspaceDir } from './workspace.js';
import { join } from 'node:path';

export interface CompromiseReport {
  procedure: string;
  journal: string;
  participant: string;
  at: string;
  target?: { entry: string; kind: string; skid?: string; fingerprint: string; kingdomCertificate?: string; tinkKeyId?: number };
  /** Certificate: the Kingdom and CA revocation and the key material; encryption key: its removal. */
  revocation?: { kingdom?: string; crl?: string; keyMaterial: 'destroyed' | 'kept' };
  /** The certificate or key now in use instead. */
  replacement?: { entry: string; kingdomCertificate?: string; skid?: string; tinkKeyId?: number };
  /** Work that failed or was refused because of the compromise. */
  failed: { measurements: string[]; requisitions: string[] };
  /** SUCCEEDED measurements whose results can no longer be trusted. */
  untrusted: { measurements: string[] };
  /** What the participant (or its MeasurementConsumers) should re-run, and why. */
  rerun: Array<{ resource: string; why: string }>;
  /** MeasurementConsumer: old measurement -> replacement. */
  replacements: Array<{ old: string; replacement: string | null; detail: string }>;
  /** Re-encryption of EventGroup metadata: requested (MC) or done (DataProvider). */
  eventGroups: Array<{ eventGroup: string; request?: string; reencrypted?: boolean; detail: string }>;
  /**
   * How many there are of what `replacements` and `eventGroups` list, when
   * those are only the first ASSESSMENT_SAMPLE; the full lists are the .jsonl
   * files in `files.lists`. MeasurementConsumer: replacements and requests;
   * DataProvider (re-encryption): the requests answered, `reencrypted` of
   * them (now encrypted to the MC's current key) and `onlyClosed`.
   */
  counts?: {
    replacements?: number;
    replaced?: number;
    eventGroups: number;
    reencryptionRequests?: { created: number; open: number };
    reencrypted?: number;
    onlyClosed?: number;
  };
  /**
   * DataProvider: the requisitions encrypted to the key and how many were
   * refused; `failed.requisitions` and their `rerun` lines are the first
   * ASSESSMENT_SAMPLE refused, `sample` the first of all, `list` every one.
   */
  refusals?: Omit<RefusalReport, 'refusedSample'>;
  /** Other certificates of the participant at the time of the assessment. */
  otherCertificates?: CertificateAssessment['otherCertificates'];
  files: { json: string; text: string; extra?: string[]; lists?: { replacements?: string; eventGroups?: string } };
}

function certificateSections(session: KeyringSession, a: CertificateAssessment, args: Record<string, unknown>): Partial<CompromiseReport> {
  const entry = findEntry(session.keyring, a.target.entry);
  const newEntry = typeof args.newEntry === 'string' ? findEntry(session.keyring, args.newEntry) : undefined;
  const hold = args.revocation === 'HOLD';
  const k = a.kingdom;
  const failed = { measurements: k?.pendingMeasurements ?? [], requisitions: k?.pendingRequisitions ?? [] };
  const untrusted = { measurements: hold ? [] : (k?.signedResultMeasurements ?? []) };
  const rerun = [
    ...failed.measurements.map((m) => ({ resource: m, why: `failed with CERTIFICATE_REVOKED when ${a.target.kingdomCertificate} was ${hold ? 'put on hold' : 'revoked'}: create it again` })),
    ...(k?.signedResultMeasurements ?? []).map((m) => ({
      resource: m,
      why: hold ? `its results were signed with ${a.target.kingdomCertificate}, now on hold: untrusted until the hold is released` : `its results were signed with the compromised ${a.target.kingdomCertificate}: a new measurement is needed`,
    })),
  ];
  return {
    target: { entry: a.target.entry, kind: a.target.kind, fingerprint: a.target.fingerprint, ...(a.target.skid ? { skid: a.target.skid } : {}), ...(a.target.kingdomCertificate ? { kingdomCertificate: a.target.kingdomCertificate } : {}) },
    revocation: {
      ...(a.target.kingdomCertificate ? { kingdom: entry?.kingdomRevocation ?? (hold ? 'HOLD' : 'REVOKED') } : {}),
      crl: hold ? 'certificateHold' : 'keyCompromise',
      keyMaterial: entry?.destroyedAt ? 'destroyed' : 'kept',
    },
    ...(newEntry ? { replacement: { entry: newEntry.id, ...(newEntry.kingdomCertificate ? { kingdomCertificate: newEntry.kingdomCertificate } : {}), ...(newEntry.skid ? { skid: newEntry.skid } : {}) } } : {}),
    failed,
    untrusted,
    rerun,
    otherCertificates: a.otherCertificates,
  };
}

type WithLists = Partial<CompromiseReport> & { lists?: NonNullable<CompromiseReport['files']['lists']> };

function encryptionKeySections(session: KeyringSession, journalId: string, a: EncryptionKeyAssessment, args: Record<string, unknown>): WithLists {
  const newEntry = typeof args.newEntry === 'string' ? findEntry(session.keyring, args.newEntry) : undefined;
  const entry = findEntry(session.keyring, a.target.entry);
  const listed = a.measurementCount !== undefined;
  const mc = session.config.participantKind === 'measurementConsumer';
  const { refusedSample, ...refusals } = refusalReport(session, journalId, a);
  const rerun = refusedSample.map((r) => ({ resource: r.measurement, why: `its requisition ${r.requisition} was refused: the spec was encrypted to the compromised key; the MeasurementConsumer should create it again` }));
  const sections: WithLists = {
    target: { entry: a.target.entry, kind: 'encryption', fingerprint: a.target.fingerprint, tinkKeyId: a.target.tinkKeyId },
    revocation: { keyMaterial: entry?.destroyedAt ? 'destroyed' : 'kept' },
    ...(newEntry ? { replacement: { entry: newEntry.id, ...(newEntry.tinkKeyId !== undefined ? { tinkKeyId: newEntry.tinkKeyId } : {}) } } : {}),
    failed: { measurements: [], requisitions: refusedSample.map((r) => r.requisition) },
    untrusted: { measurements: [] },
    rerun,
    ...(refusals.count > 0 ? { refusals } : {}),
  };
  if (!mc) return sections;

  // Every assessed measurement with its outcome, written out in full; the report itself keeps a sample and the counts.
  const outcomes = replacementOutcomes(session, journalId);
  const assessed: Iterable<AssessedMeasurement> = listed ? readList<AssessedMeasurement>(session, journalId, ASSESSED_MEASUREMENTS) : a.measurements;
  const replacements: CompromiseReport['replacements'] = [];
  const lines: string[] = [];
  let total = 0;
  let replaced = 0;
  const add = (old: string, r: Replacement | undefined) => {
    // A measurement the paged step did not find had finished by then; a per-measurement step not run is unprocessed.
    const row = { old, replacement: r?.replacement ?? null, detail: r?.detail ?? (listed ? 'no longer ongoing when the replacements ran' : 'not processed') };
    total += 1;
    if (row.replacement !== null) replaced += 1;
    else rerun.push({ resource: old, why: `not replaced: ${row.detail}` });
    if (replacements.length < ASSESSMENT_SAMPLE) replacements.push(row);
    lines.push(`${JSON.stringify(row)}\n`);
  };
  const seen = new Set<string>();
  for (const m of assessed) {
    if (seen.has(m.name)) continue;
    seen.add(m.name);
    add(m.name, outcomes.get(m.name));
  }
  // Found at the Kingdom by the paged step though not assessed (made with the old key after the assessment).
  for (const [old, r] of outcomes) if (!seen.has(old)) add(old, r);
  const dir = workspaceDir(session, journalId);
  const replacementsFile = join(dir, 'report-replacements.jsonl');
  writeFileAtomic(replacementsFile, lines.join(''), { mode: 0o600 });

  const legacyRequests = readRecord<Record<string, { eventGroup: string }>>(session, journalId, 'reencryption-requests');
  const requested = readRecord<ReencryptionRequested>(session, journalId, REENCRYPTION_REQUESTED);
  const eventGroups = legacyRequests
    ? Object.entries(legacyRequests).map(([request, r]) => ({ eventGroup: r.eventGroup, request, detail: 're-encryption requested from its DataProvider' }))
    : requested
      ? a.eventGroups.map((eventGroup) => ({ eventGroup, detail: 're-encryption requested from its DataProvider' }))
      : [];
  return {
    ...sections,
    replacements,
    eventGroups,
    counts: {
      replacements: total,
      replaced,
      eventGroups: legacyRequests ? eventGroups.length : requested ? eventGroupCountOf(a) : 0,
      ...(requested ? { reencryptionRequests: requested } : {}),
    },
    lists: { replacements: replacementsFile, ...(listed ? { eventGroups: listPath(session, journalId, ASSESSED_EVENT_GROUPS) } : {}) },
  };
}

type EventGroupRow = CompromiseReport['eventGroups'][number];

/** The list of every re-encryption outcome the report writes beside itself (`report-event-groups.jsonl`). */
export const REPORT_EVENT_GROUPS = 'report-event-groups';

/**
 * Each request answered once, from the appended outcomes, merging the
 * repeats of a resumed run: a request recorded but not closed (killed
 * between the two) is answered again, as only closed. The later outcome
 * wins, except that one finding nothing re-encrypted does not undo an
 * earlier re-encryption. A request is held only until its page's close mark
 * (after which it is never listed again), so memory is the pages in flight
 * and those a kill left unclosed, not the list. Lines written before pages
 * were marked are held to the end.
 */
function* answeredRequests(session: KeyringSession, journalId: string): Generator<EventGroupRow> {
  const held = new Map<string, { row: EventGroupRow; page: string | undefined }>();
  const hold = (eventGroup: string, page: string | undefined, o: ReencryptionOutcome) => {
    const row = { eventGroup, request: o.request, reencrypted: o.reencrypted, detail: o.detail };
    const before = held.get(o.request);
    held.set(o.request, { row: before?.row.reencrypted && !o.reencrypted ? before.row : row, page });
  };
  // Journals of earlier versions: one keyed record, small as their steps were one per request.
  for (const [eventGroup, o] of Object.entries(readRecord<Record<string, ReencryptionOutcome>>(session, journalId, REENCRYPTION_OUTCOMES) ?? {})) hold(eventGroup, undefined, o);
  for (const line of readList<ReencryptionLine>(session, journalId, REENCRYPTION_OUTCOMES)) {
    if (!('closed' in line)) {
      hold(line.key, line.page, line);
      continue;
    }
    for (const [request, h] of held) {
      if (h.page !== line.closed) continue;
      held.delete(request);
      yield h.row;
    }
  }
  for (const h of held.values()) yield h.row;
}

/**
 * Every answered request in `report-event-groups.jsonl`; the report keeps
 * the first ASSESSMENT_SAMPLE and the counts, as the MeasurementConsumer's
 * does, so its size does not grow with the EventGroups.
 */
function reencryptSections(session: KeyringSession, journalId: string): WithLists {
  const eventGroups: EventGroupRow[] = [];
  let total = 0;
  let reencrypted = 0;
  const counted = function* (rows: Iterable<EventGroupRow>) {
    for (const row of rows) {
      total += 1;
      if (row.reencrypted) reencrypted += 1;
      if (eventGroups.length < ASSESSMENT_SAMPLE) eventGroups.push(row);
      yield row;
    }
  };
  const file = writeList(session, journalId, REPORT_EVENT_GROUPS, counted(answeredRequests(session, journalId)));
  return { eventGroups, counts: { eventGroups: total, reencrypted, onlyClosed: total - reencrypted }, lists: { eventGroups: file } };
}

export function renderReportText(r: CompromiseReport): string {
  const lines: string[] = [`${r.procedure} report (${r.journal}) for ${r.participant} at ${r.at}`];
  if (r.target) {
    lines.push(`compromised: ${r.target.kind} ${r.target.entry}${r.target.kingdomCertificate ? ` = ${r.target.kingdomCertificate}` : ''}${r.target.skid ? ` (SKID ${r.target.skid})` : ''}${r.target.tinkKeyId !== undefined ? ` (Tink key ${r.target.tinkKeyId})` : ''}`);
  }
  if (r.revocation) {
    const parts = [r.revocation.kingdom ? `Kingdom ${r.revocation.kingdom}` : undefined, r.revocation.crl ? `CA CRL ${r.revocation.crl}` : undefined, `private key ${r.revocation.keyMaterial}`].filter(Boolean);
    lines.push(`revocation: ${parts.join(', ')}`);
  }
  if (r.replacement) lines.push(`now in use: ${r.replacement.entry}${r.replacement.kingdomCertificate ? ` = ${r.replacement.kingdomCertificate}` : ''}${r.replacement.tinkKeyId !== undefined ? ` (Tink key ${r.replacement.tinkKeyId})` : ''}`);
  const list = (title: string, items: string[]) => {
    lines.push(`${title}: ${items.length === 0 ? 'none' : ''}`);
    for (const i of items) lines.push(`  ${i}`);
  };
  list('failed measurements', r.failed.measurements);
  const refusals = r.refusals;
  list(`failed or refused requisitions${refusals && refusals.refused > r.failed.requisitions.length ? ` (${refusals.refused} in all, the first ${r.failed.requisitions.length} below; every one in ${refusals.list})` : ''}`, r.failed.requisitions);
  if (refusals && refusals.count > refusals.refused) lines.push(`requisitions encrypted to the key not refused: ${refusals.count - refusals.refused} (answered before the refusals ran; see ${refusals.list})`);
  list('untrusted succeeded measurements', r.untrusted.measurements);
  const more = (n: number | undefined, shown: number, file: string | undefined) => (n !== undefined && n > shown ? ` (${n} in all, the first ${shown} below${file ? `; every one in ${file}` : ''})` : '');
  list(`replaced measurements${more(r.counts?.replacements, r.replacements.length, r.files.lists?.replacements)}`, r.replacements.map((x) => `${x.old} -> ${x.replacement ?? '(none)'} (${x.detail})`));
  if (r.counts?.reencrypted !== undefined) lines.push(`re-encryption: ${r.counts.reencrypted} EventGroup(s) re-encrypted, ${r.counts.onlyClosed ?? 0} request(s) only closed`);
  if (r.counts?.reencryptionRequests) lines.push(`re-encryption requests: ${r.counts.reencryptionRequests.open} open (${r.counts.reencryptionRequests.created} made by this run)`);
  list(`event groups${more(r.counts?.eventGroups, r.eventGroups.length, r.files.lists?.eventGroups)}`, r.eventGroups.map((e) => `${e.eventGroup}: ${e.detail}`));
  list('re-run', r.rerun.map((x) => `${x.resource}: ${x.why}`));
  return `${lines.join('\n')}\n`;
}

export function buildReport(session: KeyringSession, journalId: string, args: Record<string, unknown>): CompromiseReport {
  const procedure = String(args.procedure ?? 'compromise');
  const dir = workspaceDir(session, journalId);
  const base: CompromiseReport = {
    procedure,
    journal: journalId,
    participant: session.participant,
    at: session.now().toISOString(),
    failed: { measurements: [], requisitions: [] },
    untrusted: { measurements: [] },
    rerun: [],
    replacements: [],
    eventGroups: [],
    files: { json: join(dir, 'report.json'), text: join(dir, 'report.txt') },
  };
  if (procedure.startsWith('compromise.certificate') || procedure === 'compromise.release-hold') {
    const a = readRecord<CertificateAssessment>(session, journalId, 'assessment');
    if (a) Object.assign(base, certificateSections(session, a, args));
  } else if (procedure === 'compromise.encryption-key') {
    const a = readRecord<EncryptionKeyAssessment>(session, journalId, 'assessment');
    if (a) {
      const { lists, ...sections } = encryptionKeySections(session, journalId, a, args);
      Object.assign(base, sections);
      if (lists) base.files.lists = lists;
    }
  } else if (procedure === 'reencrypt.event-groups') {
    const { lists, ...sections } = reencryptSections(session, journalId);
    Object.assign(base, sections);
    if (lists) base.files.lists = lists;
  }
  return base;
}

export const reportStep: StepHandler = {
  async run(ctx, step) {
    const s = ctx.session;
    const args = step.args ?? {};
    const report = buildReport(s, ctx.journalId, args);
    const extra: string[] = [];
    if (typeof args.reportFile === 'string' && args.reportFile) {
      const base = args.reportFile.replace(/\.json$/, '');
      extra.push(`${base}.json`, `${base}.txt`);
      report.files.extra = extra;
    }
    const text = renderReportText(report);
    writeRecord(s, ctx.journalId, 'report', report);
    writeFileAtomic(report.files.text, text, { mode: 0o600 });
    if (extra.length) {
      writeFileAtomic(extra[0]!, `${JSON.stringify(report, null, 2)}\n`, { mode: 0o600 });
      writeFileAtomic(extra[1]!, text, { mode: 0o600 });
    }
    s.record({
      action: 'compromise.report',
      resource: ctx.journalId,
      after: {
        failed: report.failed.measurements.length + (report.refusals?.refused ?? report.failed.requisitions.length),
        untrusted: report.untrusted.measurements.length,
        replaced: report.counts?.replaced ?? report.replacements.length,
        eventGroups: report.counts?.eventGroups ?? report.eventGroups.length,
      },
      outcome: 'ok',
      detail: [report.files.json, ...extra].join(' '),
    });
    return `report written to ${[report.files.json, ...extra].join(', ')}`;
  },
  async preview(_ctx, step) {
    return `would write the report (JSON and text)${step.args?.reportFile ? ` to ${String(step.args.reportFile)}` : ''}`;
  },
};
