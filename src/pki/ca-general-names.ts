/**
 * GeneralName values the CA puts in SANs and name constraints, checked and
 * normalized before encoding: DNS names become lowercase A-labels, IP
 * addresses become their 4 or 16 octets, URIs must carry a scheme and host
 * (RFC 5280 §4.2.1.6). Bad input is INVALID_REQUEST, never a bad certificate.
 */
import { domainToASCII } from 'node:url';
import { encode, tlv } from '../lib/index.js';
import { PkiError } from './errors.js';
import { hasDnsLabelSyntax, parseIp } from './hostname.js';

export type GeneralNameInput =
  | { type: 'dns'; value: string }
  | { type: 'ip'; value: string }
  | { type: 'uri'; value: string }
  | { type: 'email'; value: string }
  | { type: 'dn'; der: Uint8Array };

/**
 * A DNS name as a lowercase A-label string; `*.` is allowed as the whole
 * left-most label only. The label syntax is host matching's
 * (`hasDnsLabelSyntax`); unlike `normalizeHost`, which refuses, this throws,
 * always passes the name through IDNA, and accepts an all-digit last label.
 */
export function normalizeDnsName(name: string, { wildcard = true }: { wildcard?: boolean } = {}): string {
  let rest = name;
  let prefix = '';
  if (wildcard && rest.startsWith('*.')) {
    prefix = '*.';
    rest = rest.slice(2);
  }
  const ascii = domainToASCII(rest.endsWith('.') ? rest.slice(0, -1) : rest);
  if (!hasDnsLabelSyntax(ascii)) throw new PkiError('INVALID_REQUEST', `"${name}" is not a valid DNS name`);
  return prefix + ascii;
}

/**
 * The 4 (IPv4) or 16 (IPv6) octets of an address, parsed as host matching
 * parses it (`parseIp`), except that the bracketed URL form is refused here.
 */
export function ipAddressBytes(text: string): Uint8Array {
  const bytes = text.startsWith('[') ? undefined : parseIp(text);
  if (!bytes) throw new PkiError('INVALID_REQUEST', `"${text}" is not an IP address`);
  return bytes;
}

/** An IP range `addr/prefix` as address + mask octets (the name-constraint form). */
export function ipRangeBytes(cidr: string): Uint8Array {
  const slash = cidr.indexOf('/');
  if (slash < 0) throw new PkiError('INVALID_REQUEST', `IP constraint "${cidr}" needs a prefix length (addr/len)`);
  const address = ipAddressBytes(cidr.slice(0, slash));
  const bits = Number(cidr.slice(slash + 1));
  if (!/^\d+$/.test(cidr.slice(slash + 1)) || bits > address.length * 8) {
    throw new PkiError('INVALID_REQUEST', `IP constraint "${cidr}" has a bad prefix length`);
  }
  const mask = new Uint8Array(address.length);
  for (let i = 0; i < bits; i++) mask[i >> 3]! |= 0x80 >> (i & 7);
  const base = address.map((b, i) => b & mask[i]!);
  return Uint8Array.from([...base, ...mask]);
}

function checkEmail(value: string): string {
  const at = value.lastIndexOf('@');
  if (at <= 0 || !/^[\x21-\x7e]+$/.test(value)) throw new PkiError('INVALID_REQUEST', `"${value}" is not an e-mail address`);
  return `${value.slice(0, at)}@${normalizeDnsName(value.slice(at + 1), { wildcard: false })}`;
}

function checkUri(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new PkiError('INVALID_REQUEST', `"${value}" is not a URI`);
  }
  if (!url.host || !/^[\x21-\x7e]+$/.test(value)) {
    throw new PkiError('INVALID_REQUEST', `URI "${value}" must be ASCII with a scheme and a host`);
  }
  return value;
}

/** The DER GeneralName (SAN form: IP as the bare address). */
export function encodeGeneralName(name: GeneralNameInput): Uint8Array {
  switch (name.type) {
    case 'email':
      return tlv(0x81, new TextEncoder().encode(checkEmail(name.value)));
    case 'dns':
      return tlv(0x82, new TextEncoder().encode(normalizeDnsName(name.value)));
    case 'dn':
      return encode.explicit(4, name.der);
    case 'uri':
      return tlv(0x86, new TextEncoder().encode(checkUri(name.value)));
    case 'ip':
      return tlv(0x87, ipAddressBytes(name.value));
  }
}

/**
 * The DER GeneralName of a name-constraint subtree base: URI hosts and e-mail
 * domains may start with a dot (subdomains only); IP bases are `addr/len`.
 */
export function encodeConstraintBase(name: GeneralNameInput): Uint8Array {
  switch (name.type) {
    case 'dns':
      // RFC 5280 §4.2.1.10: a dNSName constraint covers the name and everything below it; there is no dot form.
      if (name.value.startsWith('.')) {
        throw new PkiError('INVALID_REQUEST', `DNS constraint "${name.value}": drop the leading dot (a domain already covers its subdomains)`);
      }
      return tlv(0x82, domainConstraint(name.value));
    case 'uri':
      return tlv(0x86, domainConstraint(name.value));
    case 'email':
      return tlv(0x81, name.value.includes('@') ? new TextEncoder().encode(checkEmail(name.value)) : domainConstraint(name.value));
    case 'ip':
      return tlv(0x87, ipRangeBytes(name.value));
    case 'dn':
      return encode.explicit(4, name.der);
  }
}

/** A host or domain constraint; a leading dot (subdomains only) is kept. */
function domainConstraint(value: string): Uint8Array {
  const dot = value.startsWith('.');
  return new TextEncoder().encode((dot ? '.' : '') + normalizeDnsName(dot ? value.slice(1) : value, { wildcard: false }));
}
