/**
 * Drills and their checks as the report shows them: every check has a name,
 * an outcome, what it saw and when. A check that throws fails with the
 * error's message; a drill whose commands fail records that as a failed
 * check and the rehearsal goes on with the next drill.
 */
export interface CheckResult {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  readonly at: string;
  readonly ms: number;
}

export interface DrillResult {
  readonly id: string;
  readonly title: string;
  readonly startedAt: string;
  endedAt: string;
  readonly checks: CheckResult[];
  /** What the procedure found affected (names), by category. */
  blastRadius?: Record<string, string[]>;
  ok: boolean;
}

export type Progress = (line: string) => void;

export class Drill {
  readonly result: DrillResult;
  constructor(id: string, title: string, private readonly progress: Progress) {
    this.result = { id, title, startedAt: new Date().toISOString(), endedAt: '', checks: [], ok: true };
    progress(`drill ${id}: ${title}`);
  }

  /** Runs `fn`; it passes unless it throws or returns false. A string it returns is the detail. */
  async check(name: string, fn: () => Promise<string | boolean | void> | string | boolean | void): Promise<boolean> {
    const started = Date.now();
    let ok = true;
    let detail = '';
    try {
      const r = await fn();
      if (r === false) ok = false;
      else if (typeof r === 'string') detail = r;
    } catch (err) {
      ok = false;
      detail = (err as Error).message.split('\n')[0] ?? String(err);
    }
    this.result.checks.push({ name, ok, detail, at: new Date().toISOString(), ms: Date.now() - started });
    if (!ok) this.result.ok = false;
    this.progress(`  ${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`);
    return ok;
  }

  finish(): DrillResult {
    this.result.endedAt = new Date().toISOString();
    return this.result;
  }
}

/** Throws with `message` unless `condition` holds (inside a check). */
export function expect(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}
