/**
 * Option values checked while commander parses argv, so a bad value is a
 * usage error (exit 2, `error: option '--x <v>' argument 'y' is invalid. ...
 * (see --help)`) before any work starts, never a failure found halfway. Each
 * check reuses the library's own validator, so the CLI accepts exactly what
 * the library does. Every command group loads this module, so it stays light:
 * checks that need the PKI or Tink are in name-option-values.
 */
import { InvalidArgumentError } from 'commander';
import { parseResourceName } from '../api/index.js';
import { parseDuration } from '../lib/duration.js';
import { HaloError } from '../lib/errors.js';
import { UsageError } from './run.js';

type Parser<T> = (value: string) => T;

/** Turns a library validator's typed error into commander's invalid-argument error. */
export function checked<T>(parse: Parser<T>): Parser<T> {
  return (value) => {
    try {
      return parse(value);
    } catch (err) {
      if (err instanceof HaloError) throw new InvalidArgumentError(err.message);
      throw err;
    }
  };
}

/** A repeatable option: each value checked, collected in order. */
export function repeatable<T>(parse: Parser<T>): (value: string, previous: T[] | undefined) => T[] {
  return (value, previous = []) => [...previous, parse(value)];
}

export const collect = repeatable((value: string) => value);

/**
 * Runs an option's parser inside an action, for checks too heavy to load for
 * every `--help`: the same usage error, worded as commander words its own.
 */
export function checkOption<T>(flag: string, value: string, parse: Parser<T>): T {
  try {
    return parse(value);
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw new UsageError(`option '${flag}' argument '${value}' is invalid. ${err.message}`);
    throw err;
  }
}

export function positiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) <= 0) throw new InvalidArgumentError('must be a positive integer');
  return Number(value);
}

export function nonNegativeInt(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a non-negative integer');
  return Number(value);
}

/** Certificate validity in days, within what the CA accepts. */
export function days(value: string): number {
  const n = positiveInt(value);
  if (n > 36_500) throw new InvalidArgumentError('must be at most 36500 days');
  return n;
}

export function isoTime(value: string): Date {
  const t = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(t.getTime())) throw new InvalidArgumentError('must be an ISO 8601 time');
  return t;
}

/** `30s`, `15m`, `1h`, `1d`, `2w` in milliseconds; positive. */
export function duration(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0) throw new InvalidArgumentError('must be a duration like 30s, 15m, 1h or 7d');
  return ms;
}

/** Hex bytes, colons allowed (SKIDs, AKIDs). */
export function hexBytes(value: string): Uint8Array {
  const hex = value.replace(/[:\s]/g, '');
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex)) throw new InvalidArgumentError('must be hex bytes, e.g. 4f:1a:... or 4f1a...');
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** Hex bytes as lower-case hex without colons (how keyrings store SKIDs). */
export function hexString(value: string): string {
  return Buffer.from(hexBytes(value)).toString('hex');
}

/** A Kingdom resource name (`dataProviders/AAAAAAAAAHs`, `measurementConsumers/...`). */
export function resourceName(value: string): string {
  if (!parseResourceName(value)) throw new InvalidArgumentError('must be a resource name such as dataProviders/AAAAAAAAAHs');
  return value;
}

/** A batch of 1 to 1000 items, the most one batch call takes. */
export function batchSize(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 1000) throw new InvalidArgumentError('must be an integer from 1 to 1000');
  return Number(value);
}

/** `--page-size`: 0 (the server's default) to 1000, upstream's bound. */
export function pageSize(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 1000) throw new InvalidArgumentError('must be an integer from 0 to 1000');
  return Number(value);
}
