import type { Clock } from '../../lib/index.js';
import type { KingdomStore } from '../store/index.js';
import type { PrincipalResolver } from './authentication.js';

/**
 * `strict` (the default) adds checks upstream lacks: a registered certificate
 * must chain to its parent's root, be a leaf and be valid now, and
 * UpdatePublicKey verifies the signature against a valid, unrevoked
 * certificate. `compatible` reproduces upstream's behaviour.
 */
export type KingdomMode = 'strict' | 'compatible';

/** What every service handler needs. */
export interface KingdomServices {
  readonly store: KingdomStore;
  readonly clock: Clock;
  readonly mode: KingdomMode;
  readonly resolver: PrincipalResolver;
  /** The response message limit: list pages stop short of it (page-budget.ts). */
  readonly maxResponseBytes?: number;
  /** Called after an admin change that alters who is trusted (a new participant root). */
  readonly onTrustChanged?: () => void | Promise<void>;
}

/** The API version the Kingdom stores with public keys and renders type URLs for. */
export const API_VERSION = 'v2alpha';
