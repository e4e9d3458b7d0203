/**
 * Small portability helpers for stages: a deferred promise (Node 20 has no
 * `Promise.withResolvers`) and the transformer `cancel` hook, which runtimes
 * support but TypeScript's DOM library does not declare yet.
 * @module
 */

/** A promise with its settle functions. */
export interface Deferred<T> {
  /** The promise. */
  promise: Promise<T>;
  /** Fulfils it. */
  resolve(value: T): void;
  /** Rejects it. */
  reject(reason: unknown): void;
}

/** Creates a {@link Deferred}. */
export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A transformer that may also be told its readable side was cancelled. */
export type CancellableTransformer<I, O> = Transformer<I, O> & {
  /** Called when the stream is cancelled or aborted. */
  cancel?: (reason: unknown) => void | Promise<void>;
};
