/**
 * Option values that are names and identifiers the PKI or Tink checks:
 * subjects, SAN names, serials, key templates. Parsers for commander, as in
 * option-values, but loading the PKI and Tink templates, so command groups
 * that do not already load those check these inside their action with
 * `checkOption`.
 */
import { keyTemplate } from '../crypto/index.js';
import { encodeGeneralName, ipAddressBytes, normalizeDnsName, parseSubject, normalizeSerial } from '../pki/index.js';
import { checked } from './option-values.js';

/** A subject as the CA takes it, `/O=Org/CN=Name`. */
export const subject = checked((value: string) => {
  parseSubject(value);
  return value;
});

export const dnsName = checked((value: string) => {
  normalizeDnsName(value);
  return value;
});

export const ipAddress = checked((value: string) => {
  ipAddressBytes(value);
  return value;
});

export const uri = checked((value: string) => {
  encodeGeneralName({ type: 'uri', value });
  return value;
});

export const email = checked((value: string) => {
  encodeGeneralName({ type: 'email', value });
  return value;
});

/** A certificate serial number in hex, normalized. */
export const serialHex = checked(normalizeSerial);

/** A Tink key template name this build can generate. */
export const keyTemplateName = checked((value: string) => {
  keyTemplate(value);
  return value;
});
