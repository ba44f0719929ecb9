/**
 * `wfa.measurement.api.v2alpha.MeasurementConsumers` (§2.9).
 *
 * Get: any DataProvider, or the MeasurementConsumer itself.
 * Create, AddOwner, RemoveOwner: an activated Account (OpenID ID token), as
 * upstream. Create consumes a creation token the operator issued (once: a
 * reused or unknown token is PERMISSION_DENIED) and makes the Account the
 * first owner; the new MeasurementConsumer registers no root, so it calls
 * with API keys, not mTLS. Add and Remove: only an owner of the
 * MeasurementConsumer (PERMISSION_DENIED otherwise). Every response names
 * the owning Accounts in `owners`.
 *
 * Strict mode adds to Create what it adds to UpdatePublicKey: the
 * certificate is a leaf valid now, the key's signature verifies with it and
 * the key is a usable public keyset.
 */
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import { parseApiId, parseMeasurementConsumerName } from '../../api/index.js';
import { MeasurementConsumers } from '../../gen/wfa/measurement/api/v2alpha/measurement_consumers_service_pb.js';
import { accountActor, parseAccountName, requireAccount } from './account-authentication.js';
import { canGetMeasurementConsumer, requireAllowed } from './authorization.js';
import { parseRegisteredCertificate, requireLeafValidNow } from './certificate-checks.js';
import type { KingdomServices } from './context.js';
import { invalidArgument, permissionDenied } from './errors.js';
import { publicKeyCertificateOf } from './party-lookup.js';
import { requirePrincipal } from './principal.js';
import { checkSignedPublicKey, requireSignatureByCertificate, requireUsableEncryptionKey } from './public-key-checks.js';
import { renderMeasurementConsumer } from './render.js';
import { parseRequestName } from './request-names.js';
import { requiredField } from './service-support.js';

export function measurementConsumersService(services: KingdomServices): ServiceImpl<typeof MeasurementConsumers> {
  const { store } = services;
  const strict = services.mode === 'strict';

  async function render(measurementConsumerId: bigint) {
    const party = await store.getParty({ kind: 'MEASUREMENT_CONSUMER', id: measurementConsumerId });
    const owners = await store.listMeasurementConsumerOwners(measurementConsumerId);
    return renderMeasurementConsumer(party, await publicKeyCertificateOf(store, party), owners);
  }

  /** The caller's Account must own the MeasurementConsumer; the store checks it again in its transaction. */
  async function ownerChange(req: { name: string; account: string }, ctx: HandlerContext) {
    const caller = await requireAccount(ctx, services);
    const mc = parseRequestName(parseMeasurementConsumerName, req.name, 'Resource name unspecified or invalid');
    if (!caller.ownedMeasurementConsumerIds.includes(mc.measurementConsumerId)) {
      throw permissionDenied('UPDATE', req.name);
    }
    const account = parseRequestName(parseAccountName, req.account, 'Account unspecified or invalid');
    return {
      actor: accountActor(caller),
      externalCallerAccountId: caller.externalAccountId,
      externalMeasurementConsumerId: mc.measurementConsumerId,
      externalAccountId: account,
    };
  }

  return {
    async getMeasurementConsumer(req, ctx) {
      const key = parseRequestName(parseMeasurementConsumerName, req.name, 'Resource name unspecified or invalid');
      const principal = requirePrincipal(ctx);
      requireAllowed(canGetMeasurementConsumer(principal, key), 'GET', req.name);
      return render(key.measurementConsumerId);
    },

    async createMeasurementConsumer(req, ctx) {
      const account = await requireAccount(ctx, services);
      const mc = req.measurementConsumer ?? requiredField('measurement_consumer');
      const checked = checkSignedPublicKey(mc.publicKey, 'measurement_consumer.public_key');
      if (mc.measurementConsumerCreationToken === '') requiredField('measurement_consumer.measurement_consumer_creation_token');
      const token = parseApiId(mc.measurementConsumerCreationToken);
      if (token === undefined) {
        throw invalidArgument('INVALID_FIELD_VALUE', 'measurement_consumer.measurement_consumer_creation_token is not a valid token');
      }
      const leaf = parseRegisteredCertificate(mc.certificateDer, 'measurement_consumer.certificate_der');
      if (strict) {
        requireLeafValidNow(leaf.certificate, services.clock.now(), 'measurement_consumer.certificate_der');
        requireSignatureByCertificate(mc.publicKey!, leaf.input.x509Der, 'measurement_consumer.certificate_der');
        requireUsableEncryptionKey(checked.encryptionPublicKey);
      }
      const { party, certificate } = await store.createMeasurementConsumerForAccount({
        actor: accountActor(account),
        externalAccountId: account.externalAccountId,
        creationToken: token,
        displayName: mc.displayName,
        certificate: leaf.input,
        publicKey: checked.input,
      });
      // The creating Account is the one owner, in the same transaction.
      return renderMeasurementConsumer(party, certificate, [account.externalAccountId]);
    },

    async addMeasurementConsumerOwner(req, ctx) {
      const change = await ownerChange(req, ctx);
      await store.addMeasurementConsumerOwner(change);
      return render(change.externalMeasurementConsumerId);
    },

    async removeMeasurementConsumerOwner(req, ctx) {
      const change = await ownerChange(req, ctx);
      await store.removeMeasurementConsumerOwner(change);
      return render(change.externalMeasurementConsumerId);
    },
  };
}
