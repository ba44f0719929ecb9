/**
 * `halo-keys agent`: rotate what is due on a schedule, with a Prometheus
 * endpoint. SIGTERM/SIGINT finish the current round and exit 0.
 */
import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { formatDuration } from '../../lib/index.js';
import { duration } from '../option-values.js';
import { type StateFlags, addRehearsalOption, addStateOptions, writableState } from './keyring.js';

function listen(value: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(value);
  if (!m || Number(m[2]) > 65535) throw new InvalidArgumentError('must be HOST:PORT');
  return { host: m[1]!, port: Number(m[2]) };
}

const INTERVAL_MS = 3_600_000;
const RETRY_MS = 60_000;

export function registerAgentCommands(program: Command): void {
  addRehearsalOption(addStateOptions(
    program
      .command('agent')
      .description('check every interval, rotate what is due, back off on failure; Prometheus metrics on --metrics-listen')
      .addOption(new Option('--interval <duration>', 'time between rounds').argParser(duration).default(INTERVAL_MS, formatDuration(INTERVAL_MS)))
      .addOption(
        new Option('--retry <duration>', 'first retry delay after a failure (doubles up to the interval)').argParser(duration).default(RETRY_MS, formatDuration(RETRY_MS)),
      )
      .option('--metrics-listen <host:port>', 'serve /metrics here', listen)
      .option('--once', 'run one round and exit (0 rotated or nothing due, 1 failed, 4 locked by another rotation)'),
  )).action(async (flags: StateFlags & { interval: number; retry: number; metricsListen?: { host: string; port: number }; once?: boolean }) => {
    const { RotationAgent } = await import('../../rotation/agent.js');
    const { resolveKeyringPassphrase } = await import('../../rotation/keyring-files.js');
    const { setExitCode } = await import('./keyring.js');
    const passphrase = resolveKeyringPassphrase(flags.passphraseFile);
    const { dir, clock } = await writableState(flags, 'agent', true);
    const agent = new RotationAgent({
      dir,
      clock,
      passphrase: () => passphrase,
      intervalMs: flags.interval,
      retryBaseMs: flags.retry,
      log: (line) => process.stdout.write(`${new Date().toISOString()} ${line}\n`),
    });
    if (flags.once) {
      const r = await agent.tick();
      setExitCode(r.outcome === 'failed' ? 1 : r.outcome === 'locked' ? 4 : 0);
      return;
    }
    const { createServer } = await import('node:http');
    // Only the path: the Kingdom's index would load the whole server into the agent.
    const { METRICS_PATH } = await import('../../kingdom/server/http-endpoints.js');
    const server = flags.metricsListen
      ? createServer((req, res) => {
          if (req.url !== METRICS_PATH) {
            res.writeHead(404).end();
            return;
          }
          agent.registry.metrics().then(
            (text) => res.writeHead(200, { 'content-type': agent.registry.contentType }).end(text),
            () => res.writeHead(500).end(),
          );
        })
      : undefined;
    if (server && flags.metricsListen) {
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(flags.metricsListen!.port, flags.metricsListen!.host, resolve));
      const a = server.address();
      process.stdout.write(`metrics on http://${flags.metricsListen.host}:${typeof a === 'object' && a ? a.port : flags.metricsListen.port}/metrics\n`);
    }
    agent.start();
    await new Promise<void>((resolve) => {
      const done = () => resolve();
      process.once('SIGTERM', done);
      process.once('SIGINT', done);
    });
    await agent.stop();
    server?.close();
  });
}
