// Public surface of the Kingdom: serving it (configuration, listening,
// signals), its store (PGlite or PostgreSQL, audit chain) and the admin
// connection data the CLI reads.
export { serveKingdom, stopOnSignals } from './server/serve.js';
export type { RunningKingdom, ServeDependencies } from './server/serve.js';
export {
  DEFAULT_DATA_DIR,
  DEFAULT_LISTEN,
  DEFAULT_MAX_MESSAGE_BYTES,
  formatListen,
  parseListen,
  readConfigFile,
  resolveServeConfig,
} from './server/config.js';
export type { ListenAddress, ServeConfig, ServeFlags } from './server/config.js';
export * from './store/index.js';
export {
  ADMIN_TOKEN_FILE,
  adminTokenRotatedEvent,
  adminTokenSha256,
  readAdminToken,
  rotateAdminToken,
} from './server/admin-token.js';
export { DATA_DIR_FILES } from './server/bootstrap.js';
export { readServerInfo } from './server/server-info.js';
export { PrincipalResolver } from './service/authentication.js';
export type { KingdomMode } from './service/context.js';
export { kingdomRoutes, routerOptions } from './service/routes.js';
export { ServerError } from './server/errors.js';
export { METRICS_PATH } from './server/http-endpoints.js';
