/**
 * The context of the stage call that code runs in: its abort signal, fired when the call times
 * out or the run is interrupted. `runProcess` reads it to kill the processes a stage started.
 */
import { AsyncLocalStorage } from "node:async_hooks";

const current = new AsyncLocalStorage<AbortSignal>();

/** The abort signal of the stage call this code runs in, if any. */
export function callSignal(): AbortSignal | undefined {
  return current.getStore();
}

/** Run `body` with `signal` as the current call's signal. */
export function withCallSignal<T>(signal: AbortSignal, body: () => T): T {
  return current.run(signal, body);
}
