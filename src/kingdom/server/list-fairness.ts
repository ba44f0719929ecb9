/**
 * List calls are the Kingdom's heavy reads: each may read and encode up to
 * the message limit. One client running many of them at once fills the
 * database queue and the event loop, and every other participant's calls
 * wait behind them. Each caller (its client certificate, or its API key)
 * runs at most `perCaller` list calls at a time; the rest wait their turn
 * without holding anything but their request.
 */
import { createHash } from 'node:crypto';
import type { Interceptor } from '@connectrpc/connect';
import { sha256Hex } from '../../lib/index.js';
import { peerKey, type PeerIdentity } from '../service/authentication.js';

export const DEFAULT_LIST_CALLS_PER_CALLER = 2;

function callerOf(peer: PeerIdentity): string {
  if (peer.clientCertificate) return `cert:${sha256Hex(peer.clientCertificate)}`;
  if (peer.apiKey !== undefined) return `key:${createHash('sha256').update(peer.apiKey).digest('hex')}`;
  return 'anonymous';
}

export function listFairnessInterceptor(perCaller: number): Interceptor {
  // Only callers with a list call running or waiting have an entry.
  const lanes = new Map<string, { running: number; waiting: (() => void)[] }>();
  return (next) => async (req) => {
    if (!req.method.name.startsWith('List')) return next(req);
    const caller = callerOf(req.contextValues.get(peerKey));
    let lane = lanes.get(caller);
    if (!lane) {
      lane = { running: 0, waiting: [] };
      lanes.set(caller, lane);
    }
    if (lane.running >= perCaller) await new Promise<void>((resolve) => lane.waiting.push(resolve));
    else lane.running++;
    try {
      return await next(req);
    } finally {
      // A waiter takes over this call's slot.
      const wake = lane.waiting.shift();
      if (wake) wake();
      else if (--lane.running === 0) lanes.delete(caller);
    }
  };
}
