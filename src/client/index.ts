export { createKingdomClient, kingdomClientOver } from './kingdom-client.js';
export type { KingdomClient, KingdomClientOptions } from './kingdom-client.js';
export { createKingdomTransport, resolveTarget } from './transport.js';
export type { KingdomTransportOptions, ResolvedTarget } from './transport.js';
export { KingdomClientError, toKingdomClientError } from './errors.js';
export type { KingdomClientErrorCode } from './errors.js';
