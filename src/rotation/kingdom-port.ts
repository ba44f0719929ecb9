/**
 * What rotation asks of the Kingdom, as a small interface: the rotation steps
 * depend on this, and `kingdomPortOver` implements it with the typed client
 * (over mTLS, or over an in-memory transport in tests).
 */
import { create, fromBinary } from '@bufbuild/protobuf';
import type { Any } from '@bufbuild/protobuf/wkt';
import { Code } from '@connectrpc/connect';
import { type KingdomClient, KingdomClientError } from '../client/index.js';
import { KeysetSchema } from '../gen/google/crypto/tink/tink_pb.js';
import { Certificate_RevocationState, CertificateSchema } from '../gen/wfa/measurement/api/v2alpha/certificate_pb.js';
import { EncryptionPublicKeySchema, type SignedMessage } from '../gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { Measurement_State } from '../gen/wfa/measurement/api/v2alpha/measurement_pb.js';
import { MeasurementSpecSchema } from '../gen/wfa/measurement/api/v2alpha/measurement_spec_pb.js';
import { PublicKeySchema } from '../gen/wfa/measurement/api/v2alpha/public_key_pb.js';
import { Requisition_State } from '../gen/wfa/measurement/api/v2alpha/requisition_pb.js';
import { participantKindOf } from './config.js';

export type KingdomRevocation = 'NONE' | 'HOLD' | 'REVOKED';

export interface KingdomCertificate {
  name: string;
  der: Uint8Array;
  skid: Uint8Array;
  revocation: KingdomRevocation;
}

export interface ParticipantView {
  name: string;
  /** The certificate its public key is signed with (`certificate` field). */
  certificate: string;
  publicKey: SignedMessage | undefined;
}

/** Pending work that still relies on a certificate or an encryption key. */
export interface Dependents {
  /** False when the Kingdom offers no way to ask for this participant kind. */
  supported: boolean;
  /** Names of pending requisitions/measurements that reference the certificate. */
  certificate: string[];
  /** Names of pending requisitions/measurements encrypted to one of the keys. */
  encryptionKeys: string[];
}

export interface KingdomPort {
  listCertificatesBySkid(parent: string, skid: Uint8Array): Promise<KingdomCertificate[]>;
  createCertificate(parent: string, der: Uint8Array): Promise<KingdomCertificate>;
  getCertificate(name: string): Promise<KingdomCertificate>;
  revokeCertificate(name: string, state: 'HOLD' | 'REVOKED'): Promise<KingdomCertificate>;
  getParticipant(name: string): Promise<ParticipantView>;
  updatePublicKey(participant: string, publicKey: SignedMessage, certificate: string): Promise<void>;
  dependents(participant: string, query: { certificate?: string; encryptionKeyIds?: readonly number[] }): Promise<Dependents>;
}

function revocationOf(state: Certificate_RevocationState): KingdomRevocation {
  if (state === Certificate_RevocationState.REVOKED) return 'REVOKED';
  if (state === Certificate_RevocationState.HOLD) return 'HOLD';
  return 'NONE';
}

function view(c: { name: string; x509Der: Uint8Array; subjectKeyIdentifier: Uint8Array; revocationState: Certificate_RevocationState }): KingdomCertificate {
  return { name: c.name, der: c.x509Der, skid: c.subjectKeyIdentifier, revocation: revocationOf(c.revocationState) };
}

/** The primary key id of a packed EncryptionPublicKey (Tink keyset), or undefined when it is not one. */
export function primaryKeyIdOf(any: Any | undefined): number | undefined {
  if (!any || !any.typeUrl.endsWith('/wfa.measurement.api.v2alpha.EncryptionPublicKey')) return undefined;
  try {
    const key = fromBinary(EncryptionPublicKeySchema, any.value);
    return fromBinary(KeysetSchema, key.data).primaryKeyId;
  } catch {
    return undefined;
  }
}

const PAGE = 100;
const MAX_PAGES = 1000;

export function kingdomPortOver(client: KingdomClient): KingdomPort {
  return {
    async listCertificatesBySkid(parent, skid) {
      const out: KingdomCertificate[] = [];
      let pageToken = '';
      for (let i = 0; i < MAX_PAGES; i++) {
        const res = await client.certificates.listCertificates({ parent, pageSize: PAGE, pageToken, filter: { subjectKeyIdentifiers: [skid] } });
        out.push(...res.certificates.map(view));
        pageToken = res.nextPageToken;
        if (!pageToken) break;
      }
      // The filter is ours to trust only as far as we check it.
      return out.filter((c) => Buffer.compare(Buffer.from(c.skid), Buffer.from(skid)) === 0);
    },
    async createCertificate(parent, der) {
      return view(await client.certificates.createCertificate({ parent, certificate: create(CertificateSchema, { x509Der: der }) }));
    },
    async getCertificate(name) {
      return view(await client.certificates.getCertificate({ name }));
    },
    async revokeCertificate(name, state) {
      const revocationState = state === 'HOLD' ? Certificate_RevocationState.HOLD : Certificate_RevocationState.REVOKED;
      return view(await client.certificates.revokeCertificate({ name, revocationState }));
    },
    async getParticipant(name) {
      const kind = participantKindOf(name);
      if (kind === 'dataProvider') {
        const p = await client.dataProviders.getDataProvider({ name });
        return { name: p.name, certificate: p.certificate, publicKey: p.publicKey };
      }
      if (kind === 'measurementConsumer') {
        const p = await client.measurementConsumers.getMeasurementConsumer({ name });
        return { name: p.name, certificate: p.certificate, publicKey: p.publicKey };
      }
      if (kind === 'modelProvider') {
        await client.modelProviders.getModelProvider({ name });
        return { name, certificate: '', publicKey: undefined };
      }
      if (kind === 'duchy') {
        // No public Get for Duchies: listing its own certificates proves it exists and that we are it.
        await client.certificates.listCertificates({ parent: name, pageSize: 1 });
        return { name, certificate: '', publicKey: undefined };
      }
      throw new KingdomClientError('RPC_FAILED', `the Kingdom has no Get method for ${name}`, { grpcCode: Code.Unimplemented });
    },
    async updatePublicKey(participant, publicKey, certificate) {
      await client.publicKeys.updatePublicKey({ publicKey: create(PublicKeySchema, { name: `${participant}/publicKey`, publicKey, certificate }) });
    },
    async dependents(participant, query) {
      const kind = participantKindOf(participant);
      const keyIds = new Set(query.encryptionKeyIds ?? []);
      const result: Dependents = { supported: true, certificate: [], encryptionKeys: [] };
      if (kind === 'dataProvider') {
        let pageToken = '';
        for (let i = 0; i < MAX_PAGES; i++) {
          const res = await client.requisitions.listRequisitions({ parent: participant, pageSize: PAGE, pageToken, filter: { states: [Requisition_State.UNFULFILLED] } });
          for (const r of res.requisitions) {
            if (query.certificate && r.dataProviderCertificate === query.certificate) result.certificate.push(r.name);
            const primary = primaryKeyIdOf(r.dataProviderPublicKey);
            if (primary !== undefined && keyIds.has(primary)) result.encryptionKeys.push(r.name);
          }
          pageToken = res.nextPageToken;
          if (!pageToken) break;
        }
        return result;
      }
      if (kind === 'measurementConsumer') {
        let pageToken = '';
        const states = [Measurement_State.AWAITING_REQUISITION_FULFILLMENT, Measurement_State.COMPUTING];
        for (let i = 0; i < MAX_PAGES; i++) {
          const res = await client.measurements.listMeasurements({ parent: participant, pageSize: PAGE, pageToken, filter: { states } });
          for (const m of res.measurements) {
            if (query.certificate && m.measurementConsumerCertificate === query.certificate) result.certificate.push(m.name);
            let primary: number | undefined;
            try {
              const spec = m.measurementSpec?.message ?? undefined;
              const bytes = spec?.value ?? m.measurementSpec?.data;
              if (bytes) primary = primaryKeyIdOf(fromBinary(MeasurementSpecSchema, bytes).measurementPublicKey);
            } catch {
              primary = undefined;
            }
            if (primary !== undefined && keyIds.has(primary)) result.encryptionKeys.push(m.name);
          }
          pageToken = res.nextPageToken;
          if (!pageToken) break;
        }
        return result;
      }
      if (kind === 'modelProvider' || kind === 'duchy') {
        // No encryption key at the Kingdom; what references the certificate is the owner's to ask (halo.keys.v1).
        if (!query.certificate) return result;
        try {
          const radius = await client.certificateBlastRadius.getCertificateBlastRadius({ certificate: query.certificate });
          result.certificate.push(...radius.pendingMeasurements, ...radius.pendingRequisitions);
          return result;
        } catch (err) {
          // An upstream Kingdom has no such service.
          if (err instanceof KingdomClientError && err.grpcCode === Code.Unimplemented) return { supported: false, certificate: [], encryptionKeys: [] };
          throw err;
        }
      }
      return { supported: false, certificate: [], encryptionKeys: [] };
    },
  };
}
