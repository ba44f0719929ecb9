/**
 * Setup for the EventGroups / Measurements / Requisitions / MeasurementTrust
 * service tests: a real PGlite store in a temp dir, the services behind
 * connect's in-memory router transport (the real mTLS server is tested end
 * to end elsewhere), and participants with real certificates, signing keys
 * and Tink keysets.
 *
 * Callers act as a participant by sending its client certificate in a test
 * header (what the TLS layer hands the server as `peerKey`) or an MC's
 * `x-api-key`; the real authentication interceptor resolves the principal
 * through the store's AKID map and API keys.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createHash, randomBytes, type KeyObject } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { create, toBinary } from '@bufbuild/protobuf';
import { ConnectError, createClient, type Client, type Interceptor } from '@connectrpc/connect';
import type { DescService } from '@bufbuild/protobuf';
import { AnySchema, type Any } from '@bufbuild/protobuf/wkt';
import { externalIdToApiId, formatResourceName, typeUrlOf, unpackAny } from '../../src/api/index.js';
import { decryptMessage, encryptMessage } from '../../src/crypto/encrypted-message.js';
import { keysetBytes, parseKeyset, publicKeyset, type Keyset } from '../../src/crypto/keyset.js';
import { generateKeyset } from '../../src/crypto/keyset-templates.js';
import { loadPrivateKey } from '../../src/crypto/keys.js';
import { signMessage, verifyAndUnpack } from '../../src/crypto/signed-message.js';
import {
  EncryptionPublicKeySchema,
  EncryptionPublicKey_Format,
  SignedMessageSchema,
} from '../../src/gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { MeasurementSpecSchema } from '../../src/gen/wfa/measurement/api/v2alpha/measurement_spec_pb.js';
import {
  MeasurementSchema,
  Measurement_DataProviderEntrySchema,
  Measurement_ResultSchema,
  type Measurement_Result,
  type Measurement_ResultOutput,
} from '../../src/gen/wfa/measurement/api/v2alpha/measurement_pb.js';
import { CreateMeasurementRequestSchema, type CreateMeasurementRequest } from '../../src/gen/wfa/measurement/api/v2alpha/measurements_service_pb.js';
import type { Requisition } from '../../src/gen/wfa/measurement/api/v2alpha/requisition_pb.js';
import { RequisitionSpecSchema } from '../../src/gen/wfa/measurement/api/v2alpha/requisition_spec_pb.js';
import {
  FulfillDirectRequisitionRequestSchema,
  type FulfillDirectRequisitionRequest,
} from '../../src/gen/wfa/measurement/api/v2alpha/requisitions_service_pb.js';
import { nonceHash } from '../../src/api/index.js';
import { ErrorInfoSchema } from '../../src/gen/google/rpc/error_details_pb.js';
import { ManualClock } from '../../src/lib/clock.js';
import { decodePem } from '../../src/lib/pem.js';
import { initRoot, issueLeaf } from '../../src/pki/ca.js';
import { parseCertificate } from '../../src/pki/certificate.js';
import { openKingdom } from '../../src/kingdom/service/assembly.js';
import { peerKey } from '../../src/kingdom/service/authentication.js';
import type { KingdomMode, KingdomServices } from '../../src/kingdom/service/context.js';
import {
  type CertificateInput,
  type PartyKey,
  type SqlKingdomStore,
} from '../../src/kingdom/store/index.js';

export { nonceHash };

const ADMIN = 'admin';
const CLIENT_CERTIFICATE_HEADER = 'x-test-client-certificate';
const secretFiles = fileURLToPath(new URL('../../../shared/testdata/cmms-secretfiles/', import.meta.url));
const cmmsFile = (name: string): Uint8Array => new Uint8Array(readFileSync(path.join(secretFiles, name)));

/** Stands in for the TLS layer: the client certificate it would have verified, or the API key header. */
const peerFromHeaders: Interceptor = (next) => async (req) => {
  const cert = req.header.get(CLIENT_CERTIFICATE_HEADER);
  const apiKey = req.header.get('x-api-key');
  req.contextValues.set(peerKey, {
    ...(cert !== null ? { clientCertificate: new Uint8Array(Buffer.from(cert, 'base64')) } : {}),
    ...(apiKey !== null ? { apiKey } : {}),
  });
  return next(req);
};

export interface TestKingdom {
  readonly store: SqlKingdomStore;
  readonly clock: ManualClock;
  readonly services: KingdomServices;
  client<S extends DescService>(service: S): Client<S>;
  close(): Promise<void>;
}

export async function openTestKingdom(mode: KingdomMode = 'strict'): Promise<TestKingdom> {
  const dir = mkdtempSync(path.join(tmpdir(), 'halo-kingdom-measurements-'));
  const clock = new ManualClock(Date.now());
  const kingdom = await openKingdom({ store: { dataDir: dir }, clock, mode, principalTtlMs: 0 });
  const { store, services } = kingdom;
  const transport = kingdom.transport({ peer: [peerFromHeaders] });
  return {
    store,
    clock,
    services,
    client: (service) => createClient(service, transport),
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A registered certificate with the key that signs for it. */
export interface ParticipantCertificate {
  readonly id: bigint;
  readonly name: string;
  readonly der: Uint8Array;
  readonly signingKey: KeyObject;
}

export interface Participant {
  readonly key: PartyKey;
  readonly id: bigint;
  readonly name: string;
  /** The public-key certificate the participant was created with. */
  readonly certificate: ParticipantCertificate;
  readonly encryptionPrivateKeyset: Keyset;
  readonly encryptionPublicKeyset: Keyset;
  /** Serialized EncryptionPublicKey of the public keyset. */
  readonly encryptionPublicKey: Uint8Array;
  /** Call options acting as this participant over mTLS. */
  readonly mtls: { headers: Record<string, string> };
  /** Another certificate under the participant's root, registered with the Kingdom. */
  addCertificate(): Promise<ParticipantCertificate>;
}

export interface MeasurementConsumerParticipant extends Participant {
  /** Call options acting as this MC with its API key. */
  readonly apiKey: { headers: Record<string, string> };
}

export function certificateFacts(der: Uint8Array): CertificateInput {
  const c = parseCertificate(der);
  assert.ok(c.subjectKeyIdentifier, 'test certificate has an SKID');
  return { x509Der: der, subjectKeyIdentifier: c.subjectKeyIdentifier, notValidBefore: c.notBefore, notValidAfter: c.notAfter };
}

export function encryptionPublicKeyBytes(keyset: Keyset): Uint8Array {
  return toBinary(
    EncryptionPublicKeySchema,
    create(EncryptionPublicKeySchema, { format: EncryptionPublicKey_Format.TINK_KEYSET, data: keysetBytes(keyset) }),
  );
}

interface Identity {
  rootDer: Uint8Array;
  rootKey: KeyObject;
  leafDer: Uint8Array;
  leafKey: KeyObject;
  privateKeyset: Keyset;
  publicKeyset: Keyset;
  issue(): { der: Uint8Array; privateKey: KeyObject };
}

/** One of the real CMMS test participants (`mc`, `edp1`, ...): their root, signing leaf and keysets. */
function cmmsIdentity(prefix: string, clock: ManualClock): Identity {
  const rootPem = decodePem(Buffer.from(cmmsFile(`${prefix}_root.pem`)).toString('latin1'))[0];
  assert.ok(rootPem);
  const rootDer = rootPem.der;
  const rootKey = loadPrivateKey(cmmsFile(`${prefix}_root.key`));
  return {
    rootDer,
    rootKey,
    leafDer: cmmsFile(`${prefix}_cs_cert.der`),
    leafKey: loadPrivateKey(cmmsFile(`${prefix}_cs_private.der`)),
    privateKeyset: parseKeyset(cmmsFile(`${prefix}_enc_private.tink`)),
    publicKeyset: parseKeyset(cmmsFile(`${prefix}_enc_public.tink`)),
    issue: () => issueWith(rootDer, rootKey, prefix, clock),
  };
}

function issueWith(rootDer: Uint8Array, rootKey: KeyObject, label: string, clock: ManualClock) {
  const leaf = issueLeaf(
    { certificate: parseCertificate(rootDer), privateKey: rootKey },
    { profile: 'signing', subject: `/O=Halo Test/CN=${label} signing ${randomBytes(4).toString('hex')}`, clock, days: 365 },
  );
  assert.ok(leaf.privateKey);
  return { der: leaf.der, privateKey: leaf.privateKey };
}

/** A participant with a fresh root CA made by our CA and a fresh Tink keyset. */
function freshIdentity(label: string, clock: ManualClock): Identity {
  const root = initRoot({ subject: `/O=Halo Test/CN=${label} Root CA ${randomBytes(4).toString('hex')}`, clock });
  const leaf = issueWith(root.der, root.privateKey, label, clock);
  const privateKeyset = generateKeyset();
  return {
    rootDer: root.der,
    rootKey: root.privateKey,
    leafDer: leaf.der,
    leafKey: leaf.privateKey,
    privateKeyset,
    publicKeyset: publicKeyset(privateKeyset),
    issue: () => issueWith(root.der, root.privateKey, label, clock),
  };
}

async function register(
  kingdom: TestKingdom,
  kind: 'DATA_PROVIDER' | 'MEASUREMENT_CONSUMER',
  identity: Identity,
  label: string,
): Promise<Participant> {
  const { store } = kingdom;
  const encryptionPublicKey = encryptionPublicKeyBytes(identity.publicKeyset);
  const signed = signMessage(EncryptionPublicKeySchema, create(EncryptionPublicKeySchema, {
    format: EncryptionPublicKey_Format.TINK_KEYSET,
    data: keysetBytes(identity.publicKeyset),
  }), identity.leafKey);
  const rootSkid = parseCertificate(identity.rootDer).subjectKeyIdentifier;
  assert.ok(rootSkid);
  const { party, certificate } = await store.createParty({
    actor: ADMIN,
    kind,
    displayName: label,
    rootCertificateDer: identity.rootDer,
    rootSubjectKeyIdentifier: rootSkid,
    certificate: certificateFacts(identity.leafDer),
    publicKey: {
      publicKey: signed.message!.value,
      signature: signed.signature,
      signatureAlgorithmOid: signed.signatureAlgorithmOid,
      apiVersion: 'v2alpha',
    },
  });
  assert.ok(party.key.kind === kind && typeof party.key.id === 'bigint');
  const id = party.key.id;
  const name = formatResourceName(
    kind === 'DATA_PROVIDER' ? { kind: 'dataProvider', dataProviderId: id } : { kind: 'measurementConsumer', measurementConsumerId: id },
  );
  await store.setAkidPrincipal({ actor: ADMIN, authorityKeyIdentifier: rootSkid, principalResourceName: name });
  // Any leaf under the root authenticates the participant: its AKID is the root's SKID.
  const tlsLeaf = identity.issue();
  const certificateName = (certId: bigint) => `${name}/certificates/${externalIdToApiId(certId)}`;
  return {
    key: party.key,
    id,
    name,
    certificate: {
      id: certificate.externalCertificateId,
      name: certificateName(certificate.externalCertificateId),
      der: identity.leafDer,
      signingKey: identity.leafKey,
    },
    encryptionPrivateKeyset: identity.privateKeyset,
    encryptionPublicKeyset: identity.publicKeyset,
    encryptionPublicKey,
    mtls: { headers: { [CLIENT_CERTIFICATE_HEADER]: Buffer.from(tlsLeaf.der).toString('base64') } },
    async addCertificate() {
      const leaf = identity.issue();
      const record = await store.createCertificate({ actor: name, owner: party.key, certificate: certificateFacts(leaf.der) });
      return { id: record.externalCertificateId, name: certificateName(record.externalCertificateId), der: leaf.der, signingKey: leaf.privateKey };
    },
  };
}

async function withApiKey(kingdom: TestKingdom, p: Participant): Promise<MeasurementConsumerParticipant> {
  const { authenticationKey } = await kingdom.store.createApiKey({ actor: ADMIN, measurementConsumerId: p.id, nickname: 'test' });
  return { ...p, apiKey: { headers: { 'x-api-key': externalIdToApiId(authenticationKey) } } };
}

/** The CMMS test MC (`mc_*`): real certificate, signing key and keysets. */
export async function cmmsMeasurementConsumer(kingdom: TestKingdom): Promise<MeasurementConsumerParticipant> {
  return withApiKey(kingdom, await register(kingdom, 'MEASUREMENT_CONSUMER', cmmsIdentity('mc', kingdom.clock), 'mc'));
}

/** A CMMS test DataProvider (`edp1`, `edp2`, ...). */
export async function cmmsDataProvider(kingdom: TestKingdom, prefix: string): Promise<Participant> {
  return register(kingdom, 'DATA_PROVIDER', cmmsIdentity(prefix, kingdom.clock), prefix);
}

export async function freshMeasurementConsumer(kingdom: TestKingdom, label = 'mc'): Promise<MeasurementConsumerParticipant> {
  return withApiKey(kingdom, await register(kingdom, 'MEASUREMENT_CONSUMER', freshIdentity(label, kingdom.clock), label));
}

export async function freshDataProvider(kingdom: TestKingdom, label = 'dp'): Promise<Participant> {
  return register(kingdom, 'DATA_PROVIDER', freshIdentity(label, kingdom.clock), label);
}

/** Asserts a ConnectError with this code and ErrorInfo reason (domain halo.wfanet.org). */
export async function rejectsWith(p: Promise<unknown>, code: number, reason: string): Promise<ConnectError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConnectError, `expected ConnectError ${reason}, got ${String(caught)}`);
  assert.equal(caught.code, code, `code of ${caught.rawMessage}`);
  const info = caught.findDetails(ErrorInfoSchema)[0];
  assert.ok(info, `ErrorInfo missing on ${caught.rawMessage}`);
  assert.equal(info.domain, 'halo.wfanet.org');
  assert.equal(info.reason, reason, caught.rawMessage);
  return caught;
}

/** SHA-256 of the audit log so far: equal before and after means no state change. */
export async function auditDigest(kingdom: TestKingdom): Promise<string> {
  const entries = await kingdom.store.exportAudit({ limit: 100000 });
  return createHash('sha256')
    .update(JSON.stringify(entries, (_k, v) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v)))
    .digest('hex');
}

// ---------------------------------------------------------------- consent signaling, as the participants do it

/** Any{EncryptionPublicKey} of serialized key bytes. */
export function encryptionPublicKeyAny(bytes: Uint8Array): Any {
  return create(AnySchema, { typeUrl: typeUrlOf(EncryptionPublicKeySchema), value: bytes });
}

/** A random non-zero fixed64 nonce. */
export function randomNonce(): bigint {
  let n = 0n;
  while (n === 0n) n = randomBytes(8).readBigUInt64BE();
  return n;
}

export interface PlannedMeasurement {
  readonly request: CreateMeasurementRequest;
  readonly nonces: bigint[];
  /** The keyset the results are encrypted to (the MC's). */
  readonly measurementPrivateKeyset: Keyset;
}

/**
 * A direct reach measurement as an MC builds it: a MeasurementSpec signed
 * with the MC certificate's key, and per DataProvider a RequisitionSpec
 * signed the same way and encrypted to the DataProvider's public keyset.
 */
export function planMeasurement(
  mc: Participant,
  dataProviders: readonly Participant[],
  options: { certificate?: ParticipantCertificate; referenceId?: string } = {},
): PlannedMeasurement {
  const certificate = options.certificate ?? mc.certificate;
  const measurementPublicKey = encryptionPublicKeyAny(mc.encryptionPublicKey);
  const nonces = dataProviders.map(() => randomNonce());
  const spec = create(MeasurementSpecSchema, {
    measurementPublicKey,
    nonceHashes: nonces.map(nonceHash),
    measurementType: { case: 'reach', value: {} },
    vidSamplingInterval: { start: 0, width: 1 },
  });
  const entries = dataProviders.map((dp, i) => {
    const requisitionSpec = create(RequisitionSpecSchema, {
      measurementPublicKey,
      nonce: nonces[i]!,
      requisitionType: {
        case: 'events',
        value: { eventGroups: [{ key: `${dp.name}/eventGroups/AAAAAAAAAHs`, value: { filter: { expression: 'person.age_group == 1' } } }] },
      },
    });
    const signed = signMessage(RequisitionSpecSchema, requisitionSpec, certificate.signingKey);
    return create(Measurement_DataProviderEntrySchema, {
      key: dp.name,
      value: {
        dataProviderCertificate: dp.certificate.name,
        dataProviderPublicKey: encryptionPublicKeyAny(dp.encryptionPublicKey),
        encryptedRequisitionSpec: encryptMessage(dp.encryptionPublicKeyset, SignedMessageSchema, signed),
        nonceHash: nonceHash(nonces[i]!),
      },
    });
  });
  const measurement = create(MeasurementSchema, {
    measurementConsumerCertificate: certificate.name,
    measurementSpec: signMessage(MeasurementSpecSchema, spec, certificate.signingKey),
    dataProviders: entries,
    measurementReferenceId: options.referenceId ?? 'test-measurement',
  });
  return {
    request: create(CreateMeasurementRequestSchema, { parent: mc.name, measurement }),
    nonces,
    measurementPrivateKeyset: mc.encryptionPrivateKeyset,
  };
}

/**
 * What a DataProvider does with a requisition: decrypt the requisition spec
 * with its private keyset, verify both specs against the MC certificate,
 * check its nonce is in the MeasurementSpec, then sign a result and encrypt
 * it to the measurement public key.
 */
export function prepareFulfillment(
  dp: Participant,
  requisition: Requisition,
  mcCertificateDer: Uint8Array,
  reach: bigint,
  signer: ParticipantCertificate = dp.certificate,
): FulfillDirectRequisitionRequest {
  assert.ok(requisition.encryptedRequisitionSpec && requisition.measurementSpec);
  const signedSpec = decryptMessage(dp.encryptionPrivateKeyset, requisition.encryptedRequisitionSpec, SignedMessageSchema);
  const requisitionSpec = verifyAndUnpack(RequisitionSpecSchema, signedSpec, mcCertificateDer);
  const measurementSpec = verifyAndUnpack(MeasurementSpecSchema, requisition.measurementSpec, mcCertificateDer);
  const hash = nonceHash(requisitionSpec.nonce);
  assert.ok(measurementSpec.nonceHashes.some((h) => Buffer.compare(h, hash) === 0), 'nonce hash listed in the MeasurementSpec');
  const measurementKey = unpackAny(EncryptionPublicKeySchema, measurementSpec.measurementPublicKey);
  const result = create(Measurement_ResultSchema, { reach: { value: reach } });
  const signedResult = signMessage(Measurement_ResultSchema, result, signer.signingKey);
  return create(FulfillDirectRequisitionRequestSchema, {
    name: requisition.name,
    nonce: requisitionSpec.nonce,
    encryptedResult: encryptMessage(parseKeyset(measurementKey.data), SignedMessageSchema, signedResult),
    ...(signer === dp.certificate ? {} : { certificate: signer.name }),
  });
}

/** The MC's side: decrypt a result with the measurement private keyset and verify it with the signer's certificate. */
export function openResult(output: Measurement_ResultOutput, measurementPrivateKeyset: Keyset, signerDer: Uint8Array): Measurement_Result {
  assert.ok(output.encryptedResult);
  const signed = decryptMessage(measurementPrivateKeyset, output.encryptedResult, SignedMessageSchema);
  return verifyAndUnpack(Measurement_ResultSchema, signed, signerDer);
}
