/**
 * Service identity checks (RFC 6125 / RFC 9525): a DNS host name against
 * dNSName SANs, an IP address against iPAddress SANs only. No Common Name
 * fallback. A wildcard is only the whole left-most label, matches exactly one
 * label, and is refused when what follows it is a public suffix. The
 * `webpki` profile adds the CA/B Forum's rules on the identity fields.
 */
import { readFileSync } from 'node:fs';
import { domainToASCII } from 'node:url';
import { type Certificate } from './certificate.js';
import { PkiError } from './errors.js';
import { formatIp } from './general-name.js';
import { OID_COMMON_NAME, attributeValues } from './name.js';
import { type ValidationProfile, type ValidationProfileName, validationProfile } from './validation-profiles.js';

const LABEL_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * LDH labels of 1 to 63 characters, 253 in all (ASCII, lower case): the
 * syntax the CA requires of names it writes (`ca-general-names.ts`) and host
 * matching requires of names it compares.
 */
export function hasDnsLabelSyntax(name: string): boolean {
  return name.length > 0 && name.length <= 253 && name.split('.').every((l) => LABEL_RE.test(l));
}

/** True for a syntactically valid (ASCII, lower-cased) DNS host name: LDH labels, the last not all digits (that reads as IPv4). */
export function isValidDnsName(name: string): boolean {
  return hasDnsLabelSyntax(name) && !/^\d+$/.test(name.slice(name.lastIndexOf('.') + 1));
}

/** Parses a dotted-decimal IPv4 address (RFC 3986 form: no leading zeros). */
export function parseIPv4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255) return undefined;
    out[i] = Number(p);
  }
  return out;
}

/** Parses an IPv6 address (RFC 4291 text, optional trailing dotted IPv4, optional brackets). */
export function parseIPv6(text: string): Uint8Array | undefined {
  let t = text;
  if (t.startsWith('[') && t.endsWith(']')) t = t.slice(1, -1);
  if (!t.includes(':') || /[^0-9a-fA-F:.]/.test(t)) return undefined;
  const halves = t.split('::');
  if (halves.length > 2) return undefined;
  const parseGroups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    const parts = s.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIPv4(p);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  const head = parseGroups(halves[0]!);
  const tail = halves.length === 2 ? parseGroups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const groups = halves.length === 2 ? head.length + tail.length <= 7 ? [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail] : undefined : head;
  if (!groups || groups.length !== 8) return undefined;
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

export function parseIp(text: string): Uint8Array | undefined {
  return parseIPv4(text) ?? parseIPv6(text);
}

/**
 * The Public Suffix List (publicsuffix.org format), used to refuse wildcards
 * that span a registry-controlled suffix such as `*.co.uk`.
 */
export class PublicSuffixList {
  readonly #rules = new Set<string>();
  readonly #wildcards = new Set<string>();
  readonly #exceptions = new Set<string>();

  constructor(text: string) {
    for (const raw of text.split('\n')) {
      const line = raw.trim().split(/\s/)[0] ?? '';
      if (!line || line.startsWith('//')) continue;
      const ascii = (s: string) => domainToASCII(s) || s.toLowerCase();
      if (line.startsWith('!')) this.#exceptions.add(ascii(line.slice(1)));
      else if (line.startsWith('*.')) this.#wildcards.add(ascii(line.slice(2)));
      else this.#rules.add(ascii(line));
    }
  }

  /** Reads a list file, e.g. Debian's `/usr/share/publicsuffix/public_suffix_list.dat`. */
  static load(path: string): PublicSuffixList {
    return new PublicSuffixList(readFileSync(path, 'utf8'));
  }

  /** True when `domain` (A-labels, lower case) is itself a public suffix. */
  isPublicSuffix(domain: string): boolean {
    if (!domain.includes('.')) return true; // the implicit "*" rule: every TLD
    if (this.#exceptions.has(domain)) return false;
    if (this.#rules.has(domain)) return true;
    const parent = domain.slice(domain.indexOf('.') + 1);
    return this.#wildcards.has(parent);
  }
}

/** Normalizes a reference host name: IDNA to A-labels, lower case, no trailing dot. */
export function normalizeHost(host: string): string | undefined {
  let h = host.endsWith('.') ? host.slice(0, -1) : host;
  if (/[^\x20-\x7e]/.test(h)) h = domainToASCII(h);
  h = h.toLowerCase();
  return isValidDnsName(h) ? h : undefined;
}

/**
 * Whether a dNSName SAN (possibly `*.rest`) matches the normalized host.
 * `publicSuffixes`, when given, refuses wildcards over a public suffix;
 * without it a wildcard needs at least two labels after it.
 */
export function dnsSanMatches(san: string, host: string, publicSuffixes?: PublicSuffixList): boolean {
  const pattern = san.toLowerCase().replace(/\.$/, '');
  if (!pattern.includes('*')) return isValidDnsName(pattern) && pattern === host;
  if (!pattern.startsWith('*.')) return false;
  const rest = pattern.slice(2);
  if (rest.includes('*') || !isValidDnsName(rest)) return false;
  if (publicSuffixes ? publicSuffixes.isPublicSuffix(rest) : !rest.includes('.')) return false;
  const dot = host.indexOf('.');
  return dot > 0 && host.slice(dot + 1) === rest;
}

export interface HostCheckOptions {
  /** Refuses wildcards over public suffixes; without it a wildcard needs two labels after it. */
  readonly publicSuffixes?: PublicSuffixList;
  /** The validation profile; default `cmms`. Only `webpki` reads the subject's Common Name. */
  readonly profile?: ValidationProfileName;
}

/**
 * Checks that `host` (a DNS name or an IP literal) is one of the leaf's
 * subject alternative names. Throws `HOSTNAME_MISMATCH`.
 */
export function checkHost(leaf: Certificate, host: string, options: HostCheckOptions = {}): void {
  const sans = leaf.subjectAltNames ?? [];
  const subject = leaf.subject.text;
  const mismatch = (why: string) => new PkiError('HOSTNAME_MISMATCH', `${why} (certificate ${subject})`, { certificate: { subject } });
  const profile = validationProfile(options.profile);
  const ip = parseIp(host);
  checkIdentityFields(leaf, ip ? 'ip' : 'dns', profile, mismatch);
  if (ip) {
    for (const n of sans) if (n.type === 'ip' && Buffer.from(n.value).equals(ip)) return;
    throw mismatch(`IP address ${host} is not among the certificate's IP SANs`);
  }
  const normalized = normalizeHost(host);
  if (!normalized) throw mismatch(`${JSON.stringify(host)} is not a valid host name`);
  for (const n of sans) if (n.type === 'dns' && dnsSanMatches(n.value, normalized, options.publicSuffixes)) return;
  throw mismatch(`host ${normalized} is not among the certificate's DNS SANs`);
}

/**
 * The profile's rules on the identity fields of a certificate presented for
 * a host (CA/B Forum BR 7.1.2.7.12, 7.1.4.3, under `webpki`): the SAN is
 * non-critical when the subject is not empty, and a Common Name of the kind
 * being checked (an address when an address is, a domain name when a name
 * is), which a legacy CN-matching client would read as that identity, must
 * copy a SAN entry of that kind: an address in RFC 3986 / RFC 5952 text, a
 * domain name character for character. A wildcard entry `*.d` also covers
 * a CN of `d`, the domain the CA validated to issue it (BR 3.2.2.6).
 */
function checkIdentityFields(leaf: Certificate, kind: 'dns' | 'ip', profile: ValidationProfile, mismatch: (why: string) => PkiError): void {
  if (profile.sanCriticalOnlyWithEmptySubject) {
    const san = leaf.extensions.get('2.5.29.17');
    if (san?.critical && leaf.subject.rdns.length > 0) throw mismatch('subjectAltName is critical although the subject is not empty');
  }
  if (!profile.commonNameCopiesSan) return;
  const sans = leaf.subjectAltNames ?? [];
  for (const cn of attributeValues(leaf.subject, OID_COMMON_NAME)) {
    if (commonNameKind(cn) !== kind) continue;
    const copied =
      kind === 'ip'
        ? sans.some((n) => n.type === 'ip' && formatIp(n.value) === cn)
        : sans.some((n) => n.type === 'dns' && (n.value === cn || n.value === `*.${cn}`));
    if (!copied) throw mismatch(`Common Name ${JSON.stringify(cn)} is not a copy of a SAN entry (${profile.name} profile)`);
  }
}

/** How a CN-fallback client would read a Common Name: an address (colon'd, dotted digits, inet_aton's 0x/number forms), a dotted domain name, or neither. */
function commonNameKind(cn: string): 'dns' | 'ip' | undefined {
  if (cn.includes(':') || /^(0x[0-9a-f]+|[\d.]+)$/i.test(cn)) return 'ip';
  return cn.includes('.') ? 'dns' : undefined;
}
