/**
 * GeneralName (RFC 5280 §4.2.1.6) as it appears in subjectAltName,
 * authorityKeyIdentifier and name constraints. IA5String forms must be ASCII;
 * IP addresses are raw bytes (4 or 16), with a mask when used as a constraint.
 */
import { type DerNode, DerError, TagClass, children, parse } from '../lib/index.js';
import { type Name, decodeName } from './name.js';

export type GeneralName =
  | { readonly type: 'dns'; readonly value: string }
  | { readonly type: 'email'; readonly value: string }
  | { readonly type: 'uri'; readonly value: string }
  /** An address (4 or 16 bytes); in a name constraint, `mask` has the same length. */
  | { readonly type: 'ip'; readonly value: Uint8Array; readonly mask?: Uint8Array }
  | { readonly type: 'directoryName'; readonly value: string; readonly name: Name }
  /** otherName [0], x400Address [3], ediPartyName [5], registeredID [8]: kept as the raw element. */
  | { readonly type: 'other'; readonly tag: number; readonly value: Uint8Array };

function ia5(node: DerNode, what: string): string {
  if (node.constructed) throw new DerError(`${what} must be primitive`);
  let s = '';
  for (const b of node.value) {
    if (b > 0x7f) throw new DerError(`${what} contains a non-ASCII byte`);
    s += String.fromCharCode(b);
  }
  return s;
}

/**
 * Decodes one GeneralName. With `constraint`, an iPAddress is address+mask
 * (8 or 32 bytes) and the mask must be a contiguous prefix.
 */
export function decodeGeneralName(node: DerNode, constraint = false): GeneralName {
  if (node.cls !== TagClass.CONTEXT) throw new DerError('GeneralName must be context-tagged');
  switch (node.tag) {
    case 1:
      return { type: 'email', value: ia5(node, 'rfc822Name') };
    case 2:
      return { type: 'dns', value: ia5(node, 'dNSName') };
    case 6:
      return { type: 'uri', value: ia5(node, 'uniformResourceIdentifier') };
    case 7: {
      if (node.constructed) throw new DerError('iPAddress must be primitive');
      const v = node.value;
      if (!constraint) {
        if (v.length !== 4 && v.length !== 16) throw new DerError('iPAddress must be 4 or 16 bytes');
        return { type: 'ip', value: v };
      }
      if (v.length !== 8 && v.length !== 32) throw new DerError('iPAddress constraint must be 8 or 32 bytes');
      const half = v.length / 2;
      const mask = v.subarray(half);
      if (!isPrefixMask(mask)) throw new DerError('iPAddress constraint mask is not a prefix');
      return { type: 'ip', value: v.subarray(0, half), mask };
    }
    case 4: {
      // directoryName is EXPLICIT (Name is a CHOICE).
      if (!node.constructed) throw new DerError('directoryName must be constructed');
      const inner = children(node);
      if (inner.length !== 1) throw new DerError('directoryName must hold one Name');
      const name = decodeName(inner[0]!);
      return { type: 'directoryName', value: name.text, name };
    }
    case 0:
    case 3:
    case 5:
    case 8:
      if ((node.tag === 8) === node.constructed) throw new DerError('GeneralName has the wrong form');
      return { type: 'other', tag: node.tag, value: node.bytes };
    default:
      throw new DerError(`unknown GeneralName tag [${node.tag}]`);
  }
}

/** Decodes `GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName` from its node. */
export function decodeGeneralNames(node: DerNode): GeneralName[] {
  const names = children(node).map((n) => decodeGeneralName(n));
  if (names.length === 0) throw new DerError('GeneralNames must not be empty');
  return names;
}

export function parseGeneralNames(der: Uint8Array): GeneralName[] {
  return decodeGeneralNames(parse(der));
}

function isPrefixMask(mask: Uint8Array): boolean {
  let seenZero = false;
  for (const byte of mask) {
    for (let bit = 7; bit >= 0; bit--) {
      const set = (byte >> bit) & 1;
      if (set && seenZero) return false;
      if (!set) seenZero = true;
    }
  }
  return true;
}

/** Text form of an IP address: dotted IPv4, or RFC 5952 IPv6. */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  const groups: number[] = [];
  for (let i = 0; i + 1 < bytes.length; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  // The longest run (>= 2) of zero groups becomes '::'.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Text form for display: `DNS:example.com`, `IP:10.0.0.0/8`, ... */
export function formatGeneralName(n: GeneralName): string {
  switch (n.type) {
    case 'dns':
      return `DNS:${n.value}`;
    case 'email':
      return `email:${n.value}`;
    case 'uri':
      return `URI:${n.value}`;
    case 'ip': {
      if (!n.mask) return `IP:${formatIp(n.value)}`;
      let bits = 0;
      for (const b of n.mask) for (let i = 7; i >= 0; i--) bits += (b >> i) & 1;
      return `IP:${formatIp(n.value)}/${bits}`;
    }
    case 'directoryName':
      return `DirName:${n.value}`;
    case 'other':
      return `othername[${n.tag}]:${Buffer.from(n.value).toString('hex')}`;
  }
}
