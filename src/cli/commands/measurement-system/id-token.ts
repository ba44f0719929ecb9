/**
 * The OpenID Connect ID token that upstream's Account commands send in the
 * `id_token` header: `--id-token`, or asked for on the terminal as upstream
 * asks (`ID Token: `, not echoed). It is a credential: never printed.
 */
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { UsageError } from '../../run.js';

export const ID_TOKEN_HEADER = 'id_token';

export async function readIdToken(option: string | undefined): Promise<string> {
  if (option !== undefined) return option;
  if (!process.stdin.isTTY) throw new UsageError('--id-token is required when there is no terminal to ask on');
  process.stderr.write('ID Token: ');
  const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
  const rl = createInterface({ input: process.stdin, output: silent, terminal: true });
  const token = await new Promise<string>((resolve) => rl.once('line', resolve));
  rl.close();
  process.stderr.write('\n');
  if (token === '') throw new UsageError('no ID token given');
  return token;
}

/** Call options that carry the ID token. */
export const withIdToken = (idToken: string) => ({ headers: { [ID_TOKEN_HEADER]: idToken } });
