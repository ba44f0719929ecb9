/**
 * What the TLS connection says about the caller, turned into context values
 * for the handlers: the client leaf and the rest of the chain it sent (only
 * when they chain to a trusted root) and the `x-api-key` header. The TLS
 * layer accepts untrusted or missing client certificates on purpose, so that
 * such callers get an RPC-level UNAUTHENTICATED that says what is wrong
 * instead of a bare handshake failure. OpenSSL only proves that the client
 * holds the leaf's key; the chain is verified here, once per connection
 * (client-certificate.ts says why OpenSSL does not).
 */
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { Code, ConnectError, createContextKey, createContextValues, type ContextValues, type Interceptor } from '@connectrpc/connect';
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import { systemClock } from '../../lib/index.js';
import type { TrustStore } from '../../pki/index.js';
import { authenticationProblemKey, peerKey, type PeerIdentity } from '../service/authentication.js';
import { clientChainProblem, parseClientChain } from '../service/client-certificate.js';
import { unauthenticated } from '../service/errors.js';

/** The TLS facts behind the peer identity, for error messages and logs. */
export interface TlsPeer {
  /** The client presented a certificate. */
  readonly presented: boolean;
  /** It chained to a trusted root, as an end-entity certificate for clientAuth. */
  readonly authorized: boolean;
  /** What to fix when it did not. */
  readonly problem?: string;
}

const ADMIN_SERVICE = 'halo.keys.v1.KingdomAdmin';
/** Most certificates of a client chain looked at: a path is never longer. */
const MAX_CHAIN = 10;

export const tlsPeerKey = createContextKey<TlsPeer | undefined>(undefined, { description: 'TLS peer' });

type NodeServerRequest = IncomingMessage | Http2ServerRequest;

interface SocketFacts {
  readonly tls: TlsPeer;
  readonly clientCertificate?: Uint8Array;
  readonly clientChain?: readonly Uint8Array[];
}

/** The chain of one connection, judged on its first call. */
const pendingKey = createContextKey<(() => Promise<SocketFacts>) | undefined>(undefined, { description: 'TLS chain' });

// One TLS connection carries many calls: judge its certificate once.
const bySocket = new WeakMap<object, Promise<SocketFacts>>();

function tlsSocketOf(req: NodeServerRequest): TLSSocket | undefined {
  const stream = (req as { stream?: { session?: { socket?: unknown } } }).stream;
  const socket = stream?.session?.socket ?? req.socket;
  return socket && typeof (socket as TLSSocket).getPeerCertificate === 'function' ? (socket as TLSSocket) : undefined;
}

/** The certificates the client sent, leaf first (Node links them by issuer). */
function presentedChain(socket: TLSSocket): Uint8Array[] {
  const out: Uint8Array[] = [];
  let cert: PeerCertificate | undefined = socket.getPeerCertificate(true);
  const seen = new Set<PeerCertificate>();
  while (cert?.raw && !seen.has(cert) && out.length < MAX_CHAIN) {
    seen.add(cert);
    out.push(new Uint8Array(cert.raw));
    cert = (cert as { issuerCertificate?: PeerCertificate }).issuerCertificate;
  }
  return out;
}

async function judge(ders: readonly Uint8Array[], roots: TrustStore): Promise<SocketFacts> {
  if (ders.length === 0) return { tls: { presented: false, authorized: false } };
  const chain = parseClientChain(ders);
  let problem: string | undefined = 'client certificate does not parse as an X.509 certificate';
  try {
    if (chain) problem = (await clientChainProblem(chain, roots, systemClock.now()))?.message;
  } catch {
    // A validator fault on hostile input refuses this connection's certificate, never the server.
    problem = 'client certificate could not be verified';
  }
  if (problem !== undefined) return { tls: { presented: true, authorized: false, problem } };
  return { tls: { presented: true, authorized: true }, clientCertificate: ders[0]!, clientChain: ders.slice(1) };
}

export interface PeerAuthentication {
  /** `contextValues` for the node handler: the API key now, the chain's verdict in `interceptor`. */
  contextValues(req: NodeServerRequest): ContextValues;
  /**
   * Puts the verified client chain into the call's peer identity, then
   * rewrites a bare UNAUTHENTICATED into one that names what to fix: no
   * client certificate, one that does not verify under a root the Kingdom
   * trusts (or is not an end-entity certificate for clientAuth), or one whose
   * chain is not anchored at the root of the principal it names. API-key
   * failures keep their own message.
   */
  readonly interceptor: Interceptor;
}

/** `roots` gives the client roots trusted now; a connection is judged against those of its first call. */
export function peerAuthentication(roots: () => TrustStore): PeerAuthentication {
  const factsOf = (socket: TLSSocket): Promise<SocketFacts> => {
    let facts = bySocket.get(socket);
    if (facts === undefined) {
      facts = judge(presentedChain(socket), roots());
      bySocket.set(socket, facts);
    }
    return facts;
  };
  return {
    contextValues(req) {
      const values = createContextValues();
      const socket = tlsSocketOf(req);
      const header = req.headers['x-api-key'];
      const apiKey = Array.isArray(header) ? header[0] : header;
      values.set(peerKey, apiKey !== undefined ? { apiKey } : {});
      if (socket) values.set(pendingKey, () => factsOf(socket));
      return values;
    },
    interceptor: (next) => async (req) => {
      const facts = await req.contextValues.get(pendingKey)?.();
      if (facts) {
        const peer: PeerIdentity = {
          ...req.contextValues.get(peerKey),
          ...(facts.clientCertificate ? { clientCertificate: facts.clientCertificate, clientChain: facts.clientChain ?? [] } : {}),
        };
        req.contextValues.set(peerKey, peer);
        req.contextValues.set(tlsPeerKey, facts.tls);
      }
      try {
        return await next(req);
      } catch (err) {
        throw explainUnauthenticated(err, req.contextValues, req.service.typeName);
      }
    },
  };
}

function explainUnauthenticated(err: unknown, values: ContextValues, service: string): unknown {
  if (!(err instanceof ConnectError) || err.code !== Code.Unauthenticated) return err;
  // API keys and the admin token have their own messages.
  if (values.get(peerKey).apiKey !== undefined || service === ADMIN_SERVICE) return err;
  const tls = values.get(tlsPeerKey);
  if (!tls) return err;
  if (!tls.presented) return unauthenticated('no client certificate: connect with mTLS using a certificate issued under your registered root');
  if (!tls.authorized) return unauthenticated(tls.problem ?? 'client certificate not trusted by the Kingdom');
  const problem = values.get(authenticationProblemKey);
  if (problem !== undefined) return unauthenticated(problem);
  return unauthenticated(`${err.rawMessage}: the client certificate's authority key identifier maps to no principal`);
}
