/**
 * The execute step: run a bound call on its executor, bounded by the stage's `timeout` and the
 * run's abort signal. Whatever comes back after either fired is dropped, never committed.
 * Loaded when a call has to run (run.ts, explain.ts): a skipped call needs none of it.
 */
import { FileAccess, type ProcessEnded } from "../call-signal.js";
import {
  EXECUTOR,
  NEVER,
  inProcessExecutor,
  type Executed,
  type Execution,
  type Executor,
} from "./executor.js";
import { KILL_GRACE_MS } from "../process-tree.js";
import { tell, type Call, type CallContext } from "./call.js";
import type { Failure } from "./failure.js";
import { directoryRule, type Fingerprint } from "./fingerprint.js";
import type { StageDef } from "./node.js";
import { nameOutputs } from "./signature.js";

/**
 * The executor a call runs on: the stage's option, else the run's (a pipeline's `executor`),
 * else its function's own (a worker function's), else in-process.
 */
export function executorOf(def: StageDef, run?: Executor): Executor {
  return (
    def.executor ??
    run ??
    (def.fn as unknown as Partial<Record<typeof EXECUTOR, Executor>>)[EXECUTOR] ??
    inProcessExecutor
  );
}

/**
 * How long a stopped function may take to end before it is abandoned: enough for the
 * processes it started to be stopped for good (SIGTERM, then SIGKILL after 3 s).
 */
const STOP_GRACE_MS = 2 * KILL_GRACE_MS + 1000;

/** What a bounded execution gives back: the executor's answer, or why it was stopped. */
export type Bounded =
  | Executed
  | { ok: false; stopped: { kind: "timeout"; ms: number } | { kind: "cancelled"; cause: unknown } };

/**
 * Execute on the call's executor, bounded by the stage's `timeout` and the run's `signal`.
 * When either fires, the execution's signal is aborted (a worker thread is terminated, a
 * remote job cancelled), and whatever the function returns is dropped: never committed. A
 * timeout or the caller's signal gives the function a grace period to end, then abandons it.
 *
 * Code in this thread sees the signal as `callSignal()` (and `runProcess` stops what the call
 * started) only when it is the call's own: a timeout, or `attribute` (the caller gave the run
 * an abort signal). Keeping that context costs every promise of the process time (Node 20's
 * AsyncLocalStorage), and an interrupt by a process signal stops every process anyway
 * (interrupt.ts).
 */
export async function executeBounded(
  def: StageDef,
  call: Omit<Execution, "signal" | "stage" | "fn" | "signature" | "attributed" | "hashOutput">,
  signal: AbortSignal | undefined,
  attribute: boolean,
  runExecutor?: Executor,
): Promise<Bounded> {
  const { name: stage, fn, signature, hashOutput } = def;
  const execution = { ...call, stage, fn, signature, hashOutput };
  const cancelled = (): Bounded => ({
    ok: false,
    stopped: { kind: "cancelled", cause: signal?.reason },
  });
  if (signal?.aborted) return cancelled();
  const executor = executorOf(def, runExecutor);
  const { timeout } = def;
  if (timeout === undefined && !attribute) {
    // Only a process signal can interrupt: the executor hears it, the processes are stopped
    // anyway, and what comes back after it is dropped. Nothing to set up per call.
    const executed = await executor.execute({
      ...execution,
      signal: signal ?? NEVER,
      attributed: false,
    });
    return signal?.aborted ? cancelled() : executed;
  }
  const own = new AbortController();
  let timedOut = false;
  const stopped = new Promise<"stopped">((resolve) => {
    own.signal.addEventListener("abort", () => resolve("stopped"), { once: true });
  });
  const forward = () => own.abort(signal?.reason);
  signal?.addEventListener("abort", forward, { once: true });
  const timer =
    timeout === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          own.abort(new Error(`timed out after ${timeout} ms`));
        }, timeout);
  try {
    const attributed = timeout !== undefined || attribute;
    const running = executor.execute({ ...execution, signal: own.signal, attributed });
    const first = await Promise.race([running, stopped]);
    if (first !== "stopped") return signal?.aborted ? cancelled() : first;
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

/** Execute a bound call: its named outputs, or why not. */
export async function execute(
  call: Call,
  ctx: CallContext,
  inputArgs: Record<string, unknown>,
  fingerprint: Fingerprint | undefined,
): Promise<
  | { ok: true; outputs: Record<string, unknown>; access: FileAccess | undefined }
  | { ok: false; failure: Failure }
> {
  const { def } = call;
  // Files matter for memoized calls only: reads become inputs of the state, writes tell which
  // files in a directory argument the call wrote.
  const access =
    def.trackReads && fingerprint !== undefined
      ? new FileAccess(directoryRule(def).skip ?? [])
      : undefined;
  // Processes are sampled only when someone hears of them (a pipeline's run record does).
  const heard = ctx.onEvent !== undefined || def.onEvent !== undefined;
  const onProcess = heard
    ? (ended: ProcessEnded) =>
        tell(call, ctx, (about) => ({
          type: "stage:process",
          ...about,
          ...definedOf(ended),
          time: Date.now(),
        }))
    : undefined;
  const executed = await executeBounded(
    def,
    { element: call.element, inputArgs, fingerprint, attempt: ctx.attempt, access, onProcess },
    ctx.signal,
    ctx.attribute ?? false,
    ctx.executor,
  );
  if (executed.ok) {
    const outputs = nameOutputs(def.name, def.outputs, executed.returned);
    return { ok: true, outputs, access };
  }
  return {
    ok: false,
    failure: "stopped" in executed ? executed.stopped : { kind: "threw", error: executed.error },
  };
}

/** An ended process's fields without the undefined ones (events carry no `undefined` fields). */
function definedOf(ended: ProcessEnded): Omit<ProcessEnded, "pid"> & { pid?: number } {
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(ended)) if (value !== undefined) fields[key] = value;
  return fields as never;
}
