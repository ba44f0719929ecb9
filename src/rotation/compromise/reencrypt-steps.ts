/**
 * A DataProvider answers one metadata re-encryption request: it fetches the
 * MeasurementConsumer's current key (verified against the MC's root, see
 * peer-keys.ts), encrypts its own plaintext copy of the EventGroup.Metadata
 * to it, updates the EventGroup and closes the request.
 *
 * The plaintext comes from `compromise.eventGroupMetadata`: one file per
 * EventGroup, `<event_group_reference_id>.binpb`, a serialized
 * `EventGroup.Metadata`, kept by the DataProvider's tooling when it creates
 * the group. Nothing is decrypted. A group no longer encrypted to the
 * compromised key (updated before a crash) is only closed.
 */
import { join } from 'node:path';
import { clone, fromBinary } from '@bufbuild/protobuf';
import { encryptMessage } from '../../crypto/index.js';
import { EventGroup_MetadataSchema, EventGroup_State, EventGroupSchema, type EventGroup_Metadata } from '../../gen/wfa/measurement/api/v2alpha/event_group_pb.js';
import { readFileBytes } from '../../lib/index.js';
import { RotationError } from '../errors.js';
import type { StepHandler } from '../steps/context.js';
import { encryptionKeyBytes, sha256, toHex } from './keys.js';
import { clientOf } from './kingdom-calls.js';
import { verifiedPeerKey } from './peer-keys.js';
import { recordOutcome } from './workspace.js';

export interface ReencryptionOutcome {
  request: string;
  reencrypted: boolean;
  detail: string;
}

/** The DataProvider's plaintext metadata of a group. */
export function ownMetadata(dir: string, referenceId: string): EventGroup_Metadata {
  if (!/^[A-Za-z0-9][A-Za-z0-9._~-]*$/.test(referenceId)) {
    throw new RotationError('PLAINTEXT_MISSING', `event_group_reference_id "${referenceId.slice(0, 80)}" cannot name a metadata file`);
  }
  const file = join(dir, `${referenceId}.binpb`);
  try {
    return fromBinary(EventGroup_MetadataSchema, readFileBytes(file, 'EventGroup metadata'));
  } catch (err) {
    const missing = (err as { code?: string }).code === 'FILE_NOT_FOUND';
    throw new RotationError('PLAINTEXT_MISSING', missing ? `no metadata copy ${file}: put the plaintext EventGroup.Metadata there and run again` : `${file} is not a serialized EventGroup.Metadata`, { cause: err });
  }
}

export const reencryptEventGroupStep: StepHandler = {
  async run(ctx, step) {
    const s = ctx.session;
    const request = String(step.args?.request ?? '');
    const name = String(step.args?.eventGroup ?? '');
    const consumer = String(step.args?.measurementConsumer ?? '');
    const fingerprint = String(step.args?.fingerprint ?? '');
    const client = clientOf(ctx);
    const eg = await client.eventGroups.getEventGroup({ name });
    const current = encryptionKeyBytes(eg.measurementConsumerPublicKey);
    const stale = eg.state !== EventGroup_State.DELETED && eg.encryptedMetadata !== undefined && current !== undefined && toHex(sha256(current)) === fingerprint;
    let detail = 'no longer encrypted to the compromised key';
    if (stale) {
      const peer = await verifiedPeerKey(client, consumer, String(step.args?.trustedRoots ?? ''), s.now());
      if (toHex(sha256(peer.bytes)) === fingerprint) {
        throw new RotationError('PRECONDITION_FAILED', `${consumer} still publishes the compromised key; run again once it has rotated`);
      }
      const metadata = ownMetadata(String(step.args?.metadataDir ?? ''), eg.eventGroupReferenceId);
      const updated = clone(EventGroupSchema, eg);
      updated.encryptedMetadata = encryptMessage(peer.keyset, EventGroup_MetadataSchema, metadata);
      updated.serializedEncryptedMetadata = new Uint8Array(0);
      updated.measurementConsumerPublicKey = peer.signed.message!;
      updated.signedMeasurementConsumerPublicKey = peer.signed;
      await client.eventGroups.updateEventGroup({ eventGroup: updated });
      detail = `re-encrypted to key ${toHex(sha256(peer.bytes)).slice(0, 16)}… of ${consumer}`;
      s.record({ action: 'event-group.reencrypt', resource: name, before: { keySha256: fingerprint }, after: { keySha256: toHex(sha256(peer.bytes)), certificate: peer.certificate }, outcome: 'ok' });
    }
    await client.metadataReencryption.closeMetadataReencryptionRequest({ name: request });
    s.record({ action: 'reencryption-request.close', resource: request, outcome: 'ok', detail });
    const outcome: ReencryptionOutcome = { request, reencrypted: stale, detail };
    recordOutcome(s, ctx.journalId, 'event-groups', name, outcome);
    return `${name}: ${detail}; request closed`;
  },
  async preview(_ctx, step) {
    return `would re-encrypt the metadata of ${String(step.args?.eventGroup)} to the current key of ${String(step.args?.measurementConsumer)}, UpdateEventGroup, and close ${String(step.args?.request)}`;
  },
};
