/**
 * Limits on what a connection may hold without making progress, so that
 * clients that open sockets and stall (slowloris), open streams and never
 * finish their request, or sit idle cannot exhaust the server for the
 * others. Each is a setting of `kingdom serve` (config.ts).
 */
import { constants, type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

export interface ConnectionLimits {
  /** A TLS handshake not finished by then is cut. */
  readonly tlsHandshakeTimeoutMs: number;
  /** Connections still in their handshake; past it the oldest is cut, so a stalling client only displaces itself. */
  readonly maxPendingHandshakes: number;
  /** A connection with no traffic for this long is closed (GOAWAY, then cut). */
  readonly idleTimeoutMs: number;
  /** A request whose body has not ended this long after its headers is reset. */
  readonly requestBodyTimeoutMs: number;
  /** HTTP/2 streams one connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). */
  readonly maxConcurrentStreams: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  tlsHandshakeTimeoutMs: 10_000,
  maxPendingHandshakes: 256,
  idleTimeoutMs: 300_000,
  requestBodyTimeoutMs: 30_000,
  maxConcurrentStreams: 100,
};

/**
 * HTTP/2 receive windows. At the protocol's 64 KiB a client sending a page
 * of answers stalls whenever the Kingdom is busy with the one before, since
 * the window opens only as the server reads: both sides then wait on each
 * other. A stream may instead hold one whole request (at most 1 MiB), and a
 * connection a few of them. This adds nothing to what a client can make the
 * server hold: each request is read in full up to the message limit anyway,
 * and what a connection sends unread stops at its window, well below the
 * session memory at which Node refuses a session.
 */
const MAX_STREAM_WINDOW = 1024 * 1024;
const DEFAULT_WINDOW = 65_535;
const STREAMS_PER_CONNECTION_WINDOW = 4;

/** The window of each stream: one request of at most `maxMessageBytes` (with its 5-byte gRPC prefix), within [64 KiB, 1 MiB]. */
export function streamReceiveWindow(maxMessageBytes: number): number {
  return Math.min(MAX_STREAM_WINDOW, Math.max(DEFAULT_WINDOW, maxMessageBytes + 5));
}

/** How long a closing idle session gets to finish before it is cut. */
const CLOSE_GRACE_MS = 2000;

/** Pending-handshake cap, idle timeouts and the connection's receive window; `handshakeTimeout`, the stream limit and window are server options (serverOptions). */
export function guardConnections(server: Http2SecureServer, limits: ConnectionLimits, maxMessageBytes: number): void {
  // Insertion order is age: the first entry is the oldest handshake.
  const pending = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    if (pending.size >= limits.maxPendingHandshakes) {
      const oldest = pending.values().next().value as Socket;
      pending.delete(oldest);
      oldest.destroy();
    }
    pending.add(socket);
    socket.once('close', () => pending.delete(socket));
  });
  server.on('secureConnection', (tlsSocket: TLSSocket) => {
    // The TLS socket wraps the raw one the 'connection' event saw.
    const raw = (tlsSocket as TLSSocket & { _parent?: Socket })._parent;
    if (raw) pending.delete(raw);
    if (tlsSocket.alpnProtocol !== 'h2') tlsSocket.setTimeout(limits.idleTimeoutMs, () => tlsSocket.destroy());
  });
  server.on('session', (session: ServerHttp2Session) => {
    session.setLocalWindowSize(STREAMS_PER_CONNECTION_WINDOW * streamReceiveWindow(maxMessageBytes));
    session.setTimeout(limits.idleTimeoutMs, () => {
      session.close();
      setTimeout(() => session.destroy(), CLOSE_GRACE_MS).unref();
    });
  });
}

export function serverOptions(limits: ConnectionLimits, maxMessageBytes: number) {
  return {
    handshakeTimeout: limits.tlsHandshakeTimeoutMs,
    settings: { maxConcurrentStreams: limits.maxConcurrentStreams, initialWindowSize: streamReceiveWindow(maxMessageBytes) },
  };
}

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

/** Ends the request's stream (HTTP/2, with `code`) or its connection (HTTP/1.1). */
function cut(req: Request, res: Response, code: number): void {
  const stream = (res as Http2ServerResponse).stream;
  if (stream) {
    if (!stream.destroyed) stream.close(code);
  } else {
    req.socket.destroy();
  }
}

/**
 * Watches one call: a request body still unfinished after the timeout is
 * reset; `responseEnded()` says the answer is complete, after which a body
 * the handler refused to read (an oversized message) is not waited for.
 */
export function guardRequest(req: Request, res: Response, limits: ConnectionLimits): { responseEnded(): void } {
  const timer = setTimeout(() => {
    if (!req.complete) cut(req, res, constants.NGHTTP2_CANCEL);
  }, limits.requestBodyTimeoutMs);
  timer.unref();
  const clear = () => clearTimeout(timer);
  req.once('end', clear);
  res.once('close', clear);
  return {
    responseEnded() {
      clear();
      // RFC 9113 §8.1: a complete response may be followed by RST_STREAM(NO_ERROR) to stop the upload.
      // (HTTP/1.1 discards an unread body itself.)
      const stream = (res as Http2ServerResponse).stream;
      if (req.complete || !stream) return;
      // The reset waits until the trailers (which carry the status) are handed
      // to the session, or it would discard them.
      stream.once('wantTrailers', () => setImmediate(() => cut(req, res, constants.NGHTTP2_NO_ERROR)));
    },
  };
}
