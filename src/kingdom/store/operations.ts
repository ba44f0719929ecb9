/** Store operations: entity functions tagged with how the store runs them, and the store method each becomes. */
import type { AuditActor } from './audit.js';
import type { ReadContext, WriteContext } from './context.js';

/** `read`: one query, no transaction. `snapshot`: several queries that must see one snapshot. */
export interface ReadOperation<A extends unknown[], R> {
  readonly kind: 'read' | 'snapshot';
  readonly run: (ctx: ReadContext, ...args: A) => Promise<R>;
}

/** A change: one attempt of a (group-committed) transaction, attributed to `input.actor`. */
export interface WriteOperation<I extends { readonly actor: AuditActor }, R> {
  readonly kind: 'write';
  readonly run: (ctx: WriteContext, input: I) => Promise<R>;
}

export const read = <A extends unknown[], R>(run: (ctx: ReadContext, ...args: A) => Promise<R>): ReadOperation<A, R> => ({
  kind: 'read',
  run,
});

export const snapshot = <A extends unknown[], R>(run: (ctx: ReadContext, ...args: A) => Promise<R>): ReadOperation<A, R> => ({
  kind: 'snapshot',
  run,
});

export const write = <I extends { readonly actor: AuditActor }, R>(
  run: (ctx: WriteContext, input: I) => Promise<R>,
): WriteOperation<I, R> => ({ kind: 'write', run });

/** The store's methods for a table of operations: the operation's arguments without the context. */
export type StoreMethods<T> = {
  [K in keyof T]: T[K] extends ReadOperation<infer A, infer R>
    ? (...args: A) => Promise<R>
    : T[K] extends WriteOperation<infer I, infer R>
      ? (input: I) => Promise<R>
      : never;
};
