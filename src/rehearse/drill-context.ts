/** What every drill works with. */
import type { CommandRunner } from './commands.js';
import type { Progress } from './checks.js';
import type { RehearsalKingdom } from './kingdom.js';
import type { Cast } from './participants.js';
import type { WorkloadSummary } from './workload.js';

export interface DrillContext {
  readonly root: string;
  readonly run: CommandRunner;
  readonly kingdom: RehearsalKingdom;
  readonly cast: Cast;
  readonly passphrase: string;
  readonly progress: Progress;
  /** Set once the workload ran. */
  workload?: WorkloadSummary;
}

/**
 * Test hook (for the rehearsal's own test only): HALO_KEYS_REHEARSE_CORRUPT_JOURNAL=1
 * marks every unfinished step of the crashed rotation as done before the second
 * run, so that drill must fail its checks.
 */
export const CORRUPT_JOURNAL_HOOK = 'HALO_KEYS_REHEARSE_CORRUPT_JOURNAL';
