/**
 * Where a bound call runs. The engine hands an executor one call whose lock it holds (stage,
 * element, bound inputs, fingerprint) and gets back what the function returned or what it
 * threw; the executor never reads or writes state. The engine then commits, so an executor
 * that runs the call in another thread, process or machine needs no path of its own: it
 * only has to bring the returned value (or the failure) back.
 */
import { setMaxListeners } from "node:events";
import { withCallContext, type FileAccess, type ProcessEnded } from "../call-signal.js";
import { installReadTracking } from "../read-tracking.js";
import type { Fingerprint } from "./fingerprint.js";
import type { AnyFn, Signature } from "./signature.js";

/** One call to execute. */
export interface Execution {
  /** The stage's name. */
  readonly stage: string;
  /**
   * Where the stage's state lives (absent: it is not memoized), for an executor that keeps
   * files of its own beside it (a SLURM job's files). The executor never touches the state.
   */
  readonly hashOutput?: string | undefined;
  /** Its function, and how bound arguments are passed to it. */
  readonly fn: AnyFn;
  /** The stage's parameters: `signature.argumentsFor(inputArgs)` gives the call's arguments. */
  readonly signature: Signature;
  /** The map element's label, for one element of a map. */
  readonly element: string | undefined;
  /** The bound arguments, by parameter name. */
  readonly inputArgs: Readonly<Record<string, unknown>>;
  /** The call's identity (absent when the stage is not memoized), for a remote side to check. */
  readonly fingerprint: Fingerprint | undefined;
  /** Aborted on a timeout or an interrupt: stop the work. */
  readonly signal: AbortSignal;
  /**
   * The signal is the call's own (a timeout, or the caller's abort signal): code that runs in
   * this process for the call sees it as `callSignal()`.
   */
  readonly attributed: boolean;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /**
   * Where an executor that runs the function in this thread records the files it opens
   * (absent: not tracked). Other executors leave it empty.
   */
  readonly access?: FileAccess | undefined;
  /**
   * Told of each process the function starts in this thread, when the call's events are
   * heard (the `stage:process` event). Other executors leave it alone.
   */
  readonly onProcess?: ((ended: ProcessEnded) => void) | undefined;
}

/** What an execution gives back: the returned value, or what was thrown. */
export type Executed =
  | {
      /** The function returned. */
      ok: true;
      /** What it returned (a promise's value). */
      returned: unknown;
    }
  | {
      /** The function threw (or could not be called). */
      ok: false;
      /** What it threw. */
      error: unknown;
    };

/** Runs bound calls somewhere. */
export interface Executor {
  /** Names it in messages. */
  readonly name: string;
  /**
   * Run one call, and resolve to what the function returned or threw (a failure is a value,
   * `{ ok: false, error }`); stop the work when `execution.signal` aborts.
   */
  execute(execution: Execution): Promise<Executed>;
}

/** The signal of an execution that nothing stops but the end of the run (see execute.ts). */
export const NEVER: AbortSignal = new AbortController().signal;
setMaxListeners(0, NEVER); // every call in flight may listen to it: not a leak

/** A function may name the executor it needs (a worker-thread function does). */
export const EXECUTOR: unique symbol = Symbol.for("memori.executor");

/**
 * Calls the function in this thread (the default). When the call's signal is its own, it is the
 * current call signal while the function runs (`callSignal()`, which `runProcess` obeys).
 */
export const inProcessExecutor: Executor = {
  name: "in-process",
  async execute({ fn, signature, inputArgs, signal, attributed, access, onProcess }) {
    try {
      const args = signature.argumentsFor(inputArgs);
      const call = () => fn(...args);
      if (access !== undefined) installReadTracking();
      const context = {
        ...(attributed ? { signal } : {}),
        ...(access === undefined ? {} : { access }),
        ...(onProcess === undefined ? {} : { onProcess }),
      };
      const inContext = attributed || access !== undefined || onProcess !== undefined;
      return {
        ok: true,
        returned: await (inContext ? withCallContext(context, call) : call()),
      };
    } catch (error) {
      return { ok: false, error };
    }
  },
};
