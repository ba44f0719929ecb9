/**
 * A DataProvider answers the Kingdom's metadata re-encryption requests: for
 * each whose EventGroup is still encrypted to the leaked key, it encrypts its
 * own plaintext copy of the EventGroup.Metadata to the MeasurementConsumer's
 * current key (verified against the MC's root once per MC and run, see
 * peer-keys.ts); the others (deleted, or re-encrypted before) are only closed.
 *
 * One journaled step works through the open requests a page at a time
 * (keyset paging at the Kingdom; each request carries its group's reference
 * id and whether it is still encrypted to the key, so no group is read):
 * local encryption, one BatchReencryptEventGroups that updates the groups
 * and closes the requests in one transaction, then the page's keyring audit
 * entries and outcomes, each written with one fsync. A few pages are in
 * flight at once; memory holds only those, whatever the number of requests.
 *
 * Resume: a closed request is no longer listed, so a re-run skips answered
 * pages. A page's answers are written down before they are sent
 * (`in-flight-<request>.json`) and the note removed once recorded: a run
 * killed in between finds the note, and each request it names that is no
 * longer open was answered by the Kingdom, so its entries are recorded then.
 *
 * A page whose plaintext copy is missing (or unreadable) fails before
 * anything of it is sent: nothing of that page is half-done, earlier pages
 * stay done, and the run stops with the file to put in place; running the
 * command again continues from that page.
 *
 * The plaintext comes from `compromise.eventGroupMetadata`: one file per
 * EventGroup, `<event_group_reference_id>.binpb`, a serialized
 * `EventGroup.Metadata`, kept by the DataProvider's tooling when it creates
 * the group. Nothing is decrypted.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { create, fromBinary, type MessageInitShape } from '@bufbuild/protobuf';
import type { KingdomClient } from '../../client/index.js';
import { encryptMessage } from '../../crypto/index.js';
import {
  BatchReencryptEventGroupsResponse_Result_Outcome as Outcome,
  MetadataReencryptionRequestSchema,
  type EventGroupReencryptionSchema,
  type ListMetadataReencryptionRequestsResponse,
  type MetadataReencryptionRequest,
} from '../../gen/halo/keys/v1/event_group_metadata_reencryption_pb.js';
import { EventGroup_MetadataSchema, type EventGroup_Metadata } from '../../gen/wfa/measurement/api/v2alpha/event_group_pb.js';
import { hex } from '../../lib/bytes.js';
import { FileError, readFileBytes } from '../../lib/files.js';
import type { AuditRecord } from '../audit-log.js';
import { RotationError } from '../errors.js';
import { die } from '../journal/faults.js';
import type { StepContext, StepHandler } from '../journal/context.js';
import { sha256 } from './keys.js';
import { type PeerKey, verifiedPeerKey } from './peer-keys.js';
import { appendToList, readList, readRecord, workspaceDir, writeRecord } from './workspace.js';

export interface ReencryptionOutcome {
  request: string;
  reencrypted: boolean;
  detail: string;
}

/** Where the outcomes of `reencrypt.open-requests` are appended, one JSON line per request answered. */
export const REENCRYPTION_OUTCOMES = 'event-groups';

/**
 * A line of the outcomes list: a request answered (`key` is its EventGroup),
 * tagged with its page, or the mark that a page's requests were closed. Each
 * page's lines are appended with its mark once the Kingdom took it; lists of
 * earlier versions, whose re-runs answered a page again, have pages without a
 * mark, and the report merges their repeats while holding only those.
 */
export type ReencryptionLine = ({ key: string; page?: string } & ReencryptionOutcome) | { closed: string };

/** Requests per page by default (the help of `--page-size` says it too): one BatchReencryptEventGroups each, at most 1000. */
export const REENCRYPTION_PAGE_SIZE = 200;
/** Requests listed at once (the most a list page holds), so the next pages are at hand while the Kingdom writes. */
const LIST_PAGE_SIZE = 1000;
/** Pages worked on at once: the Kingdom writes one while the next is encrypted. */
const PAGES_IN_FLIGHT = 3;
/** Groups encrypted between two turns of the event loop. */
const YIELD_EVERY = 16;
/** Notes of pages sent and not yet recorded: `in-flight-<request id>.json` in the workspace. */
const IN_FLIGHT = 'in-flight-';

/** The DataProvider's plaintext metadata of a group. */
export function ownMetadata(dir: string, referenceId: string): EventGroup_Metadata {
  if (!/^[A-Za-z0-9][A-Za-z0-9._~-]*$/.test(referenceId)) {
    throw new RotationError('PLAINTEXT_MISSING', `event_group_reference_id "${referenceId.slice(0, 80)}" cannot name a metadata file`);
  }
  const file = join(dir, `${referenceId}.binpb`);
  try {
    return fromBinary(EventGroup_MetadataSchema, readFileBytes(file, 'EventGroup metadata'));
  } catch (err) {
    const missing = err instanceof FileError && err.code === 'FILE_NOT_FOUND';
    throw new RotationError('PLAINTEXT_MISSING', missing ? `no metadata copy ${file}: put the plaintext EventGroup.Metadata there and run again` : `${file} is not a serialized EventGroup.Metadata`, { cause: err });
  }
}

/** An MC's current key and its hex SHA-256, the fingerprint a request names. */
type CurrentKey = PeerKey & { sha256: string };

/** Each MC's current key, fetched, verified and fingerprinted once per run however many of its groups there are. */
class PeerKeys {
  readonly #keys = new Map<string, Promise<CurrentKey>>();
  constructor(private readonly client: KingdomClient, private readonly trustedRoots: string, private readonly at: Date) {}

  get(consumer: string): Promise<CurrentKey> {
    let key = this.#keys.get(consumer);
    if (key === undefined) {
      key = verifiedPeerKey(this.client, consumer, this.trustedRoots, this.at).then((peer) => ({ ...peer, sha256: hex(sha256(peer.bytes)) }));
      this.#keys.set(consumer, key);
    }
    return key;
  }
}

interface PageWork {
  readonly dataProvider: string;
  readonly metadataDir: string;
  readonly keys: PeerKeys;
}

/** What one answer sent: enough to record it once the Kingdom has taken it, in this run or after a restart. */
interface SentAnswer {
  request: string;
  eventGroup: string;
  measurementConsumer: string;
  /** Hex SHA-256 of the leaked key the request names. */
  fingerprint: string;
  /** The key re-encrypted to (hex SHA-256) and its certificate; absent when the answer only closes. */
  reencryptedTo?: { keySha256: string; certificate: string };
}

/** The keyring audit entries and outcomes of answers the Kingdom took; `outcomes` absent: as sent (answered by a run that was killed). */
function recordAnswers(ctx: StepContext, sent: readonly SentAnswer[], outcomes?: readonly Outcome[]): number {
  if (sent.length === 0) return 0;
  const audit: AuditRecord[] = [];
  const page = randomBytes(6).toString('hex');
  const lines: ReencryptionLine[] = [];
  const note = outcomes === undefined ? ' (answered by an interrupted run, recorded after the restart)' : '';
  let reencrypted = 0;
  for (const [i, a] of sent.entries()) {
    const outcome = outcomes?.[i] ?? (a.reencryptedTo !== undefined ? Outcome.REENCRYPTED : Outcome.CLOSED);
    if (outcome === Outcome.REENCRYPTED && a.reencryptedTo !== undefined) {
      reencrypted++;
      const { keySha256, certificate } = a.reencryptedTo;
      audit.push({ action: 'event-group.reencrypt', resource: a.eventGroup, before: { keySha256: a.fingerprint }, after: { keySha256, certificate, request: a.request }, outcome: 'ok', ...(note ? { detail: note.trim() } : {}) });
      lines.push({ key: a.eventGroup, page, request: a.request, reencrypted: true, detail: `re-encrypted to key ${keySha256.slice(0, 16)}… of ${a.measurementConsumer}${note}` });
    } else if (outcome === Outcome.ALREADY_CLOSED) {
      lines.push({ key: a.eventGroup, page, request: a.request, reencrypted: false, detail: 'request already closed' });
    } else {
      const detail = `no longer encrypted to the compromised key (deleted, or re-encrypted before): request closed${note}`;
      audit.push({ action: 'reencryption-request.close', resource: a.request, outcome: 'ok', detail: `${a.eventGroup}: ${detail}` });
      lines.push({ key: a.eventGroup, page, request: a.request, reencrypted: false, detail });
    }
  }
  lines.push({ closed: page });
  appendToList(ctx.session, ctx.journalId, REENCRYPTION_OUTCOMES, lines);
  ctx.session.recordAll(audit);
  return reencrypted;
}

/** A page's answers, ready to send, and what each sent. */
interface PreparedPage {
  readonly answers: Array<MessageInitShape<typeof EventGroupReencryptionSchema>>;
  readonly sent: SentAnswer[];
}

/**
 * Encrypts a page. Everything that can fail locally (key, plaintext) fails
 * here, before anything of the page is sent.
 */
async function preparePage(work: PageWork, requests: readonly MetadataReencryptionRequest[]): Promise<PreparedPage> {
  const answers: PreparedPage['answers'] = [];
  const sent: SentAnswer[] = [];
  for (const [i, r] of requests.entries()) {
    // Encrypting is synchronous: let the pages already sent go out, and answers come in, every few groups.
    if (i % YIELD_EVERY === YIELD_EVERY - 1) await new Promise((resolve) => setImmediate(resolve));
    const base = { request: r.name, eventGroup: r.eventGroup, measurementConsumer: r.measurementConsumer, fingerprint: hex(r.measurementConsumerKeyFingerprint) };
    if (!r.stillEncryptedToKey) {
      answers.push({ request: r.name });
      sent.push(base);
      continue;
    }
    const peer = await work.keys.get(r.measurementConsumer);
    if (peer.sha256 === base.fingerprint) {
      throw new RotationError('PRECONDITION_FAILED', `${r.measurementConsumer} still publishes the compromised key; run again once it has rotated`);
    }
    answers.push({
      request: r.name,
      encryptedMetadata: encryptMessage(peer.keyset, EventGroup_MetadataSchema, ownMetadata(work.metadataDir, r.eventGroupReferenceId)),
      measurementConsumerPublicKey: peer.signed.message!,
      signedMeasurementConsumerPublicKey: peer.signed,
    });
    sent.push({ ...base, reencryptedTo: { keySha256: peer.sha256, certificate: peer.certificate } });
  }
  return { answers, sent };
}

/** Notes, sends and records a prepared page. Returns how many groups it re-encrypted. */
async function sendPage(ctx: StepContext, work: PageWork, page: PreparedPage, pageNumber: number): Promise<number> {
  // Noted before it is sent: a kill after the Kingdom took the page and before it is recorded loses no entry.
  const note = `${IN_FLIGHT}${page.sent[0]!.request.split('/').at(-1)}`;
  writeRecord(ctx.session, ctx.journalId, note, page.sent);
  const response = await ctx.client().metadataReencryption.batchReencryptEventGroups({ parent: work.dataProvider, reencryptions: page.answers });
  if (ctx.faultAfterPage === pageNumber) die();
  const reencrypted = recordAnswers(ctx, page.sent, response.results.map((r) => r.outcome));
  rmSync(join(workspaceDir(ctx.session, ctx.journalId), `${note}.json`), { force: true });
  return reencrypted;
}

/** Answers an interrupted run sent and did not record, by request name (at most the pages it had in flight). */
function unrecordedAnswers(ctx: StepContext): { answers: Map<string, SentAnswer>; notes: string[] } {
  const notes = readdirSync(workspaceDir(ctx.session, ctx.journalId)).filter((f) => f.startsWith(IN_FLIGHT) && f.endsWith('.json'));
  const answers = new Map<string, SentAnswer>();
  for (const f of notes) for (const a of readRecord<SentAnswer[]>(ctx.session, ctx.journalId, f.slice(0, -'.json'.length)) ?? []) answers.set(a.request, a);
  // Killed after the record, before the note was removed: already recorded.
  if (answers.size > 0) for (const o of readList<ReencryptionLine>(ctx.session, ctx.journalId, REENCRYPTION_OUTCOMES)) if ('request' in o) answers.delete(o.request);
  return { answers, notes };
}

export const reencryptOpenRequestsStep: StepHandler = {
  async run(ctx, step) {
    const client = ctx.client();
    const work: PageWork = {
      dataProvider: ctx.session.participant,
      metadataDir: String(step.args?.metadataDir ?? ''),
      keys: new PeerKeys(client, String(step.args?.trustedRoots ?? ''), ctx.session.now()),
    };
    const pageSize = Number(step.args?.pageSize ?? REENCRYPTION_PAGE_SIZE);
    const list = (pageToken: string): Promise<ListMetadataReencryptionRequestsResponse> =>
      client.metadataReencryption.listMetadataReencryptionRequests({ parent: work.dataProvider, pageSize: LIST_PAGE_SIZE, pageToken });
    // A request an interrupted run answered is either listed again (the Kingdom did not take it) or closed (it did).
    const unrecorded = unrecordedAnswers(ctx);
    let total = 0;
    let done = 0;
    let reencrypted = 0;
    let pages = 0;
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    let next: Promise<ListMetadataReencryptionRequestsResponse> | undefined = list('');
    let first = true;
    try {
      while (next !== undefined && failure === undefined) {
        const listed: ListMetadataReencryptionRequestsResponse = await next;
        if (first) {
          first = false;
          total = listed.totalSize;
          ctx.items?.(0, total);
        }
        // The next list page is fetched while this one is answered: paging is by key, so closing these requests moves nothing.
        next = listed.nextPageToken !== '' ? list(listed.nextPageToken) : undefined;
        for (const r of listed.requests) unrecorded.answers.delete(r.name);
        for (let at = 0; at < listed.requests.length && failure === undefined; at += pageSize) {
          const requests = listed.requests.slice(at, at + pageSize);
          const n = ++pages;
          // Pages are encrypted one after the other (the work is the CPU's) while the Kingdom takes those sent.
          const prepared = await preparePage(work, requests);
          while (inFlight.size >= PAGES_IN_FLIGHT) await Promise.race(inFlight);
          const task = sendPage(ctx, work, prepared, n).then(
            (count) => {
              reencrypted += count;
              done += requests.length;
              ctx.items?.(done, Math.max(total, done));
            },
            (err: unknown) => {
              failure ??= err;
            },
          );
          const tracked: Promise<void> = task.finally(() => inFlight.delete(tracked));
          inFlight.add(tracked);
        }
      }
    } catch (err) {
      failure ??= err;
    }
    // A failed page stops new ones; those in flight finish (or fail) on their own before the step reports.
    await Promise.all(inFlight);
    await next?.catch(() => undefined);
    if (failure !== undefined) throw failure;
    // Every open request was listed: those of the interrupted run not seen again are the ones the Kingdom took.
    const late = recordAnswers(ctx, [...unrecorded.answers.values()]);
    for (const f of unrecorded.notes) rmSync(join(workspaceDir(ctx.session, ctx.journalId), f), { force: true });
    const restarted = unrecorded.answers.size > 0 ? ` (${unrecorded.answers.size} answered before a restart, ${late} of them re-encrypted)` : '';
    return `${done} request(s) answered in ${pages} page(s): ${reencrypted} EventGroup(s) re-encrypted, ${done - reencrypted} only closed${restarted}`;
  },
  async preview(ctx, step) {
    const page = await ctx.client().metadataReencryption.listMetadataReencryptionRequests({ parent: ctx.session.participant, pageSize: 1 });
    const pageSize = Number(step.args?.pageSize ?? REENCRYPTION_PAGE_SIZE);
    return `would re-encrypt the metadata of the EventGroups of ${page.totalSize} open request(s) to each MeasurementConsumer's current key (verified against ${String(step.args?.trustedRoots ?? '')}), updating the groups and closing the requests with one BatchReencryptEventGroups per ${pageSize}`;
  },
};

/**
 * `reencrypt.event-group`: one request per step, as journals written before
 * the paged step hold them; answered as a page of one (its group's state and
 * reference id read from the group).
 */
export const reencryptEventGroupStep: StepHandler = {
  async run(ctx, step) {
    const a = step.args ?? {};
    const client = ctx.client();
    const eventGroup = await client.eventGroups.getEventGroup({ name: String(a.eventGroup ?? '') });
    const fingerprint = String(a.fingerprint ?? '');
    const current = eventGroup.measurementConsumerPublicKey?.value;
    const request = create(MetadataReencryptionRequestSchema, {
      name: String(a.request ?? ''),
      eventGroup: eventGroup.name,
      measurementConsumer: String(a.measurementConsumer ?? ''),
      measurementConsumerKeyFingerprint: new Uint8Array(Buffer.from(fingerprint, 'hex')),
      eventGroupReferenceId: eventGroup.eventGroupReferenceId,
      stillEncryptedToKey: eventGroup.encryptedMetadata !== undefined && current !== undefined && hex(sha256(current)) === fingerprint,
    });
    const work: PageWork = {
      dataProvider: ctx.session.participant,
      metadataDir: String(a.metadataDir ?? ''),
      keys: new PeerKeys(client, String(a.trustedRoots ?? ''), ctx.session.now()),
    };
    const count = await sendPage(ctx, work, await preparePage(work, [request]), 1);
    return `${request.eventGroup}: ${count === 1 ? 're-encrypted' : 'no longer encrypted to the compromised key'}; request closed`;
  },
  async preview(_ctx, step) {
    return `would re-encrypt the metadata of ${String(step.args?.eventGroup)} to the current key of ${String(step.args?.measurementConsumer)} and close ${String(step.args?.request)} with BatchReencryptEventGroups`;
  },
};
