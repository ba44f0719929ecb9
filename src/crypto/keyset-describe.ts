/** A plain, printable description of a keyset (what `keyset inspect` shows). No key material. */
import { KeyData_KeyMaterialType, KeyStatusType, OutputPrefixType, type Keyset, type KeysetInfo } from '../gen/google/crypto/tink/tink_pb.js';
import { templateNameOf } from './keyset-templates.js';

export interface KeyDescription {
  keyId: number;
  primary: boolean;
  status: string;
  outputPrefixType: string;
  typeUrl: string;
  /** The key proto name, e.g. `EciesAeadHkdfPublicKey`. */
  keyType: string;
  keyMaterialType?: string;
  /** The Tink template the key matches, when known. */
  template?: string;
}

export interface KeysetDescription {
  primaryKeyId: number;
  keys: KeyDescription[];
}

function shortType(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('.') + 1) || '(none)';
}

export function describeKeyset(keyset: Keyset): KeysetDescription {
  return {
    primaryKeyId: keyset.primaryKeyId,
    keys: keyset.key.map((k) => {
      const template = templateNameOf(k.keyData, k.outputPrefixType);
      return {
        keyId: k.keyId,
        primary: k.keyId === keyset.primaryKeyId,
        status: KeyStatusType[k.status] ?? String(k.status),
        outputPrefixType: OutputPrefixType[k.outputPrefixType] ?? String(k.outputPrefixType),
        typeUrl: k.keyData?.typeUrl ?? '',
        keyType: shortType(k.keyData?.typeUrl ?? ''),
        ...(k.keyData ? { keyMaterialType: KeyData_KeyMaterialType[k.keyData.keyMaterialType] ?? String(k.keyData.keyMaterialType) } : {}),
        ...(template ? { template } : {}),
      };
    }),
  };
}

/** The same description from an encrypted keyset's cleartext `KeysetInfo`. */
export function describeKeysetInfo(info: KeysetInfo): KeysetDescription {
  return {
    primaryKeyId: info.primaryKeyId,
    keys: info.keyInfo.map((k) => ({
      keyId: k.keyId,
      primary: k.keyId === info.primaryKeyId,
      status: KeyStatusType[k.status] ?? String(k.status),
      outputPrefixType: OutputPrefixType[k.outputPrefixType] ?? String(k.outputPrefixType),
      typeUrl: k.typeUrl,
      keyType: shortType(k.typeUrl),
    })),
  };
}
