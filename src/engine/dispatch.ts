/**
 * A call on the queue: one task that runs (or explains) the call, attempt after attempt while
 * its failures are worth another try, announcing retries and the final failure.
 */
import type { CallResult, Call, CallContext } from "./call.js";
import { explainCall, type ExplainResult } from "./explain.js";
import { errorOf } from "./failure.js";
import type { Settled, TaskQueue } from "./queue.js";
import { announceFailure, announceRetry, runCall, willRetry } from "./run.js";

/** What a call runs with, but its attempt. */
export type CallBase = Omit<CallContext, "attempt" | "attempts">;

export interface Dispatch {
  readonly mode: "run" | "explain";
  /** The wording of the failure announced: a pipeline's, or a stage's run alone. */
  readonly where: "pipeline" | "stage";
  readonly priority: number;
  /** The node's own concurrency limit applies (a map with `concurrency`). */
  readonly group: number | undefined;
  /** What the stages feeding it offered, for a missing argument's message. */
  readonly offered: () => readonly string[];
}

/** Queue a call; `done` is told when its last attempt ended, or when it was dropped. */
export function dispatch(
  queue: TaskQueue<CallResult | ExplainResult>,
  call: Call,
  base: CallBase,
  how: Dispatch,
  done: (settled: Settled<CallResult | ExplainResult>) => void,
): void {
  const attempts = how.mode === "run" ? call.def.retries + 1 : 1;
  const context = (attempt: number): CallContext => ({
    scope: base.scope,
    readonlyCaches: base.readonlyCaches,
    onEvent: base.onEvent,
    signal: base.signal,
    attribute: base.attribute,
    refresh: base.refresh,
    locker: base.locker,
    attempt,
    attempts,
  });
  let began = Date.now();
  queue.add(
    {
      priority: how.priority,
      group: how.group,
      run: (attempt) => {
        began = Date.now();
        const ctx = context(attempt);
        return how.mode === "run" ? runCall(call, ctx) : explainCall(call, ctx);
      },
      again: (result) => !result.ok && willRetry(result.failure),
      onRetry: (result, attempt) => {
        if (!result.ok) announceRetry(call, context(attempt), result.failure, Date.now() - began);
      },
    },
    (settled) => {
      if (settled.kind === "done" && !settled.value.ok && how.mode === "run") {
        const error = errorOf(settled.value.failure, how.where, how.offered());
        announceFailure(call, context(settled.attempt), error, Date.now() - began);
      }
      done(settled);
    },
  );
}
