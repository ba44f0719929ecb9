/**
 * The server's structured log (pino, JSON lines on stderr so stdout stays
 * for the connection instructions). Nothing logged may carry key bytes,
 * tokens or API keys: the redact list is a second line of defence.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string = process.env.HALO_KEYS_LOG_LEVEL ?? 'info'): Logger {
  return pino(
    {
      name: 'kingdom',
      level,
      redact: { paths: ['*.authorization', '*["x-api-key"]', '*.key', '*.token', '*.privateKey'], censor: '[redacted]' },
    },
    pino.destination({ fd: 2, sync: false }),
  );
}

/** A logger that drops everything, for in-process servers in tests and benches. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
