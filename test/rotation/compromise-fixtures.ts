/**
 * Shared by the compromise suites: participants (DataProviders and
 * MeasurementConsumers) with real keyrings registered with a real
 * `halo-keys kingdom serve` process through its admin RPC, and what they do
 * over mTLS in the measurement flow: an MC creates direct measurements
 * (keeping its RequisitionSpecs by nonce hash, as the compromise procedure
 * expects), a DataProvider fulfills requisitions and creates EventGroups with
 * encrypted metadata (keeping the plaintext by reference id).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { AnySchema, StringValueSchema } from '@bufbuild/protobuf/wkt';
import { createKingdomClient, type KingdomClient } from '../../src/client/index.js';
import { decryptMessage, encryptMessage } from '../../src/crypto/encrypted-message.js';
import { parseKeyset, type Keyset } from '../../src/crypto/keyset.js';
import { signMessage, verifyAndUnpack } from '../../src/crypto/signed-message.js';
import { EncryptionPublicKeySchema, SignedMessageSchema } from '../../src/gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { EventGroup_MetadataSchema } from '../../src/gen/wfa/measurement/api/v2alpha/event_group_pb.js';
import { MeasurementSchema, Measurement_ResultSchema, type Measurement } from '../../src/gen/wfa/measurement/api/v2alpha/measurement_pb.js';
import { MeasurementSpecSchema } from '../../src/gen/wfa/measurement/api/v2alpha/measurement_spec_pb.js';
import { Requisition_State } from '../../src/gen/wfa/measurement/api/v2alpha/requisition_pb.js';
import { RequisitionSpecSchema } from '../../src/gen/wfa/measurement/api/v2alpha/requisition_spec_pb.js';
import { systemClock } from '../../src/lib/clock.js';
import { encodePem } from '../../src/lib/pem.js';
import { typeUrlOf, packAny } from '../../src/lib/type-url.js';
import { nonceHash, randomNonce } from '../../src/api/index.js';
import { initKeyring } from '../../src/rotation/keyring-init.js';
import { activeEntry } from '../../src/rotation/keyring.js';
import { connectKingdom, connectKingdomClient } from '../../src/rotation/kingdom-connect.js';
import { registrationMaterial, syncWithKingdom } from '../../src/rotation/registration.js';
import { KeyringSession } from '../../src/rotation/session.js';
import { encryptionPublicKeyBytes } from '../../src/rotation/steps/publish-step.js';
import { repo, type KingdomProcess } from '../cli/kingdom-process.js';
import { PASSPHRASE } from './fixtures.js';
import { hex } from '../../src/lib/bytes.js';

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The compiled binary, as an operator runs it. */
export function hk(args: string[], env: Record<string, string> = {}): Run {
  const r = spawnSync(process.execPath, [join(repo, 'bin/halo-keys.js'), ...args], {
    cwd: repo,
    env: { ...process.env, HALO_KEYS_PASSPHRASE: PASSPHRASE, HALO_KEYS_NOW: '', ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

export function ok(r: Run, what: string): Run {
  assert.equal(r.code, 0, `${what}: exit ${r.code} ${r.signal ?? ''}\n${r.stderr}${r.stdout}`);
  return r;
}

export interface Party {
  readonly dir: string;
  readonly name: string;
  readonly label: string;
  /** The participant's root CA certificate, PEM. */
  readonly rootPem: string;
  /** Plaintext copies: EventGroup metadata (DataProviders) or RequisitionSpecs (MCs). */
  readonly copies: string;
  session(): KeyringSession;
  client(): KingdomClient;
}

export function adminClient(kingdom: KingdomProcess): KingdomClient {
  return createKingdomClient({
    target: kingdom.target,
    trustedRoots: readFileSync(kingdom.kingdomRoot),
    adminToken: readFileSync(join(kingdom.dataDir, 'admin-token'), 'utf8').trim(),
  });
}

/** A keyring made and registered in process (fast); the procedures under test then run through the binary. */
export async function newParty(kingdom: KingdomProcess, work: string, kind: 'dataProvider' | 'measurementConsumer', label: string): Promise<Party> {
  const dir = join(work, label);
  const session = initKeyring({
    dir,
    clock: systemClock,
    passphrase: () => PASSPHRASE,
    config: {
      participant: kind === 'dataProvider' ? 'dataProviders' : 'measurementConsumers',
      subject: `/O=Halo Test/CN=${label}`,
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      kingdom: { target: kingdom.target, trustedRoots: kingdom.kingdomRoot },
    },
    createCa: { subject: `/O=Halo Test/CN=${label} Root CA` },
  });
  const m = registrationMaterial(session);
  const registration = { rootCertificateDer: m.rootCertificateDer, certificateDer: m.certificateDer, publicKey: m.publicKey, displayName: label };
  const admin = adminClient(kingdom);
  const created = kind === 'dataProvider' ? await admin.admin.createDataProvider({ registration }) : await admin.admin.createMeasurementConsumer({ registration });
  await syncWithKingdom(session, connectKingdom(session), created.name);
  const copies = join(dir, kind === 'dataProvider' ? 'metadata' : 'specs');
  mkdirSync(copies, { recursive: true });
  const open = () => KeyringSession.open(dir, { clock: systemClock, passphrase: () => PASSPHRASE });
  return {
    dir,
    name: created.name,
    label,
    rootPem: encodePem('CERTIFICATE', m.rootCertificateDer),
    copies,
    session: open,
    client: () => connectKingdomClient(open()),
  };
}

/** Adds the `compromise:` section to a keyring's halo-keys.yaml. */
export function configureCompromise(party: Party, peers: readonly Party[]): void {
  const roots = join(party.dir, 'peer-roots.pem');
  writeFileSync(roots, peers.map((p) => p.rootPem).join(''));
  appendFileSync(
    join(party.dir, 'halo-keys.yaml'),
    `compromise:\n  trustedRoots: peer-roots.pem\n  ${party.name.startsWith('dataProviders/') ? 'eventGroupMetadata: metadata' : 'requisitionSpecs: specs'}\n`,
  );
}

function publishedKeyset(signed: { message?: { value: Uint8Array } } | undefined): Keyset {
  assert.ok(signed?.message);
  return parseKeyset(fromBinary(EncryptionPublicKeySchema, signed.message.value).data);
}

/** The MC's current published key, as serialized EncryptionPublicKey bytes (from its own keyring). */
export function publishedKeyBytes(mc: Party): Uint8Array {
  const s = mc.session();
  return encryptionPublicKeyBytes(s.material.loadEncryptionKeyset(s.keyring.encryptionKeyset));
}

/**
 * A direct reach measurement as the MC's tooling creates it, keeping each
 * RequisitionSpec in the MC's copies directory under its nonce hash.
 */
export async function createMeasurement(mc: Party, dataProviders: readonly Party[], referenceId: string, measurementKey: Uint8Array = publishedKeyBytes(mc)): Promise<Measurement> {
  const s = mc.session();
  const signing = activeEntry(s.keyring, 'signing')!;
  const signingKey = s.material.privateKey(signing);
  const client = mc.client();
  const key = create(AnySchema, { typeUrl: typeUrlOf(EncryptionPublicKeySchema), value: measurementKey });
  const hashes: Uint8Array[] = [];
  const entries = [];
  for (const dp of dataProviders) {
    const shown = await client.dataProviders.getDataProvider({ name: dp.name });
    const nonce = randomNonce();
    const spec = create(RequisitionSpecSchema, {
      measurementPublicKey: key,
      nonce,
      requisitionType: { case: 'events', value: { eventGroups: [{ key: `${dp.name}/eventGroups/AAAAAAAAAHs`, value: { filter: { expression: `person.age_group == ${referenceId.length}` } } }] } },
    });
    writeFileSync(join(mc.copies, `${hex(nonceHash(nonce))}.binpb`), toBinary(RequisitionSpecSchema, spec));
    hashes.push(nonceHash(nonce));
    entries.push({
      key: dp.name,
      value: {
        dataProviderCertificate: shown.certificate,
        dataProviderPublicKey: shown.publicKey!.message!,
        encryptedRequisitionSpec: encryptMessage(publishedKeyset(shown.publicKey), SignedMessageSchema, signMessage(RequisitionSpecSchema, spec, signingKey)),
        nonceHash: nonceHash(nonce),
      },
    });
  }
  const measurementSpec = create(MeasurementSpecSchema, { measurementPublicKey: key, nonceHashes: hashes, measurementType: { case: 'reach', value: {} }, vidSamplingInterval: { start: 0, width: 1 } });
  return client.measurements.createMeasurement({
    parent: mc.name,
    measurement: create(MeasurementSchema, {
      measurementConsumerCertificate: signing.kingdomCertificate!,
      measurementSpec: signMessage(MeasurementSpecSchema, measurementSpec, signingKey),
      dataProviders: entries,
      measurementReferenceId: referenceId,
    }),
  });
}

/**
 * What a DataProvider does with its requisition of `measurement`: decrypt the
 * spec with its private keyset, verify both specs with the MC's certificate,
 * sign a result with its active signing key, encrypt it to the measurement
 * key. Returns the RequisitionSpec it read.
 */
export async function fulfill(dp: Party, measurement: string, reach = 1000n) {
  const s = dp.session();
  const client = dp.client();
  const requisitions = (await client.requisitions.listRequisitions({ parent: dp.name, pageSize: 100, filter: { states: [Requisition_State.UNFULFILLED] } })).requisitions;
  const requisition = requisitions.find((r) => r.measurement === measurement);
  assert.ok(requisition, `${dp.label} has an UNFULFILLED requisition of ${measurement}`);
  const mcCertificate = await client.certificates.getCertificate({ name: requisition.measurementConsumerCertificate });
  const keyset = s.material.loadEncryptionKeyset(s.keyring.encryptionKeyset);
  const signedSpec = decryptMessage(keyset, requisition.encryptedRequisitionSpec!, SignedMessageSchema);
  const spec = verifyAndUnpack(RequisitionSpecSchema, signedSpec, mcCertificate.x509Der);
  const measurementSpec = verifyAndUnpack(MeasurementSpecSchema, requisition.measurementSpec!, mcCertificate.x509Der);
  assert.ok(measurementSpec.nonceHashes.some((h) => hex(h) === hex(nonceHash(spec.nonce))));
  const signing = activeEntry(s.keyring, 'signing')!;
  const result = signMessage(Measurement_ResultSchema, create(Measurement_ResultSchema, { reach: { value: reach } }), s.material.privateKey(signing));
  const measurementKey = parseKeyset(fromBinary(EncryptionPublicKeySchema, measurementSpec.measurementPublicKey!.value).data);
  await client.requisitions.fulfillDirectRequisition({
    name: requisition.name,
    nonce: spec.nonce,
    encryptedResult: encryptMessage(measurementKey, SignedMessageSchema, result),
    certificate: signing.kingdomCertificate!,
  });
  return spec;
}

/** An EventGroup of `dp` for `mc` with metadata encrypted to the MC's published key; the plaintext stays in the DP's copies. */
export async function createEventGroup(dp: Party, mc: Party, referenceId: string, withMetadata = true) {
  const client = dp.client();
  const consumer = await client.measurementConsumers.getMeasurementConsumer({ name: mc.name });
  const metadata = create(EventGroup_MetadataSchema, {
    eventGroupMetadataDescriptor: `${dp.name}/eventGroupMetadataDescriptors/AAAAAAAAAHs`,
    metadata: packAny(StringValueSchema, create(StringValueSchema, { value: `campaign ${referenceId}` })),
  });
  if (withMetadata) writeFileSync(join(dp.copies, `${referenceId}.binpb`), toBinary(EventGroup_MetadataSchema, metadata));
  const eventGroup = await client.eventGroups.createEventGroup({
    parent: dp.name,
    eventGroup: {
      measurementConsumer: mc.name,
      eventGroupReferenceId: referenceId,
      ...(withMetadata
        ? {
            encryptedMetadata: encryptMessage(publishedKeyset(consumer.publicKey), EventGroup_MetadataSchema, metadata),
            measurementConsumerPublicKey: consumer.publicKey!.message!,
            signedMeasurementConsumerPublicKey: consumer.publicKey!,
          }
        : {}),
    },
  });
  return { eventGroup, metadata };
}
