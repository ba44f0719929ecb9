import { invalidArgument } from './errors.js';

/**
 * Parses a resource name from a request, or throws INVALID_ARGUMENT with
 * upstream's message (reason INVALID_RESOURCE_NAME, as the API layer's
 * ApiError code).
 */
export function parseRequestName<T>(parse: (name: string) => T | undefined, name: string, message: string): T {
  const key = parse(name);
  if (key === undefined) throw invalidArgument('INVALID_RESOURCE_NAME', message);
  return key;
}
