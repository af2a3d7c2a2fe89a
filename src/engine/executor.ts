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

/** The signal of an execution that nothing stops but the end of the run (see executeBounded). */
const NEVER = new AbortController().signal;

/** A function may name the executor it needs (a worker-thread function does). */
export const EXECUTOR: unique symbol = Symbol.for("memori.executor");

/**
 * Calls the function in this thread (the default). When the call's signal can fire, it is the
 * current call signal while the function runs (`callSignal()`, which `runProcess` obeys).
 */
export const inProcessExecutor: Executor = {
  name: "in-process",
  async execute({ def, inputArgs, signal }) {
    try {
      const args = def.signature.argumentsFor(inputArgs);
      const call = () => def.fn(...args);
      return {
        ok: true,
        returned: await (signal === NEVER ? call() : withCallSignal(signal, call)),
      };
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

/** How long a function may take to stop after its signal is aborted, before it is abandoned. */
const STOP_GRACE_MS = 5000;

/** What a bounded execution gives back: the executor's answer, or why it was stopped. */
export type Bounded =
  | Executed
  | { ok: false; stopped: { kind: "timeout"; ms: number } | { kind: "cancelled"; cause: unknown } };

/**
 * Execute on the call's executor, bounded by the stage's `timeout` and the run's `signal`.
 * When either fires, the result is abandoned (never committed), whatever comes back later.
 *
 * The execution's own signal fires on a timeout, and on the run's signal when `attribute` is
 * set (the caller gave an abort signal): `runProcess` then kills what this call started, and
 * the call stops being waited for after a grace period. An interrupt by a process signal
 * stops every process instead (interrupt.ts), so for it a call needs no context of its own:
 * one costs every promise of the process time (Node 20's AsyncLocalStorage), so it is only
 * made when needed; the call is waited for, and its result dropped.
 */
export async function executeBounded(
  execution: Omit<Execution, "signal">,
  signal: AbortSignal | undefined,
  attribute: boolean,
): Promise<Bounded> {
  const { def } = execution;
  const cancelled = (): Bounded => ({
    ok: false,
    stopped: { kind: "cancelled", cause: signal?.reason },
  });
  if (signal?.aborted) return cancelled();
  const executor = executorOf(def);
  const { timeout } = def;
  if (timeout === undefined && !(attribute && signal !== undefined)) {
    const executed = await executor.execute({ ...execution, signal: NEVER });
    return signal?.aborted ? cancelled() : executed;
  }
  const own = new AbortController();
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const stopped = new Promise<"stopped">((resolve) => {
    own.signal.addEventListener("abort", () => resolve("stopped"), { once: true });
  });
  const forward = () => own.abort(signal?.reason);
  if (attribute) signal?.addEventListener("abort", forward, { once: true });
  if (timeout !== undefined) {
    timer = setTimeout(() => {
      timedOut = true;
      own.abort(new Error(`timed out after ${timeout} ms`));
    }, timeout);
  }
  try {
    const running = executor.execute({ ...execution, signal: own.signal });
    const first = await Promise.race([running, stopped]);
    if (first !== "stopped") return signal?.aborted ? cancelled() : first;
    // Give the function a moment to stop (the processes it started are being killed).
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([
      running,
      new Promise((resolve) => (grace = setTimeout(resolve, STOP_GRACE_MS))),
    ]);
    clearTimeout(grace);
    return timedOut ? { ok: false, stopped: { kind: "timeout", ms: timeout ?? 0 } } : cancelled();
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", forward);
  }
}
