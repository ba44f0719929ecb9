/**
 * The progress line of long runs (src/cli/progress.ts), on a stream that is
 * not a terminal and on one that is, with a clock the test moves.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Progress } from '../../src/cli/progress.js';

interface Sink {
  text: string;
  readonly isTTY: boolean;
  write(s: string): void;
}

function sink(isTTY: boolean): Sink {
  const out: Sink = { text: '', isTTY, write: (s) => void (out.text += s) };
  return out;
}

/** Read through a call: `assert.equal` on the property would narrow its type for the rest of the test. */
const written = (s: Sink): string => s.text;

describe('Progress', () => {
  it('not on a terminal: a `progress:` line at every 10 % and after 10 s without one, with count, rate and ETA', () => {
    const stream = sink(false);
    let now = 0;
    const p = new Progress('reencrypt event-groups: steps', { stream, now: () => now });
    p.update(0, 200);
    for (let i = 1; i <= 15; i++) {
      now += 100;
      p.update(i, 200);
    }
    assert.equal(written(stream), '', 'under 10 % and under 10 s: nothing yet');
    for (let i = 16; i <= 20; i++) {
      now += 100;
      p.update(i, 200);
    }
    assert.equal(written(stream), 'progress: reencrypt event-groups: steps 20/200 (10 %), 10/s, ETA 18s\n');
    now += 9_000;
    p.update(21, 200);
    assert.equal(written(stream).split('\n').length - 1, 1, 'neither 10 s nor the next 10 % yet');
    now += 1_000;
    p.update(22, 200);
    const lines = written(stream).trimEnd().split('\n');
    assert.equal(lines.length, 2, 'the 10 s interval');
    assert.match(lines[1]!, /^progress: reencrypt event-groups: steps 22\/200 \(11 %\), 1\.8\/s, ETA 1m\d+s$/);
    for (let i = 23; i <= 200; i++) p.update(i, 200);
    const last = written(stream).trimEnd().split('\n');
    assert.equal(last.length, 11, 'one line for each further 10 %');
    assert.match(last.at(-1)!, /^progress: reencrypt event-groups: steps 200\/200 \(100 %\), \d+\/s$/);
    assert.ok(!written(stream).includes('\r') && !written(stream).includes('\x1b'), 'no terminal control characters in logs');
  });

  it('a resumed run: the rate and ETA count only what this run did', () => {
    const stream = sink(false);
    let now = 0;
    const p = new Progress('steps', { stream, now: () => now });
    p.update(500, 1000);
    now += 10_000;
    p.update(600, 1000);
    assert.equal(written(stream), 'progress: steps 600/1000 (60 %), 10/s, ETA 40s\n');
  });

  it('on a terminal: one line redrawn in place, other output written around it, a newline at the end', () => {
    const stream = sink(true);
    let now = 0;
    const p = new Progress('workload: items', { stream, now: () => now });
    p.update(0, 4);
    now += 1000;
    p.update(1, 4);
    assert.equal(written(stream), '\r\x1b[Kworkload: items 1/4 (25 %), 1.0/s, ETA 3s');
    now += 50;
    p.update(2, 4);
    assert.equal(written(stream).split('\r').length - 1, 1, 'not redrawn more than every 100 ms');
    stream.text = '';
    p.around(() => stream.write('a step\n'));
    assert.equal(written(stream), '\r\x1b[Ka step\n\r\x1b[Kworkload: items 2/4 (50 %), 1.9/s, ETA 2s');
    stream.text = '';
    p.update(4, 4);
    p.end();
    assert.match(written(stream), /^\r\x1b\[Kworkload: items 4\/4 \(100 %\), [\d.]+\/s\n$/);
  });
});
