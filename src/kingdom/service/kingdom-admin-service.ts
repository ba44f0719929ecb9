/**
 * `halo.keys.v1.KingdomAdmin`: what upstream's operator does with internal
 * API tools and hand-edited config, as audited RPCs.
 *
 * Creating a participant registers its root (trusted for mTLS from then on:
 * `onTrustChanged()`), its first certificate and, for DataProviders and
 * MeasurementConsumers, its signed public key. One mechanism maps client
 * certificates to principals per kind, as upstream: the AKID map gets the
 * root's SKID for DataProviders, MeasurementConsumers and ModelProviders;
 * a Duchy is found by its root SKID in the store (upstream's DuchyCertConfig)
 * and gets no map entry. A root already mapped to anyone is refused, so one
 * root can never authenticate two parties.
 *
 * Strict mode checks what CreateCertificate and UpdatePublicKey check: the
 * root is a self-signed CA, the certificate a leaf valid now under that root,
 * and the public key a usable public keyset signed by the certificate's key.
 *
 * For upstream's Account flow the operator creates the first Accounts and
 * the one-time MeasurementConsumer creation tokens.
 */
import { create } from '@bufbuild/protobuf';
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import { Code } from '@connectrpc/connect';
import {
  externalIdToApiId,
  formatResourceName,
  isDuchyId,
  parseMeasurementConsumerName,
} from '../../api/index.js';
import {
  AkidPrincipalSchema,
  ApiKeySchema,
  CreateMeasurementConsumerCreationTokenResponseSchema,
  KingdomAdmin,
  ListAkidPrincipalsResponseSchema,
  type ParticipantRegistration,
} from '../../gen/halo/keys/v1/kingdom_admin_pb.js';
import type { CertificateRecord, PartyKind, PartyRecord, PublicKeyInput } from '../store/index.js';
import { renderAccount } from './accounts-service.js';
import { ADMIN_AUDIT_ACTOR, requireAdmin } from './admin-authentication.js';
import { parseParticipantRoot, parseRegisteredCertificate, requireIssuedByRoot } from './certificate-checks.js';
import type { KingdomServices } from './context.js';
import { invalidArgument, rpcError } from './errors.js';
import { parsePrincipalName, toPartyKey } from './principal.js';
import { checkSignedPublicKey, requireSignatureByCertificate, requireUsableEncryptionKey } from './public-key-checks.js';
import {
  renderDataProvider,
  renderDuchy,
  renderMeasurementConsumer,
  renderModelProvider,
} from './render.js';
import { parseRequestName } from './request-names.js';

const HAS_PUBLIC_KEY: Record<PartyKind, boolean> = {
  DATA_PROVIDER: true,
  MEASUREMENT_CONSUMER: true,
  MODEL_PROVIDER: false,
  DUCHY: false,
};

export function kingdomAdminService(services: KingdomServices): ServiceImpl<typeof KingdomAdmin> {
  const { store } = services;
  const strict = services.mode === 'strict';

  /** Checks a registration, creates the party, maps its root, refreshes trust. */
  async function createParticipant(
    ctx: HandlerContext,
    kind: PartyKind,
    registration: ParticipantRegistration | undefined,
    duchyId?: string,
  ): Promise<{ party: PartyRecord; certificate: CertificateRecord }> {
    requireAdmin(ctx);
    if (kind === 'DUCHY' && (duchyId === undefined || !isDuchyId(duchyId))) {
      throw invalidArgument('INVALID_FIELD_VALUE', 'duchy_id must be [a-z][a-z0-9-]*, at most 63 characters');
    }
    if (registration === undefined) throw invalidArgument('REQUIRED_FIELD_NOT_SET', 'registration is not specified');
    const root = parseParticipantRoot(registration.rootCertificateDer, strict);
    const leaf = parseRegisteredCertificate(registration.certificateDer);
    const now = services.clock.now();
    if (strict) await requireIssuedByRoot(leaf.certificate, root.input.x509Der, now);

    let publicKey: PublicKeyInput | undefined;
    if (HAS_PUBLIC_KEY[kind]) {
      const checked = checkSignedPublicKey(registration.publicKey, 'registration.public_key');
      if (strict) {
        requireSignatureByCertificate(registration.publicKey!, leaf.input.x509Der, 'registration.certificate_der');
        requireUsableEncryptionKey(checked.encryptionPublicKey);
      }
      publicKey = checked.input;
    } else if (registration.publicKey !== undefined) {
      throw invalidArgument('INVALID_FIELD_VALUE', 'registration.public_key must be empty: only DataProviders and MeasurementConsumers have one');
    }

    const rootSkid = root.input.subjectKeyIdentifier;
    const mapped = await store.lookupAkidPrincipal(rootSkid);
    if (mapped !== null) {
      throw rpcError(Code.AlreadyExists, 'ROOT_CERTIFICATE_ALREADY_REGISTERED', 'This root certificate already authenticates another principal', {
        principal: mapped,
        rootSubjectKeyIdentifier: Buffer.from(rootSkid).toString('hex'),
      });
    }
    const created = await store.createParty({
      actor: ADMIN_AUDIT_ACTOR,
      kind,
      ...(kind === 'DUCHY' ? { duchyId: duchyId! } : {}),
      displayName: registration.displayName,
      rootCertificateDer: root.input.x509Der,
      rootSubjectKeyIdentifier: rootSkid,
      certificate: leaf.input,
      ...(publicKey === undefined ? {} : { publicKey }),
      mapRootToParty: kind !== 'DUCHY',
    });
    services.resolver.invalidate();
    await services.onTrustChanged?.();
    return created;
  }

  return {
    async createDataProvider(req, ctx) {
      const { party, certificate } = await createParticipant(ctx, 'DATA_PROVIDER', req.registration);
      return renderDataProvider(party, certificate);
    },

    async createMeasurementConsumer(req, ctx) {
      const { party, certificate } = await createParticipant(ctx, 'MEASUREMENT_CONSUMER', req.registration);
      return renderMeasurementConsumer(party, certificate);
    },

    async createModelProvider(req, ctx) {
      const { party } = await createParticipant(ctx, 'MODEL_PROVIDER', req.registration);
      return renderModelProvider(party);
    },

    async createDuchy(req, ctx) {
      const { party, certificate } = await createParticipant(ctx, 'DUCHY', req.registration, req.duchyId);
      return renderDuchy(party, certificate);
    },

    async setAkidPrincipal(req, ctx) {
      requireAdmin(ctx);
      const akid = req.akidPrincipal?.authorityKeyIdentifier ?? new Uint8Array(0);
      if (akid.length === 0) throw invalidArgument('REQUIRED_FIELD_NOT_SET', 'akid_principal.authority_key_identifier is not specified');
      const name = req.akidPrincipal?.principal ?? '';
      const principal = parseRequestName(parsePrincipalName, name, 'akid_principal.principal is not a DataProvider, MeasurementConsumer, ModelProvider or Duchy name');
      // A mapping to nobody would authenticate callers as a party that does not exist.
      await store.getParty(toPartyKey(principal));
      const record = await store.setAkidPrincipal({ actor: ADMIN_AUDIT_ACTOR, authorityKeyIdentifier: akid, principalResourceName: formatResourceName(principal) });
      services.resolver.invalidate();
      return create(AkidPrincipalSchema, { authorityKeyIdentifier: record.authorityKeyIdentifier, principal: record.principalResourceName });
    },

    async listAkidPrincipals(_req, ctx) {
      requireAdmin(ctx);
      const records = await store.listAkidPrincipals();
      return create(ListAkidPrincipalsResponseSchema, {
        akidPrincipals: records.map((r) =>
          create(AkidPrincipalSchema, { authorityKeyIdentifier: r.authorityKeyIdentifier, principal: r.principalResourceName }),
        ),
      });
    },

    async removeAkidPrincipal(req, ctx) {
      requireAdmin(ctx);
      const akid = req.authorityKeyIdentifier;
      if (akid.length === 0) throw invalidArgument('REQUIRED_FIELD_NOT_SET', 'authority_key_identifier is not specified');
      const existing = (await store.listAkidPrincipals()).find((r) => Buffer.from(r.authorityKeyIdentifier).equals(Buffer.from(akid)));
      await store.removeAkidPrincipal({ actor: ADMIN_AUDIT_ACTOR, authorityKeyIdentifier: akid });
      services.resolver.invalidate();
      return create(AkidPrincipalSchema, { authorityKeyIdentifier: akid, principal: existing?.principalResourceName ?? '' });
    },

    async createApiKey(req, ctx) {
      requireAdmin(ctx);
      const mc = parseRequestName(parseMeasurementConsumerName, req.measurementConsumer, 'measurement_consumer unspecified or invalid');
      const { apiKey, authenticationKey } = await store.createApiKey({
        actor: ADMIN_AUDIT_ACTOR,
        measurementConsumerId: mc.measurementConsumerId,
        nickname: req.nickname,
        description: req.description,
      });
      return create(ApiKeySchema, {
        name: formatResourceName({ kind: 'apiKey', parent: mc, apiKeyId: apiKey.externalApiKeyId }),
        nickname: apiKey.nickname,
        description: apiKey.description,
        authenticationKey: externalIdToApiId(authenticationKey),
      });
    },

    async createAccount(req, ctx) {
      requireAdmin(ctx);
      const owned =
        req.ownedMeasurementConsumer === ''
          ? undefined
          : parseRequestName(parseMeasurementConsumerName, req.ownedMeasurementConsumer, 'owned_measurement_consumer is not a MeasurementConsumer name');
      const { account, activationToken } = await store.createAccount({
        actor: ADMIN_AUDIT_ACTOR,
        ...(owned === undefined ? {} : { externalOwnedMeasurementConsumerId: owned.measurementConsumerId }),
      });
      return renderAccount(account, activationToken);
    },

    async createMeasurementConsumerCreationToken(_req, ctx) {
      requireAdmin(ctx);
      const token = await store.createMeasurementConsumerCreationToken({ actor: ADMIN_AUDIT_ACTOR });
      return create(CreateMeasurementConsumerCreationTokenResponseSchema, { measurementConsumerCreationToken: externalIdToApiId(token) });
    },
  };
}
