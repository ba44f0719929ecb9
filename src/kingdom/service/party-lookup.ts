import type { CertificateRecord, KingdomStore, PartyRecord } from '../store/index.js';

/** The certificate a party's current public key names (null without a key). */
export async function publicKeyCertificateOf(
  store: KingdomStore,
  party: PartyRecord,
): Promise<CertificateRecord | null> {
  if (party.publicKey === null) return null;
  return store.getCertificate(party.key, party.publicKey.certificateId);
}
