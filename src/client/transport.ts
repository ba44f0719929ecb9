/**
 * The connection to the Kingdom: gRPC over HTTP/2, mutual TLS 1.3, the
 * Kingdom's root as the only trust anchor, an optional server-name override
 * (upstream's `--kingdom-public-api-cert-host`), and per-call headers for an
 * MC's `x-api-key` or the operator's admin token.
 */
import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import type { Interceptor, Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import { packedMessageRegistry } from '../api/index.js';
import { KingdomClientError, toKingdomClientError } from './errors.js';
import { Code } from '@connectrpc/connect';

export interface KingdomTransportOptions {
  /** `host:port` or `https://host:port` of the Kingdom public API. */
  readonly target: string;
  /** PEM of the root(s) the Kingdom's server certificate must chain to. */
  readonly trustedRoots: string | Uint8Array;
  /** Client certificate PEM (the leaf; a chain after it is sent too). Omit for API-key or admin calls. */
  readonly clientCertificate?: string | Uint8Array;
  /** Client private key PEM (PKCS#8 or SEC1). */
  readonly clientKey?: string | Uint8Array;
  /** The DNS name or IP the server certificate must match, when not the target host. */
  readonly serverName?: string;
  /** Sent as `x-api-key` (MeasurementConsumer principals). */
  readonly apiKey?: string;
  /** Sent as `authorization: Bearer ...` (the KingdomAdmin service). */
  readonly adminToken?: string;
  /** `grpc` (default, what CMMS's clients speak) or `connect`. */
  readonly protocol?: 'grpc' | 'connect';
  /** Deadline of each call (default 30 s). */
  readonly timeoutMs?: number;
  /** Largest message accepted or sent (default 4 MiB). */
  readonly maxMessageBytes?: number;
}

export interface ResolvedTarget {
  readonly baseUrl: string;
  readonly host: string;
  readonly display: string;
}

export function resolveTarget(target: string): ResolvedTarget {
  const withScheme = /^[a-z]+:\/\//i.test(target) ? target : `https://${target}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch (cause) {
    throw new KingdomClientError('CLIENT_CONFIG_INVALID', `"${target}" is not a HOST:PORT target`, { grpcCode: Code.InvalidArgument, cause });
  }
  if (url.protocol !== 'https:' || url.hostname === '' || url.pathname.length > 1) {
    throw new KingdomClientError('CLIENT_CONFIG_INVALID', `"${target}" is not a HOST:PORT target (TLS only, no path)`, {
      grpcCode: Code.InvalidArgument,
    });
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return { baseUrl: `https://${url.host}`, host, display: url.host };
}

function text(v: string | Uint8Array): string {
  return typeof v === 'string' ? v : Buffer.from(v).toString('latin1');
}

/** A Transport whose errors are KingdomClientErrors. */
export function createKingdomTransport(options: KingdomTransportOptions): Transport {
  const target = resolveTarget(options.target);
  if ((options.clientCertificate === undefined) !== (options.clientKey === undefined)) {
    throw new KingdomClientError('CLIENT_CONFIG_INVALID', 'a client certificate and its key go together', { grpcCode: Code.InvalidArgument });
  }
  const expectedName = options.serverName ?? target.host;
  const headers: Interceptor = (next) => (req) => {
    if (options.apiKey !== undefined) req.header.set('x-api-key', options.apiKey);
    if (options.adminToken !== undefined) req.header.set('authorization', `Bearer ${options.adminToken}`);
    return next(req);
  };
  const errors: Interceptor = (next) => async (req) => {
    try {
      return await next(req);
    } catch (err) {
      throw toKingdomClientError(err, target.display, expectedName);
    }
  };
  const nodeOptions = {
    ca: text(options.trustedRoots),
    ...(options.clientCertificate !== undefined ? { cert: text(options.clientCertificate), key: text(options.clientKey!) } : {}),
    minVersion: 'TLSv1.3' as const,
    // SNI cannot carry an IP address; the identity check below still uses it.
    ...(options.serverName !== undefined && isIP(options.serverName) === 0 ? { servername: options.serverName } : {}),
    checkServerIdentity: (_host: string, cert: PeerCertificate) => checkServerIdentity(expectedName, cert),
  };
  const common = {
    baseUrl: target.baseUrl,
    interceptors: [errors, headers],
    defaultTimeoutMs: options.timeoutMs ?? 30_000,
    readMaxBytes: options.maxMessageBytes ?? 4 * 1024 * 1024,
    writeMaxBytes: options.maxMessageBytes ?? 4 * 1024 * 1024,
  };
  return options.protocol === 'connect'
    ? createConnectTransport({ ...common, httpVersion: '2', nodeOptions, jsonOptions: { registry: packedMessageRegistry } })
    : createGrpcTransport({ ...common, nodeOptions });
}
