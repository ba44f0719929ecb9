/**
 * Progress of a long run (re-encryptions, measurement replacements, the
 * rehearsal's workload) on stderr, never stdout, so `--json` output stays
 * clean. On a terminal one line is redrawn in place: count, rate, ETA. Not on a
 * terminal (logs, CI) a line is written every 10 % or every 10 s, whichever
 * comes first, each starting with `progress: ` so tools reading stderr can
 * tell it from the command's own error line.
 */
import { formatDuration } from '../lib/duration.js';

export interface ProgressOptions {
  /** Where lines go; default process.stderr. */
  readonly stream?: { write(text: string): unknown; isTTY?: boolean };
  /** Milliseconds; default Date.now. */
  readonly now?: () => number;
  /** Not on a terminal: at most this long between lines (default 10 s). */
  readonly intervalMs?: number;
}

const REDRAW_MS = 100;
const STEP_PERCENT = 10;

export class Progress {
  private readonly stream: NonNullable<ProgressOptions['stream']>;
  private readonly now: () => number;
  private readonly intervalMs: number;
  private readonly tty: boolean;
  private startedAt: number | undefined;
  private doneAtStart = 0;
  private done = 0;
  private total = 0;
  private lastWrite = 0;
  private lastPercentStep = 0;
  private drawn = false;

  constructor(private readonly label: string, options: ProgressOptions = {}) {
    this.stream = options.stream ?? process.stderr;
    this.now = options.now ?? Date.now;
    this.intervalMs = options.intervalMs ?? 10_000;
    this.tty = this.stream.isTTY === true;
  }

  /**
   * `done` of `total` items. The first call (and one with a new total: the
   * next journal) sets the baseline, so the rate and ETA of a resumed run
   * count only what this run did.
   */
  update(done: number, total: number): void {
    const t = this.now();
    if (this.startedAt === undefined || total !== this.total) {
      this.startedAt = t;
      this.doneAtStart = done;
      this.lastWrite = t;
      this.lastPercentStep = this.percentStep(done, total);
    }
    this.done = done;
    this.total = total;
    if (this.tty) {
      if (t - this.lastWrite >= REDRAW_MS || done === total) this.draw(t);
      return;
    }
    const step = this.percentStep(done, total);
    if (step > this.lastPercentStep || t - this.lastWrite >= this.intervalMs) {
      this.lastPercentStep = step;
      this.stream.write(`progress: ${this.text(t)}\n`);
      this.lastWrite = t;
    }
  }

  /** Writes other output without tearing the redrawn line: clears it, writes, draws it again. */
  around(write: () => void): void {
    if (this.drawn) this.stream.write('\r\x1b[K');
    write();
    if (this.drawn) this.draw(this.now());
  }

  /** Leaves the terminal line (with the final count) in place. */
  end(): void {
    if (this.drawn) this.stream.write('\n');
    this.drawn = false;
  }

  /** `label 1200/5000 (24 %), 85/s, ETA 45s` */
  text(t = this.now()): string {
    const elapsedS = (t - (this.startedAt ?? t)) / 1000;
    const did = this.done - this.doneAtStart;
    const rate = elapsedS > 0 ? did / elapsedS : 0;
    const percent = this.total > 0 ? Math.floor((100 * this.done) / this.total) : 100;
    let line = `${this.label} ${this.done}/${this.total} (${percent} %)`;
    if (rate > 0) {
      line += `, ${rate >= 10 ? rate.toFixed(0) : rate.toFixed(1)}/s`;
      if (this.done < this.total) line += `, ETA ${formatDuration(Math.ceil((this.total - this.done) / rate) * 1000)}`;
    }
    return line;
  }

  private draw(t: number): void {
    this.stream.write(`\r\x1b[K${this.text(t)}`);
    this.lastWrite = t;
    this.drawn = true;
  }

  private percentStep(done: number, total: number): number {
    return total > 0 ? Math.floor((100 * done) / total / STEP_PERCENT) : 0;
  }
}
