/**
 * The shared shell of every binary: parses argv with commander, and turns any
 * failure into one line on stderr and an exit code (0 ok, 1 failure, 2 usage).
 */
import { Command, CommanderError } from 'commander';
import { HaloError } from '../lib/errors.js';

export const ExitCode = { OK: 0, FAILURE: 1, USAGE: 2 } as const;

/**
 * A CLI-level failure: bad flag combinations and the like (exit 2), printed
 * as commander prints its own: `error: <message> (see --help)`.
 */
export class UsageError extends HaloError<'USAGE'> {
  constructor(message: string) {
    super('USAGE', message);
  }
}

/** Configures commander the same way for every command of a program. */
export function configureProgram(program: Command): Command {
  program.exitOverride();
  // Usage errors stay on one line, with the hint beside the message.
  program.configureOutput({
    writeErr: (s) => process.stderr.write(s),
    outputError: (s, write) => write(`${s.trimEnd()} (see --help)\n`),
  });
  return program;
}

let commandExitCode: number = ExitCode.OK;

/**
 * Lets a command that finished its work report a verdict other than success
 * (for example `status` finding something overdue) without throwing.
 */
export function setExitCode(code: number): void {
  commandExitCode = code;
}

/**
 * picocli reads `-o=x1` as `-o` with the value `x1`, where commander would
 * keep the `=`; upstream's two binaries pass their argv through this so the
 * same command line writes the same file.
 */
export function picocliShortOptionValues(argv: readonly string[]): string[] {
  const end = argv.indexOf('--');
  const options = end < 0 ? argv : argv.slice(0, end);
  const rest = end < 0 ? [] : argv.slice(end);
  return [...options.flatMap((arg) => /^-[A-Za-z0-9]=/.test(arg) ? [arg.slice(0, 2), arg.slice(3)] : [arg]), ...rest];
}

/** Runs `program` on `argv` and sets `process.exitCode`; never throws. */
export async function runProgram(program: Command, argv: readonly string[]): Promise<number> {
  const name = program.name();
  // A reader that stops early (`| head`) is not an error of ours.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  commandExitCode = ExitCode.OK;
  let code: number;
  try {
    await program.parseAsync(argv as string[]);
    code = commandExitCode;
  } catch (err) {
    code = reportError(name, err);
  }
  process.exitCode = code;
  return code;
}

function reportError(name: string, err: unknown): number {
  if (err instanceof CommanderError) {
    // Commander already printed its message (or the help / version text).
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') {
      return ExitCode.OK;
    }
    return err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
  }
  if (err instanceof UsageError) {
    process.stderr.write(`error: ${err.message} (see --help)\n`);
    return ExitCode.USAGE;
  }
  if (err instanceof HaloError) {
    process.stderr.write(`${name}: ${err.message}\n`);
    return ExitCode.FAILURE;
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`${name}: unexpected error: ${message.split('\n')[0]}\n`);
  if (process.env.HALO_KEYS_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  return ExitCode.FAILURE;
}

/** Prints `value` as JSON (bytes as hex) or the given text lines. */
export function output(json: boolean | undefined, value: unknown, text: () => string): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(value, jsonReplacer, 2)}\n`);
  } else {
    const t = text();
    if (t) process.stdout.write(t.endsWith('\n') ? t : `${t}\n`);
  }
}

export function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  if (typeof value === 'bigint') return value.toString();
  return value;
}
