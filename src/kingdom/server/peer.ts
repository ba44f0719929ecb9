/**
 * What the TLS connection says about the caller, turned into context values
 * for the handlers: the client leaf (only when it chained to a trusted root)
 * and the `x-api-key` header. The TLS layer accepts untrusted or missing
 * client certificates on purpose, so that such callers get an RPC-level
 * UNAUTHENTICATED that says what is wrong instead of a bare handshake failure.
 */
import type { TLSSocket } from 'node:tls';
import { Code, ConnectError, createContextKey, createContextValues, type ContextValues, type Interceptor } from '@connectrpc/connect';
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import { peerKey, type PeerIdentity } from '../service/authentication.js';
import { unauthenticated } from '../service/errors.js';

/** The TLS facts behind the peer identity, for error messages and logs. */
export interface TlsPeer {
  /** The client presented a certificate. */
  readonly presented: boolean;
  /** It chained to a trusted root. */
  readonly authorized: boolean;
  /** OpenSSL's reason when it did not (e.g. UNABLE_TO_GET_ISSUER_CERT). */
  readonly authorizationError?: string;
}

const ADMIN_SERVICE = 'halo.keys.v1.KingdomAdmin';

export const tlsPeerKey = createContextKey<TlsPeer | undefined>(undefined, { description: 'TLS peer' });

type NodeServerRequest = IncomingMessage | Http2ServerRequest;

interface SocketFacts {
  readonly tls: TlsPeer;
  readonly clientCertificate?: Uint8Array;
}

// One TLS connection carries many calls: read its certificate once.
const bySocket = new WeakMap<object, SocketFacts>();

function tlsSocketOf(req: NodeServerRequest): TLSSocket | undefined {
  const stream = (req as { stream?: { session?: { socket?: unknown } } }).stream;
  const socket = stream?.session?.socket ?? req.socket;
  return socket && typeof (socket as TLSSocket).getPeerX509Certificate === 'function' ? (socket as TLSSocket) : undefined;
}

function factsOf(socket: TLSSocket): SocketFacts {
  const known = bySocket.get(socket);
  if (known) return known;
  // The leaf is the first certificate of whatever chain the client sent.
  const leaf = socket.getPeerX509Certificate();
  const authorized = socket.authorized === true && leaf !== undefined;
  const reason = socket.authorizationError;
  const tls: TlsPeer = {
    presented: leaf !== undefined,
    authorized,
    ...(!authorized && reason ? { authorizationError: String(reason instanceof Error ? (reason as NodeJS.ErrnoException).code ?? reason.message : reason) } : {}),
  };
  const facts: SocketFacts = authorized ? { tls, clientCertificate: new Uint8Array(leaf.raw) } : { tls };
  bySocket.set(socket, facts);
  return facts;
}

/** `contextValues` for connectNodeAdapter. */
export function peerContextValues(req: NodeServerRequest): ContextValues {
  const values = createContextValues();
  const socket = tlsSocketOf(req);
  const facts = socket ? factsOf(socket) : undefined;
  const header = req.headers['x-api-key'];
  const apiKey = Array.isArray(header) ? header[0] : header;
  const peer: PeerIdentity = {
    ...(facts?.clientCertificate ? { clientCertificate: facts.clientCertificate } : {}),
    ...(apiKey !== undefined ? { apiKey } : {}),
  };
  values.set(peerKey, peer);
  values.set(tlsPeerKey, facts?.tls);
  return values;
}

/**
 * Rewrites a bare UNAUTHENTICATED into one that names what to fix, from the
 * TLS facts: no client certificate, or one that does not chain to a root the
 * Kingdom trusts. API-key failures keep their own message.
 */
export const unauthenticatedDetailInterceptor: Interceptor = (next) => async (req) => {
  try {
    return await next(req);
  } catch (err) {
    if (!(err instanceof ConnectError) || err.code !== Code.Unauthenticated) throw err;
    // API keys and the admin token have their own messages.
    if (req.contextValues.get(peerKey).apiKey !== undefined || req.service.typeName === ADMIN_SERVICE) throw err;
    const tls = req.contextValues.get(tlsPeerKey);
    if (!tls) throw err;
    if (!tls.presented) {
      throw unauthenticated('no client certificate: connect with mTLS using a certificate issued under your registered root');
    }
    if (!tls.authorized) {
      throw unauthenticated(
        `client certificate not trusted by the Kingdom (${tls.authorizationError ?? 'untrusted'}): its root must be registered with the Kingdom or listed in --trusted-roots`,
      );
    }
    throw unauthenticated(`${err.rawMessage}: the client certificate's authority key identifier maps to no principal`);
  }
};
