/** Start time of the compiled binary, beside a bare `node -e 0`. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { median, printFigures } from './harness.js';

const BIN = fileURLToPath(new URL('../bin/halo-keys.js', import.meta.url));

function timeRuns(args: string[], runs: number): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const r = spawnSync(process.execPath, args, { stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}`);
    times.push(performance.now() - start);
  }
  return median(times);
}

export async function run(): Promise<void> {
  timeRuns([BIN, '--version'], 2); // warm the file cache
  const ours = timeRuns([BIN, '--version'], 15);
  const baseline = timeRuns(['-e', '0'], 15);
  printFigures('start-up (median of 15)', [
    { name: 'halo-keys --version', ours, baseline, unit: 'ms', baselineName: 'node -e 0', target: '< 300 ms' },
  ]);
}
