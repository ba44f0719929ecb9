/**
 * A DataProvider whose encryption key leaked refuses its UNFULFILLED
 * requisitions whose RequisitionSpec was encrypted to it: RefuseRequisition
 * (DECLINED, naming the key), which fails each one's measurement so its
 * MeasurementConsumer creates it again with the DataProvider's new key.
 *
 * One journal step (`compromise.refuse-requisitions`) refuses them all: it
 * pages through the DataProvider's UNFULFILLED requisitions at the Kingdom
 * (by requisition id, so refusing a page moves none of the next), refuses
 * those carrying the key a few calls at a time, then writes the page's
 * outcomes to the workspace's `refusals.jsonl` and its keyring audit entries
 * with one fsync each. The journal and each write stay the same size
 * whatever the number of requisitions. The Kingdom has no batch refusal;
 * RefuseRequisition also fails the measurement and withdraws its other
 * requisitions, so each is its own transaction.
 *
 * Resume: a refused requisition is no longer UNFULFILLED, so a re-run lists
 * only what is still to do. Before a page is refused its names and page
 * token are recorded (`refuse-progress.json`); a run killed after refusing
 * and before recording finds them there, refused with this procedure's
 * message, and records them then: each is refused, audited and listed once.
 *
 * Journals of earlier versions hold one `compromise.refuse-requisition` step
 * per requisition (outcomes in `refusals.json`); that step is kept.
 */
import type { KingdomClient } from '../../client/index.js';
import { Requisition_Refusal_Justification, Requisition_State, type Requisition } from '../../gen/wfa/measurement/api/v2alpha/requisition_pb.js';
import type { AuditRecord } from '../audit-log.js';
import { die } from '../journal/faults.js';
import type { StepContext, StepHandler } from '../journal/context.js';
import type { KeyringSession } from '../session.js';
import { ASSESSED_REQUISITIONS, ASSESSMENT_SAMPLE, type AssessedRequisition, type EncryptionKeyAssessment } from './assessment.js';
import { carriesKey, encryptionKeyBytes } from './keys.js';
import { listRequisitions, requisitionPages } from './kingdom-calls.js';
import { appendToList, listPath, readList, readRecord, recordOutcome, resetList, writeRecord } from './workspace.js';

/** What refusing one requisition came to. */
export interface Refusal {
  refused: boolean;
  measurement?: string;
  detail?: string;
}

/** One requisition's line in `refusals.jsonl`; a later line for the same requisition supersedes an earlier one. */
export interface RefusalLine extends Refusal {
  requisition: string;
}

/** The outcome list (`refusals.jsonl`); journals of earlier versions kept a map in `refusals.json`. */
export const REFUSALS = 'refusals';
const PROGRESS = 'refuse-progress';
/** The report's full list, one line per requisition. */
export const REPORT_REFUSALS = 'report-refusals';

/** Requisitions listed per page: the unit of the outcome and audit writes. */
export const REFUSAL_PAGE_SIZE = 50;
/** RefuseRequisition calls in flight at once. */
const REFUSALS_IN_FLIGHT = 6;

interface Progress {
  /** The page being worked on, to list again from on a resume. */
  pageToken: string;
  /** Its requisitions about to be refused; a resume records those refused but not yet recorded. */
  pending: string[];
}

/** The message of every refusal, naming the key; a resume recognizes its own refusals by it. */
export function refusalMessage(fingerprint: string): string {
  return `The requisition spec was encrypted to a compromised DataProvider encryption key (fingerprint ${fingerprint.slice(0, 16)}); re-create the measurement with the DataProvider's current public key.`;
}

function refusalAudit(name: string, measurement: string, detail = 'encrypted to a compromised key'): AuditRecord {
  return { action: 'requisition.refuse', resource: name, after: { justification: 'DECLINED', measurement }, outcome: 'ok', detail };
}

/** The outcome of each requisition handled so far, by name (the last line of each wins). */
export function refusalOutcomes(session: KeyringSession, journalId: string): Map<string, Refusal> {
  const out = new Map<string, Refusal>();
  for (const [name, r] of Object.entries(readRecord<Record<string, Refusal>>(session, journalId, REFUSALS) ?? {})) out.set(name, r);
  for (const { requisition, ...r } of readList<RefusalLine>(session, journalId, REFUSALS)) out.set(requisition, r);
  return out;
}

/** Runs `fn` on each item with at most `limit` in flight; every started call settles before the first failure is thrown. */
async function eachBounded<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure.err;
}

/**
 * Refuses one requisition listed UNFULFILLED. Answered by something else
 * meanwhile (fulfilled, or withdrawn with its measurement), it is not refused
 * and not an error, as the per-requisition step found it no longer listed.
 */
async function refuseOne(client: KingdomClient, r: Requisition, message: string): Promise<RefusalLine> {
  try {
    await client.requisitions.refuseRequisition({ name: r.name, refusal: { justification: Requisition_Refusal_Justification.DECLINED, message } });
    return { requisition: r.name, refused: true, measurement: r.measurement };
  } catch (err) {
    const now = await client.requisitions.getRequisition({ name: r.name });
    if (now.state === Requisition_State.UNFULFILLED) throw err;
    return { requisition: r.name, refused: false, detail: `no longer UNFULFILLED (${Requisition_State[now.state]})` };
  }
}

/**
 * The requisitions of the page a killed run was refusing, not recorded yet:
 * those this procedure refused are recorded as refused, those answered
 * otherwise as not; those still UNFULFILLED are left to the listing.
 */
async function recoverPending(ctx: StepContext, pending: readonly string[], message: string): Promise<{ lines: RefusalLine[]; audit: AuditRecord[] }> {
  const client = ctx.client();
  const lines: RefusalLine[] = [];
  const audit: AuditRecord[] = [];
  await eachBounded(pending, REFUSALS_IN_FLIGHT, async (name) => {
    const r = await client.requisitions.getRequisition({ name });
    if (r.state === Requisition_State.UNFULFILLED) return;
    const ours = r.state === Requisition_State.REFUSED && r.refusal?.justification === Requisition_Refusal_Justification.DECLINED && r.refusal.message === message;
    if (ours) {
      lines.push({ requisition: name, refused: true, measurement: r.measurement });
      audit.push(refusalAudit(name, r.measurement, 'encrypted to a compromised key (refused before a restart)'));
    } else {
      lines.push({ requisition: name, refused: false, detail: `no longer UNFULFILLED (${Requisition_State[r.state]})` });
    }
  });
  return { lines, audit };
}

export const refuseRequisitionsStep: StepHandler = {
  async run(ctx, step) {
    const s = ctx.session;
    const fingerprint = String(step.args?.fingerprint ?? '');
    const expected = Number(step.args?.expected ?? 0);
    const message = refusalMessage(fingerprint);
    const client = ctx.client();
    const seen = new Set(refusalOutcomes(s, ctx.journalId).keys());
    const handled = seen.size;
    let done = handled;
    let refused = 0;
    let thisRun = 0;
    let pages = 0;
    const progress = () => ctx.items?.(done, Math.max(expected, done));
    const record = (lines: readonly RefusalLine[], audit: readonly AuditRecord[]) => {
      appendToList(s, ctx.journalId, REFUSALS, lines);
      s.recordAll(audit);
      for (const l of lines) {
        if (!seen.has(l.requisition)) done += 1;
        seen.add(l.requisition);
      }
      progress();
    };
    progress();

    const last = readRecord<Progress>(s, ctx.journalId, PROGRESS);
    const unrecorded = (last?.pending ?? []).filter((name) => !seen.has(name));
    if (unrecorded.length > 0) {
      const recovered = await recoverPending(ctx, unrecorded, message);
      record(recovered.lines, recovered.audit);
    }

    for await (const page of requisitionPages(client, s.participant, [Requisition_State.UNFULFILLED], last?.pageToken ?? '', REFUSAL_PAGE_SIZE)) {
      const todo = page.items.filter((r) => carriesKey(encryptionKeyBytes(r.dataProviderPublicKey), fingerprint));
      if (todo.length === 0) continue;
      const n = ++pages;
      // Recorded first: a kill after a refusal below finds the name here, not in the (UNFULFILLED) listing.
      writeRecord(s, ctx.journalId, PROGRESS, { pageToken: page.pageToken, pending: todo.map((r) => r.name) } satisfies Progress);
      const lines: RefusalLine[] = [];
      const audit: AuditRecord[] = [];
      let failure: { err: unknown } | undefined;
      try {
        await eachBounded(todo, REFUSALS_IN_FLIGHT, async (r) => {
          const line = await refuseOne(client, r, message);
          lines.push(line);
          if (!line.refused) return;
          audit.push(refusalAudit(r.name, r.measurement));
          thisRun += 1;
          if (ctx.faultAfterItem === thisRun) die();
        });
      } catch (err) {
        failure = { err };
      }
      if (ctx.faultAfterPage === n) die();
      // What was refused before a failure is recorded too; the step then fails and a re-run continues here.
      record(lines, audit);
      refused += audit.length;
      if (failure !== undefined) throw failure.err;
    }
    writeRecord(s, ctx.journalId, PROGRESS, { pageToken: '', pending: [] } satisfies Progress);
    return `${refused} requisition(s) refused in this run, ${done} handled in all${handled > 0 ? ` (${handled} before a restart)` : ''}`;
  },
  async preview(_ctx, step) {
    return `would page through the UNFULFILLED requisitions and refuse each whose spec was encrypted to key ${String(step.args?.fingerprint ?? '').slice(0, 16)}… (about ${String(step.args?.expected ?? '?')}) with RefuseRequisition (DECLINED, naming the key), ${REFUSALS_IN_FLIGHT} calls at a time`;
  },
};

/** The step of journals from earlier versions: one requisition, found by listing all of them. */
export const refuseRequisitionStep: StepHandler = {
  async run(ctx, step) {
    const s = ctx.session;
    const name = String(step.args?.requisition ?? '');
    const client = ctx.client();
    const open = (await listRequisitions(client, s.participant, [Requisition_State.UNFULFILLED])).find((r) => r.name === name);
    if (!open) {
      recordOutcome(s, ctx.journalId, REFUSALS, name, { refused: false, detail: 'no longer UNFULFILLED' });
      return `${name} is no longer UNFULFILLED; nothing to refuse`;
    }
    const message = refusalMessage(String(step.args?.fingerprint ?? ''));
    await client.requisitions.refuseRequisition({ name, refusal: { justification: Requisition_Refusal_Justification.DECLINED, message } });
    recordOutcome(s, ctx.journalId, REFUSALS, name, { refused: true, measurement: open.measurement });
    s.record(refusalAudit(name, open.measurement));
    return `refused ${name} (${open.measurement})`;
  },
  async preview(_ctx, step) {
    return `would call RefuseRequisition on ${String(step.args?.requisition)} (DECLINED, naming the compromised key)`;
  },
};

/** The report's part on refusals: counts, a sample, and the full list written to the workspace. */
export interface RefusalReport {
  /** Requisitions assessed or found by the step. */
  count: number;
  refused: number;
  /** The first ASSESSMENT_SAMPLE, refused or not. */
  sample: Array<{ requisition: string; measurement?: string; refused: boolean; detail: string }>;
  /** Every one, a JSON line each. */
  list: string;
  /** The first ASSESSMENT_SAMPLE refused ones, for the report's failed requisitions and re-runs. */
  refusedSample: Array<{ requisition: string; measurement: string }>;
}

/** How many lines the report's list is written with at once. */
const REPORT_BATCH = 1000;

export function refusalReport(session: KeyringSession, journalId: string, a: EncryptionKeyAssessment): RefusalReport {
  const outcomes = refusalOutcomes(session, journalId);
  const listed = a.requisitionCount !== undefined;
  const assessed: Iterable<AssessedRequisition> = listed ? readList<AssessedRequisition>(session, journalId, ASSESSED_REQUISITIONS) : a.requisitions;
  const out: RefusalReport = { count: 0, refused: 0, sample: [], list: listPath(session, journalId, REPORT_REFUSALS), refusedSample: [] };
  let batch: RefusalReport['sample'] = [];
  const add = (requisition: string, assessedMeasurement: string | undefined, r: Refusal | undefined) => {
    // One the paged step did not list had been answered by then; a per-requisition step not run is unprocessed.
    const measurement = r?.measurement ?? assessedMeasurement;
    const row = { requisition, ...(measurement ? { measurement } : {}), refused: r?.refused ?? false, detail: r?.detail ?? (r?.refused ? 'refused' : listed ? 'no longer UNFULFILLED when the refusals ran' : 'not processed') };
    out.count += 1;
    if (row.refused) {
      out.refused += 1;
      if (out.refusedSample.length < ASSESSMENT_SAMPLE) out.refusedSample.push({ requisition, measurement: measurement ?? requisition });
    }
    if (out.sample.length < ASSESSMENT_SAMPLE) out.sample.push(row);
    batch.push(row);
    if (batch.length >= REPORT_BATCH) flush();
  };
  // Started afresh by the first batch (a report is rebuilt on a re-run); nothing written when there is nothing to refuse.
  let started = false;
  const flush = () => {
    if (!started) resetList(session, journalId, REPORT_REFUSALS);
    started = true;
    appendToList(session, journalId, REPORT_REFUSALS, batch);
    batch = [];
  };
  const seen = new Set<string>();
  for (const r of assessed) {
    if (seen.has(r.name)) continue;
    seen.add(r.name);
    add(r.name, r.measurement, outcomes.get(r.name));
  }
  // Found at the Kingdom by the paged step though not assessed (created with the old key after the assessment).
  for (const [name, r] of outcomes) if (!seen.has(name)) add(name, undefined, r);
  if (batch.length > 0) flush();
  return out;
}
