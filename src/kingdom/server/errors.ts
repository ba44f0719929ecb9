import { HaloError } from '../../lib/index.js';

/** Why the server could not start or keep running: each one names the flag or file to fix. */
export type ServerErrorCode =
  | 'CONFIG_INVALID'
  | 'TLS_MATERIAL_INVALID'
  | 'DATA_DIR_UNUSABLE'
  | 'LISTEN_FAILED'
  | 'SERVER_NOT_RUNNING';

export class ServerError extends HaloError<ServerErrorCode> {}
