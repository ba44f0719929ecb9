/**
 * `wfa.measurement.api.v2alpha.PublicKeys.UpdatePublicKey` (§2.7): replaces
 * a DataProvider's or MeasurementConsumer's signed EncryptionPublicKey and
 * re-points it at the named certificate of the same parent. The response is
 * the request's PublicKey, echoed, as upstream.
 *
 * Strict mode (beyond upstream): the signature must verify with the named
 * certificate, the key must be a usable public Tink keyset, and the
 * certificate must be valid now and neither on hold nor revoked (checked by
 * the store under a lock, FAILED_PRECONDITION `CERTIFICATE_IS_INVALID`).
 */
import type { ServiceImpl } from '@connectrpc/connect';
import { parseCertificateName, parsePublicKeyName } from '../../api/index.js';
import { PublicKeys } from '../../gen/wfa/measurement/api/v2alpha/public_keys_service_pb.js';
import { StoreError, type CertificateRecord } from '../store/index.js';
import { requireParent } from './authorization.js';
import type { KingdomServices } from './context.js';
import { invalidArgument } from './errors.js';
import { actorOf } from './service-support.js';
import { requirePrincipal, samePrincipal, toPartyKey } from './principal.js';
import { checkSignedPublicKey, requireSignatureByCertificate, requireUsableEncryptionKey } from './public-key-checks.js';
import { parseRequestName } from './request-names.js';

export function publicKeysService(services: KingdomServices): ServiceImpl<typeof PublicKeys> {
  const { store } = services;
  return {
    async updatePublicKey(req, ctx) {
      const publicKey = req.publicKey;
      const name = publicKey?.name ?? '';
      const key = parseRequestName(parsePublicKeyName, name, 'Resource name unspecified or invalid');
      const principal = requirePrincipal(ctx);
      requireParent(principal, key.parent, 'UPDATE', name);
      const certificateKey = parseRequestName(
        parseCertificateName,
        publicKey?.certificate ?? '',
        'Certificate name unspecified or invalid',
      );
      if (!samePrincipal(key.parent, certificateKey.parent)) {
        throw invalidArgument('INVALID_FIELD_VALUE', 'Resource name does not have same parent as Certificate name');
      }
      const checked = checkSignedPublicKey(publicKey?.publicKey, 'public_key.public_key');
      const owner = toPartyKey(key.parent);
      const strict = services.mode === 'strict';
      if (strict) {
        // A certificate that is not there is left to the store, which tells a
        // missing parent (NOT_FOUND) from a missing certificate (FAILED_PRECONDITION).
        const certificate = await findCertificate(services, owner, certificateKey.certificateId);
        if (certificate !== null) {
          requireSignatureByCertificate(publicKey!.publicKey!, certificate.x509Der, publicKey!.certificate);
        }
        requireUsableEncryptionKey(checked.encryptionPublicKey);
      }
      await store.updatePublicKey({
        actor: actorOf(principal, ctx),
        owner,
        certificateId: certificateKey.certificateId,
        publicKey: checked.input,
        requireValidCertificate: strict,
      });
      return publicKey!;
    },
  };
}

async function findCertificate(
  services: KingdomServices,
  owner: ReturnType<typeof toPartyKey>,
  id: bigint,
): Promise<CertificateRecord | null> {
  try {
    return await services.store.getCertificate(owner, id);
  } catch (err) {
    if (err instanceof StoreError && err.code === 'NOT_FOUND') return null;
    throw err;
  }
}
