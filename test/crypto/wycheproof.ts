/** Shared runner for Wycheproof files: counts, and the decision on each `acceptable` case. */
import { readTestdataJson } from './testdata.js';

export interface WycheproofTest {
  tcId: number;
  comment: string;
  flags: string[];
  result: 'valid' | 'invalid' | 'acceptable';
  [field: string]: unknown;
}

export interface WycheproofGroup {
  tests: WycheproofTest[];
  [field: string]: unknown;
}

export interface WycheproofFile {
  algorithm: string;
  numberOfTests: number;
  testGroups: WycheproofGroup[];
}

export function loadWycheproof(name: string): WycheproofFile {
  return readTestdataJson<WycheproofFile>(`wycheproof/testvectors_v1/${name}`);
}

export interface Tally {
  total: number;
  validAccepted: number;
  validRejected: number[];
  invalidRejected: number;
  invalidAccepted: number[];
  acceptableAccepted: number[];
  acceptableRejected: number[];
  /** Per flag: acceptable cases accepted / rejected. */
  acceptableByFlag: Map<string, { accepted: number; rejected: number }>;
}

/**
 * Runs `check` on every test; `check` returns true when our code accepted
 * the input and produced the expected output, false when it rejected it.
 * A valid case that produces a wrong output must throw from `check`.
 */
export function runWycheproof(file: WycheproofFile, check: (test: WycheproofTest, group: WycheproofGroup) => boolean): Tally {
  const t: Tally = {
    total: 0,
    validAccepted: 0,
    validRejected: [],
    invalidRejected: 0,
    invalidAccepted: [],
    acceptableAccepted: [],
    acceptableRejected: [],
    acceptableByFlag: new Map(),
  };
  for (const group of file.testGroups) {
    for (const test of group.tests) {
      t.total++;
      const accepted = check(test, group);
      if (test.result === 'valid') {
        if (accepted) t.validAccepted++;
        else t.validRejected.push(test.tcId);
      } else if (test.result === 'invalid') {
        if (accepted) t.invalidAccepted.push(test.tcId);
        else t.invalidRejected++;
      } else {
        (accepted ? t.acceptableAccepted : t.acceptableRejected).push(test.tcId);
        for (const flag of test.flags) {
          const f = t.acceptableByFlag.get(flag) ?? { accepted: 0, rejected: 0 };
          if (accepted) f.accepted++;
          else f.rejected++;
          t.acceptableByFlag.set(flag, f);
        }
      }
    }
  }
  return t;
}

/** One summary line plus the acceptable decisions, printed so the run shows real counts. */
export function report(name: string, t: Tally): string {
  const lines = [
    `wycheproof ${name}: ${t.total} tests; valid ${t.validAccepted} accepted, ${t.validRejected.length} rejected; invalid ${t.invalidRejected} rejected, ${t.invalidAccepted.length} accepted; acceptable ${t.acceptableAccepted.length} accepted, ${t.acceptableRejected.length} rejected`,
  ];
  if (t.acceptableByFlag.size) {
    lines.push(
      `  acceptable by flag: ${[...t.acceptableByFlag].map(([flag, c]) => `${flag} ${c.accepted} accepted / ${c.rejected} rejected`).join('; ')}`,
    );
    if (t.acceptableAccepted.length) lines.push(`  acceptable accepted tcIds: ${t.acceptableAccepted.join(',')}`);
    if (t.acceptableRejected.length) lines.push(`  acceptable rejected tcIds: ${t.acceptableRejected.join(',')}`);
  }
  const text = lines.join('\n');
  console.log(text);
  return text;
}
