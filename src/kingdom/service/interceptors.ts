import type { Interceptor } from '@connectrpc/connect';
import { toConnectError } from './errors.js';

/** Maps whatever a handler throws to a ConnectError with ErrorInfo (see errors.ts). */
export const errorMappingInterceptor: Interceptor = (next) => async (req) => {
  try {
    return await next(req);
  } catch (err) {
    throw toConnectError(err);
  }
};
