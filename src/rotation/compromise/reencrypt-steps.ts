/**
 * A DataProvider answers the Kingdom's metadata re-encryption requests: for
 * each, it encrypts its own plaintext copy of the EventGroup.Metadata to the
 * MeasurementConsumer's current key (verified against the MC's root once per
 * MC and run, see peer-keys.ts), updates the EventGroup and closes the
 * request.
 *
 * One journaled step works through the open requests a page at a time
 * (keyset paging at the Kingdom, each page with its EventGroups), local
 * encryption, one BatchUpdateEventGroups, the page's keyring audit entries
 * and outcomes written with one fsync each, one
 * BatchCloseMetadataReencryptionRequests. A few pages are in flight at once.
 * Memory holds only those pages, whatever the number of requests.
 *
 * Resume: a closed request is no longer listed, so a re-run skips finished
 * pages; a group already re-encrypted whose request is still open (killed
 * before the close) is only closed, and its request recorded a second time
 * (the report merges the two: see ReencryptionLine).
 *
 * A page whose plaintext copy is missing (or unreadable) fails before any of
 * its groups is updated: nothing of that page is half-done, earlier pages
 * stay done, and the run stops with the file to put in place; running the
 * command again continues from that page.
 *
 * The plaintext comes from `compromise.eventGroupMetadata`: one file per
 * EventGroup, `<event_group_reference_id>.binpb`, a serialized
 * `EventGroup.Metadata`, kept by the DataProvider's tooling when it creates
 * the group. Nothing is decrypted.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { clone, create, fromBinary } from '@bufbuild/protobuf';
import type { KingdomClient } from '../../client/index.js';
import { encryptMessage } from '../../crypto/index.js';
import { MetadataReencryptionRequestSchema, type ListMetadataReencryptionRequestsResponse, type MetadataReencryptionRequest } from '../../gen/halo/keys/v1/event_group_metadata_reencryption_pb.js';
import { EventGroup_MetadataSchema, EventGroup_State, EventGroupSchema, type EventGroup, type EventGroup_Metadata } from '../../gen/wfa/measurement/api/v2alpha/event_group_pb.js';
import { hex } from '../../lib/bytes.js';
import { FileError, readFileBytes } from '../../lib/files.js';
import type { AuditRecord } from '../audit-log.js';
import { RotationError } from '../errors.js';
import { die } from '../journal/faults.js';
import type { StepContext, StepHandler } from '../journal/context.js';
import { encryptionKeyBytes, sha256 } from './keys.js';
import { type PeerKey, verifiedPeerKey } from './peer-keys.js';
import { appendToList } from './workspace.js';

export interface ReencryptionOutcome {
  request: string;
  reencrypted: boolean;
  detail: string;
}

/** Where the outcomes of `reencrypt.open-requests` are appended, one JSON line per request answered. */
export const REENCRYPTION_OUTCOMES = 'event-groups';

/**
 * A line of the outcomes list: a request answered (`key` is its EventGroup),
 * tagged with the page it was answered in, or the mark that a page's requests
 * were closed. A request is answered again only when its page has no mark (a
 * closed request is not listed again), so the report merges repeats while
 * holding only the requests of unmarked pages.
 */
export type ReencryptionLine = ({ key: string; page?: string } & ReencryptionOutcome) | { closed: string };

/** Requests per page: BatchUpdateEventGroups takes at most 50 updates. */
export const REENCRYPTION_PAGE_SIZE = 50;
/** Pages worked on at once: the Kingdom writes one while the next is encrypted. */
const PAGES_IN_FLIGHT = 3;

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

/** True while the group's metadata is still encrypted to the key with this fingerprint (hex). */
function stillEncryptedTo(eg: EventGroup, fingerprint: string): boolean {
  const current = encryptionKeyBytes(eg.measurementConsumerPublicKey);
  return eg.state !== EventGroup_State.DELETED && eg.encryptedMetadata !== undefined && current !== undefined && hex(sha256(current)) === fingerprint;
}

/** Each MC's current key, fetched and verified once per run however many of its groups there are. */
class PeerKeys {
  readonly #keys = new Map<string, Promise<PeerKey>>();
  constructor(private readonly client: KingdomClient, private readonly trustedRoots: string, private readonly at: Date) {}

  get(consumer: string): Promise<PeerKey> {
    let key = this.#keys.get(consumer);
    if (key === undefined) {
      key = verifiedPeerKey(this.client, consumer, this.trustedRoots, this.at);
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

/** One page: read, encrypt, update, record, close. Returns how many groups it re-encrypted. */
async function answerPage(ctx: StepContext, work: PageWork, requests: readonly MetadataReencryptionRequest[], pageNumber: number, listed: readonly EventGroup[] = []): Promise<number> {
  const s = ctx.session;
  const client = ctx.client();
  // The groups came with the page; a Kingdom that does not send them is asked for each.
  const groups = listed.length === requests.length && listed.every((g, i) => g.name === requests[i]!.eventGroup) ? listed : await Promise.all(requests.map((r) => client.eventGroups.getEventGroup({ name: r.eventGroup })));
  const updates: EventGroup[] = [];
  const audit: AuditRecord[] = [];
  const page = randomBytes(6).toString('hex');
  const outcomes: ReencryptionLine[] = [];
  // Everything that can fail locally (key, plaintext) is done before the first call that changes anything.
  for (const [i, r] of requests.entries()) {
    const eg = groups[i]!;
    const fingerprint = hex(r.measurementConsumerKeyFingerprint);
    if (!stillEncryptedTo(eg, fingerprint)) {
      // Only closed. Encrypted to the MC's current key: an interrupted run (or the DataProvider) already did it.
      const current = eg.state === EventGroup_State.DELETED ? undefined : encryptionKeyBytes(eg.measurementConsumerPublicKey);
      const peer = current !== undefined && eg.encryptedMetadata !== undefined ? await work.keys.get(r.measurementConsumer).catch(() => undefined) : undefined;
      const found = peer !== undefined && hex(sha256(current!)) === hex(sha256(peer.bytes));
      const detail = eg.state === EventGroup_State.DELETED ? 'deleted: nothing to re-encrypt' : found ? `found re-encrypted to key ${hex(sha256(current!)).slice(0, 16)}… of ${r.measurementConsumer}` : 'no longer encrypted to the compromised key';
      audit.push({ action: 'reencryption-request.close', resource: r.name, outcome: 'ok', detail: `${eg.name}: ${detail}` });
      outcomes.push({ key: eg.name, page, request: r.name, reencrypted: found, detail });
      continue;
    }
    const peer = await work.keys.get(r.measurementConsumer);
    const now = hex(sha256(peer.bytes));
    if (now === fingerprint) {
      throw new RotationError('PRECONDITION_FAILED', `${r.measurementConsumer} still publishes the compromised key; run again once it has rotated`);
    }
    const updated = clone(EventGroupSchema, eg);
    updated.encryptedMetadata = encryptMessage(peer.keyset, EventGroup_MetadataSchema, ownMetadata(work.metadataDir, eg.eventGroupReferenceId));
    updated.serializedEncryptedMetadata = new Uint8Array(0);
    updated.measurementConsumerPublicKey = peer.signed.message!;
    updated.signedMeasurementConsumerPublicKey = peer.signed;
    updates.push(updated);
    const detail = `re-encrypted to key ${now.slice(0, 16)}… of ${r.measurementConsumer}`;
    audit.push({ action: 'event-group.reencrypt', resource: eg.name, before: { keySha256: fingerprint }, after: { keySha256: now, certificate: peer.certificate, request: r.name }, outcome: 'ok' });
    outcomes.push({ key: eg.name, page, request: r.name, reencrypted: true, detail });
  }
  if (updates.length > 0) {
    await client.eventGroups.batchUpdateEventGroups({ parent: work.dataProvider, requests: updates.map((eventGroup) => ({ eventGroup })) });
  }
  // Recorded before the close: a kill after it finds these requests open, their groups done, and only closes them.
  appendToList(s, ctx.journalId, REENCRYPTION_OUTCOMES, outcomes);
  s.recordAll(audit);
  if (ctx.faultAfterPage === pageNumber) die();
  await client.metadataReencryption.batchCloseMetadataReencryptionRequests({ parent: work.dataProvider, names: requests.map((r) => r.name) });
  // Not synced: without the mark the report only holds this page's requests a while longer.
  appendToList(s, ctx.journalId, REENCRYPTION_OUTCOMES, [{ closed: page } satisfies ReencryptionLine], { sync: false });
  return updates.length;
}

export const reencryptOpenRequestsStep: StepHandler = {
  async run(ctx, step) {
    const s = ctx.session;
    const client = ctx.client();
    const work: PageWork = {
      dataProvider: s.participant,
      metadataDir: String(step.args?.metadataDir ?? ''),
      keys: new PeerKeys(client, String(step.args?.trustedRoots ?? ''), s.now()),
    };
    const list = (pageToken: string): Promise<ListMetadataReencryptionRequestsResponse> =>
      client.metadataReencryption.listMetadataReencryptionRequests({ parent: work.dataProvider, pageSize: REENCRYPTION_PAGE_SIZE, pageToken, includeEventGroups: true });
    let total = 0;
    let done = 0;
    let reencrypted = 0;
    let pages = 0;
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    let next: Promise<ListMetadataReencryptionRequestsResponse> | undefined = list('');
    try {
      while (next !== undefined && failure === undefined) {
        const page: ListMetadataReencryptionRequestsResponse = await next;
        if (pages === 0) {
          total = page.totalSize;
          ctx.items?.(0, total);
        }
        // The next page is listed while this one is worked on: paging is by key, so closing this page moves nothing.
        next = page.nextPageToken !== '' ? list(page.nextPageToken) : undefined;
        if (page.requests.length === 0) continue;
        const n = ++pages;
        const task = answerPage(ctx, work, page.requests, n, page.eventGroups).then(
          (count) => {
            reencrypted += count;
            done += page.requests.length;
            ctx.items?.(done, Math.max(total, done));
          },
          (err: unknown) => {
            failure ??= err;
          },
        );
        const tracked: Promise<void> = task.finally(() => inFlight.delete(tracked));
        inFlight.add(tracked);
        if (inFlight.size >= PAGES_IN_FLIGHT) await Promise.race(inFlight);
      }
    } catch (err) {
      failure ??= err;
    }
    // A failed page stops new ones; those in flight finish (or fail) on their own before the step reports.
    await Promise.all(inFlight);
    await next?.catch(() => undefined);
    if (failure !== undefined) throw failure;
    return `${done} request(s) answered in ${pages} page(s): ${reencrypted} EventGroup(s) re-encrypted, ${done - reencrypted} only closed`;
  },
  async preview(ctx, step) {
    const page = await ctx.client().metadataReencryption.listMetadataReencryptionRequests({ parent: ctx.session.participant, pageSize: 1 });
    return `would re-encrypt the metadata of the EventGroups of ${page.totalSize} open request(s) to each MeasurementConsumer's current key (verified against ${String(step.args?.trustedRoots ?? '')}), ${REENCRYPTION_PAGE_SIZE} per BatchUpdateEventGroups, and close each page's requests with one BatchCloseMetadataReencryptionRequests`;
  },
};

/**
 * `reencrypt.event-group`: one request per step, as journals written before
 * the paged step hold them; finished as a page of one.
 */
export const reencryptEventGroupStep: StepHandler = {
  async run(ctx, step) {
    const a = step.args ?? {};
    const request = create(MetadataReencryptionRequestSchema, {
      name: String(a.request ?? ''),
      eventGroup: String(a.eventGroup ?? ''),
      measurementConsumer: String(a.measurementConsumer ?? ''),
      measurementConsumerKeyFingerprint: new Uint8Array(Buffer.from(String(a.fingerprint ?? ''), 'hex')),
    });
    const work: PageWork = {
      dataProvider: ctx.session.participant,
      metadataDir: String(a.metadataDir ?? ''),
      keys: new PeerKeys(ctx.client(), String(a.trustedRoots ?? ''), ctx.session.now()),
    };
    const count = await answerPage(ctx, work, [request], 1);
    return `${request.eventGroup}: ${count === 1 ? 're-encrypted' : 'no longer encrypted to the compromised key'}; request closed`;
  },
  async preview(_ctx, step) {
    return `would re-encrypt the metadata of ${String(step.args?.eventGroup)} to the current key of ${String(step.args?.measurementConsumer)}, UpdateEventGroup, and close ${String(step.args?.request)}`;
  },
};
