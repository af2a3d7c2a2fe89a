/**
 * The context of the stage call that code runs in: its abort signal, fired when the call times
 * out or the run is interrupted (`runProcess` reads it to kill the processes a stage started),
 * and where the files it opens for reading are recorded (see read-tracking.ts).
 */
import { AsyncLocalStorage } from "node:async_hooks";

/** What a stage call's code runs with. */
export interface CallContext {
  /** The call's own abort signal, when it has one (a timeout, a caller's signal). */
  readonly signal?: AbortSignal | undefined;
  /** Absolute paths of the files the call opened for reading, when reads are tracked. */
  readonly reads?: Set<string> | undefined;
}

const current = new AsyncLocalStorage<CallContext>();

/** The abort signal of the stage call this code runs in, if any. */
export function callSignal(): AbortSignal | undefined {
  return current.getStore()?.signal;
}

/** The read record of the stage call this code runs in, if reads are tracked. */
export function callReads(): Set<string> | undefined {
  return current.getStore()?.reads;
}

/** Run `body` in the given call context. */
export function withCallContext<T>(context: CallContext, body: () => T): T {
  return current.run(context, body);
}

/** Run `body` with `signal` as the current call's signal. */
export function withCallSignal<T>(signal: AbortSignal, body: () => T): T {
  return current.run({ signal }, body);
}
