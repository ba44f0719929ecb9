/**
 * Checks that an endpoint serves the rotated certificate: a TLS handshake
 * (with SNI, and a client certificate for mTLS endpoints), the served leaf
 * compared with the expected one, polled with backoff until a deadline,
 * since pods pick up a new Secret only as they roll.
 *
 * The handshake never fails on trust: the point is to see what is served.
 * Whether the served certificate verifies against `trustedRoots` (chain and
 * host name) is reported beside it, so a new certificate that clients
 * would reject is caught too.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { checkServerIdentity, connect, type ConnectionOptions, type PeerCertificate, type TLSSocket } from 'node:tls';
import { type Clock, systemClock, formatDuration } from '../lib/index.js';
import { type Certificate, parseCertificate, parseCertificates } from '../pki/index.js';
import { K8sError } from './errors.js';
import { type CertificateSummary, summarizeCertificate } from './secret-summary.js';
import { certificateBundle, type CertificatesInput } from './tls-secret.js';

export interface TlsEndpoint {
  readonly host: string;
  readonly port: number;
  /** SNI and the name checked against the certificate; default `host` (no SNI for an IP address). */
  readonly servername?: string;
  /** Roots to judge the served chain against; without them trust is not evaluated. */
  readonly trustedRoots?: CertificatesInput;
  /** For endpoints that require mTLS. */
  readonly clientCertificate?: {
    readonly certificateChain: CertificatesInput;
    readonly privateKey: KeyObject | string | Uint8Array;
  };
}

/** The certificate to look for: parsed, or DER/PEM bytes (first certificate). */
export type CertificateRef = Certificate | Uint8Array | string;

export interface ExpectedCertificate {
  readonly certificate: CertificateRef;
  /** The certificate being replaced, so `still-old` can say it is that one. */
  readonly previous?: CertificateRef;
  /**
   * `fingerprint` (default): the exact certificate. `skid`: any certificate
   * for the same key, for renewals that keep the key.
   */
  readonly match?: 'fingerprint' | 'skid';
}

export interface ServedCertificate extends Partial<CertificateSummary> {
  readonly fingerprintSha256: string;
}

/** Present when `trustedRoots` were given. */
export interface TrustVerdict {
  readonly authorized: boolean;
  /** Node's code, e.g. `UNABLE_TO_VERIFY_LEAF_SIGNATURE`, `ERR_TLS_CERT_ALTNAME_INVALID`. */
  readonly error?: string;
}

export type UnreachableReason = 'refused' | 'timeout' | 'dns' | 'tls-handshake' | 'other';

export type ProbeResult =
  | { readonly status: 'served-new'; readonly served: ServedCertificate; readonly trust?: TrustVerdict }
  | { readonly status: 'still-old'; readonly served: ServedCertificate; readonly isPrevious: boolean; readonly trust?: TrustVerdict }
  | { readonly status: 'unreachable'; readonly reason: UnreachableReason; readonly detail: string };

export interface ProbeOptions {
  /** Per handshake; default 5 s. */
  readonly timeoutMs?: number;
}

export type RolloutCheckResult = ProbeResult & {
  readonly attempts: number;
  readonly elapsedMs: number;
  /** The deadline passed before the new certificate was seen. */
  readonly deadlineReached: boolean;
};

export interface RolloutWaitOptions extends ProbeOptions {
  /** How long to keep trying; default 5 min. */
  readonly deadlineMs?: number;
  /** First wait between attempts; default 2 s, doubled up to `maxDelayMs` (default 30 s). */
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
  readonly clock?: Clock;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Called after each attempt, e.g. to log progress. */
  readonly onAttempt?: (result: ProbeResult, attempt: number) => void;
}

const DEFAULTS = { timeoutMs: 5_000, deadlineMs: 300_000, initialDelayMs: 2_000, maxDelayMs: 30_000 } as const;

/** One handshake: what does the endpoint serve right now? */
export async function probeServedCertificate(endpoint: TlsEndpoint, expected: ExpectedCertificate, options: ProbeOptions = {}): Promise<ProbeResult> {
  const want = certificateOf(expected.certificate, 'expected certificate');
  const previous = expected.previous === undefined ? undefined : certificateOf(expected.previous, 'previous certificate');
  const match = expected.match ?? 'fingerprint';
  if (match === 'skid' && !want.subjectKeyIdentifier) throw new K8sError('INVALID_ENDPOINT', 'the expected certificate has no SKID to match on');
  const connection = connectionOptions(endpoint);
  const timeoutMs = positive(options.timeoutMs ?? DEFAULTS.timeoutMs, 'timeoutMs');

  const outcome = await handshake(connection, timeoutMs);
  if ('reason' in outcome) return { status: 'unreachable', ...outcome };
  const served = describeServed(outcome.der);
  const trust = endpoint.trustedRoots === undefined ? undefined : outcome.trust;
  const same = (c: Certificate): boolean =>
    match === 'skid' ? served.skid !== undefined && served.skid === hex(c.subjectKeyIdentifier) : served.fingerprintSha256 === c.fingerprintSha256;
  if (same(want)) return { status: 'served-new', served, ...(trust ? { trust } : {}) };
  return { status: 'still-old', served, isPrevious: previous !== undefined && same(previous), ...(trust ? { trust } : {}) };
}

/**
 * Probes until the new certificate is served or the deadline passes,
 * waiting `initialDelayMs`, then twice that, up to `maxDelayMs`. Returns
 * the last probe's result; `served-new` with `trust.authorized === false`
 * means the rollout happened but clients would reject the certificate.
 */
export async function waitForServedCertificate(
  endpoint: TlsEndpoint,
  expected: ExpectedCertificate,
  options: RolloutWaitOptions = {},
): Promise<RolloutCheckResult> {
  const clock = options.clock ?? systemClock;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadlineMs = nonNegative(options.deadlineMs ?? DEFAULTS.deadlineMs, 'deadlineMs');
  let delay = positive(options.initialDelayMs ?? DEFAULTS.initialDelayMs, 'initialDelayMs');
  const maxDelay = positive(options.maxDelayMs ?? DEFAULTS.maxDelayMs, 'maxDelayMs');
  const start = clock.now().getTime();
  const deadline = start + deadlineMs;
  for (let attempt = 1; ; attempt++) {
    const result = await probeServedCertificate(endpoint, expected, options);
    options.onAttempt?.(result, attempt);
    const now = clock.now().getTime();
    if (result.status === 'served-new') return { ...result, attempts: attempt, elapsedMs: now - start, deadlineReached: false };
    if (now + delay > deadline) return { ...result, attempts: attempt, elapsedMs: now - start, deadlineReached: true };
    await sleep(delay);
    delay = Math.min(delay * 2, maxDelay);
  }
}

// ---------------------------------------------------------------------------

type Handshake = { der: Uint8Array; trust: TrustVerdict } | { reason: UnreachableReason; detail: string };

function handshake(options: ConnectionOptions, timeoutMs: number): Promise<Handshake> {
  return new Promise((resolve) => {
    let settled = false;
    let socket: TLSSocket | undefined;
    const finish = (value: Handshake): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (socket && 'der' in value) {
        // Close politely: an mTLS server is still checking our certificate,
        // and a reset would look like a failed client to it.
        const s = socket;
        s.on('error', () => undefined);
        s.end();
        setTimeout(() => s.destroy(), timeoutMs).unref();
      } else {
        socket?.destroy();
      }
      resolve(value);
    };
    const timer = setTimeout(() => finish({ reason: 'timeout', detail: `no TLS handshake within ${formatDuration(timeoutMs)}` }), timeoutMs);
    try {
      socket = connect(options, () => {
        const peer = socket!.getPeerCertificate(false);
        if (!peer || !peer.raw) {
          finish({ reason: 'tls-handshake', detail: 'the server sent no certificate' });
          return;
        }
        const error = socket!.authorizationError;
        const trust: TrustVerdict = socket!.authorized ? { authorized: true } : { authorized: false, error: errorCode(error) };
        finish({ der: new Uint8Array(peer.raw), trust });
      });
    } catch (err) {
      finish({ reason: 'other', detail: errorText(err) });
      return;
    }
    socket.on('error', (err: NodeJS.ErrnoException) => finish(classify(err)));
    socket.on('close', () => finish({ reason: 'tls-handshake', detail: 'the connection closed before the handshake completed' }));
  });
}

function classify(err: NodeJS.ErrnoException): { reason: UnreachableReason; detail: string } {
  const code = err.code ?? '';
  const detail = errorText(err);
  if (code === 'ECONNREFUSED') return { reason: 'refused', detail };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return { reason: 'dns', detail };
  if (code === 'ETIMEDOUT') return { reason: 'timeout', detail };
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code === 'ECONNRESET' || code === 'EPROTO') return { reason: 'tls-handshake', detail };
  return { reason: 'other', detail };
}

function errorText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const message = typeof e?.message === 'string' ? e.message.split('\n')[0] : 'error';
  return code && !message?.includes(code) ? `${code}: ${message}` : (message ?? 'error');
}

function errorCode(error: unknown): string {
  if (typeof error === 'string') return error;
  const e = error as { code?: unknown; message?: unknown } | undefined;
  if (typeof e?.code === 'string') return e.code;
  return typeof e?.message === 'string' ? e.message : 'unverified';
}

function connectionOptions(endpoint: TlsEndpoint): ConnectionOptions {
  if (typeof endpoint.host !== 'string' || endpoint.host.length === 0) throw new K8sError('INVALID_ENDPOINT', 'the endpoint needs a host');
  if (!Number.isInteger(endpoint.port) || endpoint.port < 1 || endpoint.port > 65535) {
    throw new K8sError('INVALID_ENDPOINT', `port ${String(endpoint.port)} is not a TCP port`);
  }
  const name = endpoint.servername ?? endpoint.host;
  const options: ConnectionOptions = {
    host: endpoint.host,
    port: endpoint.port,
    // Trust is judged, not enforced: see the module comment.
    rejectUnauthorized: false,
    // RFC 6066 forbids an IP address as SNI; the identity check still uses `name`.
    ...(isIP(name) ? {} : { servername: name }),
    checkServerIdentity: (_host: string, cert: PeerCertificate) => checkServerIdentity(name, cert),
  };
  if (endpoint.trustedRoots !== undefined) options.ca = splitPem(certificateBundle(endpoint.trustedRoots, 'trusted roots'));
  if (endpoint.clientCertificate) {
    const { certificateChain, privateKey } = endpoint.clientCertificate;
    options.cert = certificateBundle(certificateChain, 'client certificate');
    options.key = keyPem(privateKey);
  }
  return options;
}

function keyPem(key: KeyObject | string | Uint8Array): string | Buffer {
  if (typeof key === 'string') return key;
  if (key instanceof Uint8Array) return Buffer.from(key);
  if (key.type !== 'private') throw new K8sError('INVALID_ENDPOINT', 'the client certificate needs a private key');
  return key.export({ format: 'pem', type: 'pkcs8' });
}

function splitPem(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g) ?? [];
}

function describeServed(der: Uint8Array): ServedCertificate {
  try {
    return summarizeCertificate(parseCertificate(der));
  } catch {
    // A leaf our parser refuses is still identified by its fingerprint.
    return { fingerprintSha256: createHash('sha256').update(der).digest('hex') };
  }
}

function certificateOf(ref: CertificateRef, what: string): Certificate {
  if (typeof ref === 'object' && !(ref instanceof Uint8Array)) return ref;
  try {
    const first = parseCertificates(typeof ref === 'string' ? Buffer.from(ref) : ref)[0];
    if (first) return first;
  } catch (err) {
    throw new K8sError('INVALID_ENDPOINT', `the ${what} does not parse`, { cause: err });
  }
  throw new K8sError('INVALID_ENDPOINT', `the ${what} holds no certificate`);
}

function hex(bytes: Uint8Array | undefined): string | undefined {
  return bytes ? Buffer.from(bytes).toString('hex') : undefined;
}

function positive(n: number, what: string): number {
  if (!Number.isFinite(n) || n <= 0) throw new K8sError('INVALID_ENDPOINT', `${what} must be a positive number of milliseconds`);
  return n;
}

function nonNegative(n: number, what: string): number {
  if (!Number.isFinite(n) || n < 0) throw new K8sError('INVALID_ENDPOINT', `${what} must be zero or more milliseconds`);
  return n;
}

