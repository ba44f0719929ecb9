/**
 * Shared setup of the Kingdom service suites: a real store (PGlite in a temp
 * directory), the real services and interceptors behind an in-memory
 * `createRouterTransport`, and participants with their own roots made by our
 * CA. The transport is in memory on purpose: these suites test service
 * behaviour; the real mTLS server process is tested end to end in the server
 * suites. What the transport would learn from TLS (the client leaf) is set
 * as the `peerKey` context value by a test interceptor, and the real
 * authentication interceptor resolves it through the AKID map, as in
 * production.
 */
import assert from 'node:assert/strict';
import type { KeyObject } from 'node:crypto';
import { create, type DescService, type MessageInitShape } from '@bufbuild/protobuf';
import {
  type Client,
  Code,
  ConnectError,
  createClient,
  type Interceptor,
  type Transport,
} from '@connectrpc/connect';
import { certificateKey, formatResourceName, parseResourceName } from '../../src/api/index.js';
import { generateKeyset } from '../../src/crypto/keyset-templates.js';
import { keysetBytes, parseKeyset, publicKeyset, serializeKeyset, type Keyset } from '../../src/crypto/keyset.js';
import { loadPrivateKey } from '../../src/crypto/keys.js';
import { signMessage } from '../../src/crypto/signed-message.js';
import { KingdomAdmin, type ParticipantRegistrationSchema } from '../../src/gen/halo/keys/v1/kingdom_admin_pb.js';
import { ErrorInfoSchema } from '../../src/gen/google/rpc/error_details_pb.js';
import {
  EncryptionPublicKey_Format,
  EncryptionPublicKeySchema,
  type SignedMessage,
} from '../../src/gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { ManualClock } from '../../src/lib/clock.js';
import { initRoot, issueLeaf, type IssuedCertificate } from '../../src/pki/ca.js';
import { subjectToDer } from '../../src/pki/ca-name.js';
import { buildCertificate, randomSerial } from '../../src/pki/certificate-builder.js';
import { authorityKeyIdentifier, basicConstraints } from '../../src/pki/extensions-builder.js';
import { generateKeyPair, spkiOf } from '../../src/pki/key-types.js';
import { parseCertificates, type Certificate } from '../../src/pki/certificate.js';
import { adminTokenSha256 } from '../../src/kingdom/service/admin-authentication.js';
import { peerKey, type PeerIdentity } from '../../src/kingdom/service/authentication.js';
import { ID_TOKEN_HEADER } from '../../src/kingdom/service/open-id.js';
import type { KingdomMode, KingdomServices } from '../../src/kingdom/service/context.js';
import type { Principal } from '../../src/kingdom/service/principal.js';
import { toPartyKey } from '../../src/kingdom/service/principal.js';
import { openKingdom, type KingdomAssembly } from '../../src/kingdom/service/assembly.js';
import { type PartyKey, type PartyKind, type SqlKingdomStore } from '../../src/kingdom/store/index.js';
import { cmmsFile, NOW, tempDataDir } from './store-fixtures.js';

export { NOW };
export const DAY = 24 * 60 * 60 * 1000;
export const ERROR_DOMAIN = 'halo.wfanet.org';
/** The operator's bearer token in these suites; the services keep only its SHA-256. */
export const ADMIN_TOKEN = 'hk_admin_test-token-for-the-service-suites';

/** Who calls: a participant over "mTLS", an MC API key, the operator, or nobody. */
export type Caller =
  | { readonly party: TestParty }
  | { readonly apiKey: string }
  | { readonly peer: PeerIdentity }
  /** An Account's self-issued OpenID ID token, sent as upstream's `id_token` header. */
  | { readonly idToken: string }
  | 'admin'
  | 'anonymous';

export interface TestKingdom {
  readonly store: SqlKingdomStore;
  readonly clock: ManualClock;
  readonly services: KingdomServices;
  /** The assembled Kingdom the transports run in memory. */
  readonly kingdom: KingdomAssembly;
  /** How many times the services reported a trust change. */
  readonly trustChanges: () => number;
  transport(caller: Caller): Transport;
  client<T extends DescService>(service: T, caller: Caller): Client<T>;
  readonly admin: Client<typeof KingdomAdmin>;
  /** Rows in the audit log: every state change appends at least one. */
  auditLength(): Promise<number>;
  close(): Promise<void>;
}

/** Sets what the TLS layer would have learned about the caller. */
function peerInterceptor(caller: Caller): Interceptor {
  return (next) => async (req) => {
    if (typeof caller === 'object') {
      if ('party' in caller) req.contextValues.set(peerKey, { clientCertificate: caller.party.tlsCertificate });
      else if ('apiKey' in caller) req.contextValues.set(peerKey, { apiKey: caller.apiKey });
      else if ('idToken' in caller) req.header.set(ID_TOKEN_HEADER, caller.idToken);
      else req.contextValues.set(peerKey, caller.peer);
    }
    return next(req);
  };
}

/** The admin client sends the bearer token, as the admin CLI does. */
const bearer: Interceptor = (next) => async (req) => {
  req.header.set('authorization', `Bearer ${ADMIN_TOKEN}`);
  return next(req);
};

/**
 * `operatorRoots` stand for the server's `--trusted-roots`; `databaseUrl`
 * puts the store on PostgreSQL instead of PGlite; `openIdRedirectUri` turns
 * on the Account methods.
 */
export async function openTestKingdom(
  options: { mode?: KingdomMode; operatorRoots?: readonly Uint8Array[]; databaseUrl?: string; openIdRedirectUri?: string } = {},
): Promise<TestKingdom> {
  const dir = tempDataDir();
  const clock = new ManualClock(NOW);
  let trustChanges = 0;
  const kingdom = await openKingdom({
    store: options.databaseUrl !== undefined ? { databaseUrl: options.databaseUrl } : { dataDir: dir.dir },
    clock,
    mode: options.mode ?? 'strict',
    admin: { tokenSha256: adminTokenSha256(ADMIN_TOKEN) },
    ...(options.operatorRoots ? { operatorRoots: options.operatorRoots } : {}),
    ...(options.openIdRedirectUri !== undefined ? { openIdRedirectUri: options.openIdRedirectUri } : {}),
    onTrustChanged: () => {
      trustChanges++;
    },
  });
  const { store, services } = kingdom;
  const transports = new Map<Caller, Transport>();
  const transport = (caller: Caller): Transport => {
    let t = transports.get(caller);
    if (t === undefined) {
      t = kingdom.transport({ peer: [peerInterceptor(caller)], client: caller === 'admin' ? [bearer] : [] });
      transports.set(caller, t);
    }
    return t;
  };
  return {
    store,
    clock,
    services,
    kingdom,
    trustChanges: () => trustChanges,
    transport,
    client: (service, caller) => createClient(service, transport(caller)),
    admin: createClient(KingdomAdmin, transport('admin')),
    async auditLength() {
      const rows = await store.database.query<{ n: bigint | number }>('SELECT count(*)::bigint AS n FROM audit_log');
      return Number(rows[0]?.n ?? 0);
    },
    async close() {
      await store.close();
      dir.remove();
    },
  };
}

/** A signing leaf (and its key) under a participant's root. */
export interface TestLeaf {
  readonly der: Uint8Array;
  readonly privateKey: KeyObject;
  readonly certificate: Certificate;
}

export interface TestParty {
  readonly kind: PartyKind;
  /** `dataProviders/…`, `duchies/…`, … */
  readonly name: string;
  readonly principal: Principal;
  readonly partyKey: PartyKey;
  readonly root: IssuedCertificate & { privateKey: KeyObject };
  /** The mTLS client leaf the party connects with (AKID = root SKID). */
  readonly tlsCertificate: Uint8Array;
  /** The first certificate, registered at creation. */
  readonly signing: TestLeaf & { readonly name: string };
  /** DataProviders and MeasurementConsumers: the private keyset of the published key. */
  readonly encryptionKeyset?: Keyset;
  /** Issues a new signing leaf under the root (not registered). */
  issueLeaf(options?: { notBefore?: Date; notAfter?: Date; profile?: 'signing' | 'tls-client' }): TestLeaf;
}

const KIND_LABEL: Record<PartyKind, string> = {
  DATA_PROVIDER: 'DataProvider',
  MEASUREMENT_CONSUMER: 'MeasurementConsumer',
  MODEL_PROVIDER: 'ModelProvider',
  DUCHY: 'Duchy',
};

let partyCounter = 0;

/** A participant PKI made by our CA at the kingdom's clock. */
export function participantPki(kingdom: Pick<TestKingdom, 'clock'>, label: string) {
  const clock = kingdom.clock;
  // Roots start a year back, so tests can issue leaves that have already expired.
  const now = clock.now().getTime();
  const root = initRoot({
    subject: `/O=Halo Test/CN=${label} Root CA`,
    clock,
    notBefore: new Date(now - 365 * DAY),
    notAfter: new Date(now + 3650 * DAY),
  });
  const authority = { certificate: root.certificate, privateKey: root.privateKey };
  const issue = (options: { notBefore?: Date; notAfter?: Date; profile?: 'signing' | 'tls-client' } = {}): TestLeaf => {
    const validity =
      options.notBefore !== undefined && options.notAfter !== undefined
        ? { notBefore: options.notBefore, notAfter: options.notAfter }
        : {};
    const leaf = issueLeaf(authority, {
      profile: options.profile ?? 'signing',
      subject: `/O=Halo Test/CN=${label} ${options.profile ?? 'signing'} ${++partyCounter}`,
      clock,
      ...validity,
    });
    return { der: leaf.der, privateKey: leaf.privateKey!, certificate: leaf.certificate };
  };
  return { root, issue };
}

/** An EncryptionPublicKey (public Tink keyset) signed with `signingKey`, as `public-keys update` sends it. */
export function signedEncryptionPublicKey(signingKey: KeyObject, keyset: Keyset = generateKeyset()): {
  signed: SignedMessage;
  keyset: Keyset;
} {
  const data = serializeKeyset(publicKeyset(keyset));
  const message = create(EncryptionPublicKeySchema, { format: EncryptionPublicKey_Format.TINK_KEYSET, data });
  return { signed: signMessage(EncryptionPublicKeySchema, message, signingKey), keyset };
}

/** Creates a participant through the admin service, with its root mapped for mTLS. */
export async function createParty(
  kingdom: TestKingdom,
  kind: PartyKind,
  options: { duchyId?: string; displayName?: string } = {},
): Promise<TestParty> {
  const label = `${KIND_LABEL[kind]} ${++partyCounter}`;
  const pki = participantPki(kingdom, label);
  const signing = pki.issue();
  // Valid over every instant the suites move the clock to: the Kingdom judges the caller's chain at its clock.
  const now = kingdom.clock.now().getTime();
  const tls = pki.issue({ profile: 'tls-client', notBefore: new Date(now - 300 * DAY), notAfter: new Date(now + 3000 * DAY) });
  const hasKey = kind === 'DATA_PROVIDER' || kind === 'MEASUREMENT_CONSUMER';
  const key = hasKey ? signedEncryptionPublicKey(signing.privateKey) : undefined;
  const registration: MessageInitShape<typeof ParticipantRegistrationSchema> = {
    rootCertificateDer: pki.root.der,
    certificateDer: signing.der,
    displayName: options.displayName ?? label,
    ...(key === undefined ? {} : { publicKey: key.signed }),
  };
  let name: string;
  let certificateName: string;
  switch (kind) {
    case 'DATA_PROVIDER': {
      const r = await kingdom.admin.createDataProvider({ registration });
      name = r.name;
      certificateName = r.certificate;
      break;
    }
    case 'MEASUREMENT_CONSUMER': {
      const r = await kingdom.admin.createMeasurementConsumer({ registration });
      name = r.name;
      certificateName = r.certificate;
      break;
    }
    case 'MODEL_PROVIDER': {
      const r = await kingdom.admin.createModelProvider({ registration });
      name = r.name;
      certificateName = '';
      break;
    }
    case 'DUCHY': {
      const r = await kingdom.admin.createDuchy({ duchyId: options.duchyId ?? `duchy-${++partyCounter}`, registration });
      name = r.name;
      certificateName = r.preferredCertificate;
      break;
    }
  }
  const principal = parseResourceName(name) as Principal;
  if (certificateName === '') {
    // ModelProvider responses carry no certificate: find the one registered.
    const page = await kingdom.store.listCertificates({ owner: toPartyKey(principal) });
    const first = page.items[0];
    assert.ok(first, 'the first certificate was registered');
    certificateName = formatResourceName(certificateKey(principal, first.externalCertificateId));
  }
  return {
    kind,
    name,
    principal,
    partyKey: toPartyKey(principal),
    root: pki.root,
    tlsCertificate: tls.der,
    signing: { ...signing, name: certificateName },
    ...(key === undefined ? {} : { encryptionKeyset: key.keyset }),
    issueLeaf: pki.issue,
  };
}

/** A certificate under `party`'s root with everything but a subject key identifier. */
export function leafWithoutSkid(kingdom: Pick<TestKingdom, 'clock'>, party: TestParty): Uint8Array {
  const { publicKey } = generateKeyPair('p256');
  const now = kingdom.clock.now();
  return buildCertificate(
    {
      serialNumber: randomSerial(),
      issuer: party.root.certificate.subject.der,
      subject: subjectToDer('/O=Halo Test/CN=no skid'),
      notBefore: now,
      notAfter: new Date(now.getTime() + 30 * DAY),
      subjectPublicKeyInfo: spkiOf(publicKey),
      extensions: [basicConstraints(false), authorityKeyIdentifier(party.root.certificate.subjectKeyIdentifier!)],
    },
    party.root.privateKey,
  );
}

/** A party's own mTLS caller. */
export const as = (party: TestParty): Caller => ({ party });

/** Asserts a ConnectError with this code, and (when given) ErrorInfo reason in our domain. */
export async function rejectsWith(promise: Promise<unknown>, code: Code, reason?: string): Promise<ConnectError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConnectError, `expected a ConnectError with ${Code[code]}, got ${caught === undefined ? 'success' : String(caught)}`);
  assert.equal(Code[caught.code], Code[code], `code (message: ${caught.rawMessage})`);
  if (reason !== undefined) {
    const info = caught.findDetails(ErrorInfoSchema)[0];
    assert.ok(info, `ErrorInfo present (message: ${caught.rawMessage})`);
    assert.equal(info.domain, ERROR_DOMAIN);
    assert.equal(info.reason, reason, `reason (message: ${caught.rawMessage})`);
  }
  return caught;
}

/** The real CMMS test PKI of edp1: root, consent-signaling leaf and key, and Tink keysets. */
export function cmmsEdp1() {
  const root = parseCertificates(cmmsFile('edp1_root.pem'))[0]!;
  const certificateDer = cmmsFile('edp1_cs_cert.der');
  const signingKey = loadPrivateKey(cmmsFile('edp1_cs_private.der'));
  const publicKeysetBytes = cmmsFile('edp1_enc_public.tink');
  const privateKeyset = parseKeyset(cmmsFile('edp1_enc_private.tink'));
  const message = create(EncryptionPublicKeySchema, {
    format: EncryptionPublicKey_Format.TINK_KEYSET,
    data: keysetBytes(parseKeyset(publicKeysetBytes)),
  });
  return {
    rootDer: root.der,
    root,
    certificateDer,
    signingKey,
    publicKeysetBytes,
    privateKeyset,
    signedPublicKey: signMessage(EncryptionPublicKeySchema, message, signingKey),
  };
}
