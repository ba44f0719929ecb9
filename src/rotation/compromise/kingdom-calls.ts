/**
 * The Kingdom as the compromise procedures use it: listings that walk every
 * page, over the step context's typed client. Only public API methods plus
 * the halo.keys.v1 extensions (CertificateBlastRadius,
 * EventGroupMetadataReencryption) are used; an MC's measurements encrypted
 * to a key are found by listing and parsing specs.
 */
import type { KingdomClient } from '../../client/index.js';
import type { EventGroup } from '../../gen/wfa/measurement/api/v2alpha/event_group_pb.js';
import type { Measurement, Measurement_State } from '../../gen/wfa/measurement/api/v2alpha/measurement_pb.js';
import type { Requisition, Requisition_State } from '../../gen/wfa/measurement/api/v2alpha/requisition_pb.js';

const PAGE = 100;
/** EventGroups are small: fewer round trips for the 100,000s an MC may have. */
const LARGE_PAGE = 1000;
const MAX_PAGES = 10_000;

async function allPages<T>(fetch: (pageToken: string) => Promise<{ items: T[]; next: string }>): Promise<T[]> {
  const out: T[] = [];
  let token = '';
  for (let i = 0; i < MAX_PAGES; i++) {
    const page = await fetch(token);
    out.push(...page.items);
    token = page.next;
    if (!token) break;
  }
  return out;
}

export function listMeasurements(client: KingdomClient, parent: string, states: Measurement_State[] = []): Promise<Measurement[]> {
  return allPages(async (pageToken) => {
    const r = await client.measurements.listMeasurements({ parent, pageSize: PAGE, pageToken, filter: { states } });
    return { items: r.measurements, next: r.nextPageToken };
  });
}

export function listRequisitions(client: KingdomClient, parent: string, states: Requisition_State[] = []): Promise<Requisition[]> {
  return allPages(async (pageToken) => {
    const r = await client.requisitions.listRequisitions({ parent, pageSize: PAGE, pageToken, filter: { states } });
    return { items: r.requisitions, next: r.nextPageToken };
  });
}

export function listEventGroups(client: KingdomClient, parent: string): Promise<EventGroup[]> {
  return allPages(async (pageToken) => {
    const r = await client.eventGroups.listEventGroups({ parent, pageSize: PAGE, pageToken });
    return { items: r.eventGroups, next: r.nextPageToken };
  });
}

/** Each page of the MC's measurements in these states, from `pageToken`: only one page is held at a time. */
export async function* measurementPages(client: KingdomClient, parent: string, states: Measurement_State[], pageToken = ''): AsyncGenerator<{ items: Measurement[]; pageToken: string; next: string }> {
  let token = pageToken;
  for (let i = 0; i < MAX_PAGES; i++) {
    const r = await client.measurements.listMeasurements({ parent, pageSize: PAGE, pageToken: token, filter: { states } });
    yield { items: r.measurements, pageToken: token, next: r.nextPageToken };
    if (!r.nextPageToken) return;
    token = r.nextPageToken;
  }
}

/**
 * Each page of the DataProvider's requisitions in these states, from
 * `pageToken`: only one page is held at a time. Paging is by requisition id,
 * so refusing the requisitions of a page moves none of the next.
 */
export async function* requisitionPages(client: KingdomClient, parent: string, states: Requisition_State[], pageToken = '', pageSize = PAGE): AsyncGenerator<{ items: Requisition[]; pageToken: string; next: string }> {
  let token = pageToken;
  for (let i = 0; i < MAX_PAGES; i++) {
    const r = await client.requisitions.listRequisitions({ parent, pageSize, pageToken: token, filter: { states } });
    yield { items: r.requisitions, pageToken: token, next: r.nextPageToken };
    if (!r.nextPageToken) return;
    token = r.nextPageToken;
  }
}

/** Each page of the EventGroups shared with the MC. */
export async function* eventGroupPages(client: KingdomClient, parent: string): AsyncGenerator<EventGroup[]> {
  let token = '';
  for (let i = 0; i < MAX_PAGES; i++) {
    const r = await client.eventGroups.listEventGroups({ parent, pageSize: LARGE_PAGE, pageToken: token });
    yield r.eventGroups;
    if (!r.nextPageToken) return;
    token = r.nextPageToken;
  }
}
