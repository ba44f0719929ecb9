/** Public resource names of stored entities, for audit entries and error metadata. */
import { apiId } from './ids.js';
import { hex } from '../../lib/bytes.js';
import type { PartyKey } from './records.js';

/**
 * Public resource names, used for audit entries and error metadata so an
 * operator reads the same names the API shows.
 */
const COLLECTION = {
  DATA_PROVIDER: 'dataProviders',
  MEASUREMENT_CONSUMER: 'measurementConsumers',
  MODEL_PROVIDER: 'modelProviders',
  DUCHY: 'duchies',
} as const;

export function partyName(k: PartyKey): string {
  return `${COLLECTION[k.kind]}/${k.kind === 'DUCHY' ? k.id : apiId(k.id)}`;
}

export const certificateName = (owner: PartyKey, id: bigint) => `${partyName(owner)}/certificates/${apiId(id)}`;
export const publicKeyName = (owner: PartyKey) => `${partyName(owner)}/publicKey`;
export const measurementName = (mc: bigint, m: bigint) => `measurementConsumers/${apiId(mc)}/measurements/${apiId(m)}`;
export const requisitionName = (dp: bigint, r: bigint) => `dataProviders/${apiId(dp)}/requisitions/${apiId(r)}`;
export const eventGroupName = (dp: bigint, eg: bigint) => `dataProviders/${apiId(dp)}/eventGroups/${apiId(eg)}`;
export const apiKeyName = (mc: bigint, k: bigint) => `measurementConsumers/${apiId(mc)}/apiKeys/${apiId(k)}`;
export const reencryptionRequestName = (dp: bigint, eg: bigint, r: bigint) =>
  `${eventGroupName(dp, eg)}/metadataReencryptionRequests/${apiId(r)}`;
export const akidName = (akid: Uint8Array) => `authorityKeyIdentifiers/${hex(akid)}`;
