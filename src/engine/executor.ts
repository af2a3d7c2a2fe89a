/**
 * Where a bound call runs. The engine hands an executor one call whose lock it holds (stage,
 * element, bound inputs, fingerprint) and gets back what the function returned or what it
 * threw; the executor never reads or writes state. The engine then commits, so an executor
 * that runs the call in another thread, process or machine needs no path of its own: it
 * only has to bring the returned value (or the failure) back.
 */
import { withCallSignal } from "./context.js";
import type { Fingerprint } from "./fingerprint.js";
import type { StageDef } from "./node.js";

/** One call to execute. */
export interface Execution {
  /** The stage's definition (its function, signature and settings). */
  readonly def: StageDef;
  /** The map element's label, for one element of a map. */
  readonly element: string | undefined;
  /** The bound arguments, by parameter name. */
  readonly inputArgs: Readonly<Record<string, unknown>>;
  /** The call's identity (absent when the stage is not memoized), for a remote side to check. */
  readonly fingerprint: Fingerprint | undefined;
  /** Aborted on a timeout or an interrupt: stop the work. */
  readonly signal: AbortSignal;
  /** 1 for the first attempt. */
  readonly attempt: number;
}

/** What an execution gives back: the returned value, or what was thrown. */
export type Executed = { ok: true; returned: unknown } | { ok: false; error: unknown };

/** Runs bound calls somewhere. */
export interface Executor {
  /** Names it in messages. */
  readonly name: string;
  execute(execution: Execution): Promise<Executed>;
}

/** A function may name the executor it needs (a worker-thread function does). */
export const EXECUTOR: unique symbol = Symbol.for("memori.executor");

/** Calls the function in this thread (the default). */
export const inProcessExecutor: Executor = {
  name: "in-process",
  async execute({ def, inputArgs, signal }) {
    try {
      const args = def.signature.argumentsFor(inputArgs);
      return { ok: true, returned: await withCallSignal(signal, () => def.fn(...args)) };
    } catch (error) {
      return { ok: false, error };
    }
  },
};

/** The executor a call runs on: the stage's option, else its function's own, else in-process. */
export function executorOf(def: StageDef): Executor {
  return (
    def.executor ??
    (def.fn as unknown as Partial<Record<typeof EXECUTOR, Executor>>)[EXECUTOR] ??
    inProcessExecutor
  );
}
