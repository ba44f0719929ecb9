/**
 * Name constraints (RFC 5280 §4.2.1.10, §6.1.3 (b)-(c)) over DNS, IP, email,
 * URI and directory names. Every CA on the path constrains every certificate
 * below it (self-issued intermediates excepted), which gives the RFC's
 * intersection of permitted subtrees and union of excluded ones.
 *
 * A wildcard dNSName SAN `*.x` stands for every name one label below `x`: it
 * is permitted only if all of them are, and excluded if any could be.
 */
import { type Certificate } from './certificate.js';
import { PkiError } from './errors.js';
import { type GeneralName, formatGeneralName } from './general-name.js';
import { isValidDnsName } from './hostname.js';
import { OID_EMAIL_ADDRESS, attributeValues, nameWithinSubtree } from './name.js';

/** Comparisons allowed per path: quadratic blow-up is refused, not computed. */
export const NAME_CONSTRAINT_BUDGET = 250_000;

function violation(cert: Certificate, why: string): PkiError {
  const subject = cert.subject.text;
  return new PkiError('NAME_CONSTRAINT_VIOLATION', `${why} (certificate ${subject})`, { certificate: { subject } });
}

/** The names a certificate asserts: SAN entries, its subject DN and subject email attributes. */
function namesOf(cert: Certificate): GeneralName[] {
  const names: GeneralName[] = [...(cert.subjectAltNames ?? [])];
  if (cert.subject.rdns.length > 0) names.push({ type: 'directoryName', value: cert.subject.text, name: cert.subject });
  for (const email of attributeValues(cert.subject, OID_EMAIL_ADDRESS)) names.push({ type: 'email', value: email });
  return names;
}

function sameKind(name: GeneralName, base: GeneralName): boolean {
  if (name.type !== base.type) return false;
  if (name.type === 'ip' && base.type === 'ip') return name.value.length === base.value.length;
  if (name.type === 'other' && base.type === 'other') return name.tag === base.tag;
  return true;
}

/**
 * Checks `path` (leaf first, anchor last) against every name constraint on it.
 * Throws `NAME_CONSTRAINT_VIOLATION`.
 */
export function checkNameConstraints(path: readonly Certificate[]): void {
  let budget = NAME_CONSTRAINT_BUDGET;
  for (let j = path.length - 1; j >= 1; j--) {
    const ca = path[j]!;
    const nc = ca.nameConstraints;
    if (!nc) continue;
    for (let i = j - 1; i >= 0; i--) {
      const cert = path[i]!;
      // §6.1.3 (b): self-issued intermediates are not constrained.
      if (i > 0 && cert.isSelfIssued) continue;
      const names = namesOf(cert);
      budget -= names.length * (nc.permitted.length + nc.excluded.length);
      if (budget < 0) throw violation(cert, 'too many names and name constraints to check');
      for (const name of names) {
        const permitted = nc.permitted.filter((b) => sameKind(name, b));
        if (permitted.length > 0 && !permitted.some((b) => permits(name, b))) {
          throw violation(cert, `${formatGeneralName(name)} is outside the subtrees permitted by ${ca.subject.text}`);
        }
        for (const b of nc.excluded) {
          if (sameKind(name, b) && excludes(name, b)) {
            throw violation(cert, `${formatGeneralName(name)} is in a subtree excluded by ${ca.subject.text}`);
          }
        }
      }
    }
  }
}

/** True when every instance of `name` lies within `base`. */
function permits(name: GeneralName, base: GeneralName): boolean {
  switch (name.type) {
    case 'dns': {
      const b = (base as { value: string }).value.toLowerCase();
      const n = name.value.toLowerCase();
      if (n.startsWith('*.')) return validDns(n.slice(2)) && dnsWithin(n.slice(2), b);
      return validDns(n) && dnsWithin(n, b);
    }
    case 'ip':
      return ipWithin(name.value, base as { value: Uint8Array; mask?: Uint8Array });
    case 'email':
      return emailWithin(name.value, (base as { value: string }).value);
    case 'uri':
      return uriWithin(name.value, (base as { value: string }).value);
    case 'directoryName':
      return base.type === 'directoryName' && nameWithinSubtree(name.name, base.name);
    case 'other':
      // Other name forms cannot be compared: a constraint on them fails closed.
      return false;
  }
}

/** True when some instance of `name` could lie within `base`. */
function excludes(name: GeneralName, base: GeneralName): boolean {
  switch (name.type) {
    case 'dns': {
      const b = (base as { value: string }).value.toLowerCase();
      const n = name.value.toLowerCase();
      if (!validDns(n.startsWith('*.') ? n.slice(2) : n)) return true;
      if (n.startsWith('*.')) {
        const rest = n.slice(2);
        if (dnsWithin(rest, b)) return true;
        // `*.rest` can be exactly one label below rest: excluded if b is such a name.
        const dot = b.indexOf('.');
        return dot > 0 && b.slice(dot + 1) === rest;
      }
      return dnsWithin(n, b);
    }
    case 'email':
      return !isMailbox(name.value) || emailWithin(name.value, (base as { value: string }).value);
    case 'other':
      return true;
    default:
      return permits(name, base);
  }
}

function validDns(n: string): boolean {
  return isValidDnsName(n.replace(/\.$/, ''));
}

/** `name` equals `base` or is below it; an empty base matches every name. */
function dnsWithin(name: string, base: string): boolean {
  if (base === '') return true;
  return name === base || name.endsWith('.' + base);
}

function ipWithin(addr: Uint8Array, base: { value: Uint8Array; mask?: Uint8Array }): boolean {
  const mask = base.mask;
  if (!mask || addr.length !== base.value.length) return false;
  for (let k = 0; k < addr.length; k++) if ((addr[k]! & mask[k]!) !== (base.value[k]! & mask[k]!)) return false;
  return true;
}

function isMailbox(email: string): boolean {
  const at = email.indexOf('@');
  return at > 0 && at === email.lastIndexOf('@') && at < email.length - 1;
}

/**
 * §4.2.1.10: `local@host` is one mailbox (local part compared exactly), `host`
 * every mailbox on that host, `.domain` every mailbox below the domain.
 */
function emailWithin(email: string, base: string): boolean {
  if (!isMailbox(email)) return false;
  const at = email.indexOf('@');
  const local = email.slice(0, at);
  const host = email.slice(at + 1).toLowerCase();
  if (base.includes('@')) {
    const bat = base.lastIndexOf('@');
    return local === base.slice(0, bat) && host === base.slice(bat + 1).toLowerCase();
  }
  const b = base.toLowerCase();
  if (b.startsWith('.')) return host.endsWith(b);
  return host === b;
}

/** §4.2.1.10: a URI constraint names a host (`.domain` for the hosts below it). */
function uriWithin(uri: string, base: string): boolean {
  const m = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?([^:/?#]+)/i.exec(uri);
  if (!m) return false;
  const host = m[1]!.toLowerCase();
  const b = base.toLowerCase();
  if (b.startsWith('.')) return host.endsWith(b);
  return host === b;
}
