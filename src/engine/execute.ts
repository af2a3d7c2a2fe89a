/**
 * The execute step: run a bound call on its executor, bounded by the stage's `timeout` and the
 * run's abort signal. Whatever comes back after either fired is dropped, never committed.
 */
import {
  EXECUTOR,
  NEVER,
  inProcessExecutor,
  type Executed,
  type Execution,
  type Executor,
} from "./executor.js";
import type { StageDef } from "./node.js";

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
  def: StageDef,
  call: Omit<Execution, "signal" | "stage" | "fn" | "signature">,
  signal: AbortSignal | undefined,
  attribute: boolean,
): Promise<Bounded> {
  const execution = { ...call, stage: def.name, fn: def.fn, signature: def.signature };
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
