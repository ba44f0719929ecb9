/**
 * Binding the server's ports. Kept apart from server.ts (and its TLS, HTTP/2
 * and service imports) so the CLI can check a port in a few milliseconds,
 * before it loads the rest.
 */
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { formatListen, type ListenAddress } from './config.js';
import { ServerError } from './errors.js';

export function listenOn(server: NetServer, at: ListenAddress): Promise<ListenAddress> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? 'the port is in use' : (err.code ?? err.message);
      reject(new ServerError('LISTEN_FAILED', `cannot listen on ${formatListen(at)}: ${why}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen(at.port, at.host, () => {
      server.off('error', onError);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? { host: at.host, port: addr.port } : at);
    });
  });
}

/**
 * Binds and releases `at` (LISTEN_FAILED when it cannot be bound), so a
 * server whose port is taken fails at once, before it creates or opens
 * anything in its data dir.
 */
export async function checkListenable(at: ListenAddress): Promise<void> {
  if (at.port === 0) return;
  const probe = createNetServer();
  await listenOn(probe, at);
  await new Promise<void>((resolve) => probe.close(() => resolve()));
}
