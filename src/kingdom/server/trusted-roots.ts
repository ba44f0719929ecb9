/**
 * The client roots the TLS layer trusts: every registered participant's root
 * (kept in the store) plus operator-supplied bundles (`--trusted-roots`).
 * Upstream needs a hand-edited `all_root_certs.pem` and a restart; here an
 * admin change, or another replica's change seen on the periodic refresh,
 * swaps the set in place. Which principal a chain authenticates is decided
 * later, against that principal's own root (service/authentication.ts).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { decodePem, encodePem, looksLikePem } from '../../lib/index.js';
import { parseCertificate, TrustStore } from '../../pki/index.js';
import { ServerError } from './errors.js';

/** Reads every certificate of the `--trusted-roots` PEM bundles; a bad file stops the start. */
export function readRootBundles(files: readonly string[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const file of files) {
    let text: string;
    try {
      const bytes = readFileSync(file);
      text = looksLikePem(bytes) ? bytes.toString('latin1') : encodePem('CERTIFICATE', bytes);
    } catch (cause) {
      throw new ServerError('TLS_MATERIAL_INVALID', `cannot read --trusted-roots file ${file}`, { cause });
    }
    let ders: Uint8Array[];
    try {
      ders = decodePem(text).filter((b) => b.label === 'CERTIFICATE').map((b) => b.der);
      for (const der of ders) parseCertificate(der);
    } catch (cause) {
      throw new ServerError('TLS_MATERIAL_INVALID', `--trusted-roots file ${file} holds a certificate that does not parse`, { cause });
    }
    if (ders.length === 0) throw new ServerError('TLS_MATERIAL_INVALID', `--trusted-roots file ${file} holds no certificate`);
    out.push(...ders);
  }
  return out;
}


export interface TrustedRootSet {
  /** The roots, for verifying client chains. */
  readonly store: TrustStore;
  /** Identifies the set: equal digests mean nothing to rebuild. */
  readonly digest: string;
}

export function rootSet(ders: readonly Uint8Array[]): TrustedRootSet {
  const unique = new Map<string, Uint8Array>();
  for (const der of ders) unique.set(createHash('sha256').update(der).digest('hex'), der);
  const keys = [...unique.keys()].sort();
  return {
    store: new TrustStore(keys.map((k) => parseCertificate(unique.get(k)!))),
    digest: createHash('sha256').update(keys.join(',')).digest('hex'),
  };
}
