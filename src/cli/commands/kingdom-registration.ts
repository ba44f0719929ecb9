/** Turns `kingdom admin` flags into admin-service requests: files read, PEM or DER accepted. */
import { create } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { typeUrlOf } from '../../api/index.js';
import { signatureAlgorithmByName } from '../../crypto/index.js';
import type { ParticipantRegistration } from '../../gen/halo/keys/v1/kingdom_admin_pb.js';
import { ParticipantRegistrationSchema } from '../../gen/halo/keys/v1/kingdom_admin_pb.js';
import { EncryptionPublicKeySchema, SignedMessageSchema } from '../../gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { readFileBytes } from '../../lib/index.js';
import { parseCertificate, readCertificatesFile } from '../../pki/index.js';
import { UsageError } from '../run.js';

export function readCertificateDer(path: string, what: string): Uint8Array {
  const blocks = readCertificatesFile(path, what).map((c) => c.der);
  if (blocks.length !== 1) throw new UsageError(`${path}: expected one certificate, found ${blocks.length}`);
  return blocks[0]!;
}

export function buildRegistration(flags: {
  rootCert: string;
  certificate: string;
  publicKey?: string;
  publicKeySignature?: string;
  publicKeySignatureAlgorithm?: string;
  displayName?: string;
}): ParticipantRegistration {
  const root = readCertificateDer(flags.rootCert, 'root certificate');
  const leaf = readCertificateDer(flags.certificate, 'certificate');
  if ((flags.publicKey === undefined) !== (flags.publicKeySignature === undefined)) {
    throw new UsageError('--public-key and --public-key-signature go together');
  }
  const registration = create(ParticipantRegistrationSchema, {
    rootCertificateDer: root,
    certificateDer: leaf,
    displayName: flags.displayName ?? '',
  });
  if (flags.publicKey !== undefined && flags.publicKeySignature !== undefined) {
    // As upstream's `public-keys update`: the file bytes are the Any value, verbatim.
    const value = readFileBytes(flags.publicKey, 'public key');
    const signature = readFileBytes(flags.publicKeySignature, 'public key signature');
    const oid = flags.publicKeySignatureAlgorithm !== undefined ? signatureAlgorithmByName(flags.publicKeySignatureAlgorithm).oid : '';
    registration.publicKey = create(SignedMessageSchema, {
      message: create(AnySchema, { typeUrl: typeUrlOf(EncryptionPublicKeySchema), value }),
      signature,
      signatureAlgorithmOid: oid,
    });
  }
  return registration;
}

/** `--akid HEX` or `--root-cert FILE` (its SKID). */
export function akidFromFlags(flags: { akid?: string; rootCert?: string }): Uint8Array {
  if ((flags.akid === undefined) === (flags.rootCert === undefined)) throw new UsageError('give --akid or --root-cert (one of them)');
  if (flags.akid !== undefined) {
    const hex = flags.akid.replace(/[:\s]/g, '');
    if (!/^([0-9a-fA-F]{2})+$/.test(hex)) throw new UsageError('--akid must be hex bytes, e.g. 4f:1a:... or 4f1a...');
    return new Uint8Array(Buffer.from(hex, 'hex'));
  }
  const skid = parseCertificate(readCertificateDer(flags.rootCert!, 'root certificate')).subjectKeyIdentifier;
  if (!skid) throw new UsageError(`${flags.rootCert} has no subject key identifier`);
  return skid;
}
