/**
 * A call on the queue: one task that runs (or explains) the call, attempt after attempt while
 * its failures are worth another try, announcing retries and the final failure.
 */
import { emit } from "../events.js";
import { HashScope } from "../hashing/files.js";
import { RecordListing } from "../state/listing.js";
import type { CallResult, Call, CallContext } from "./call.js";
import { explainCall, type ExplainResult } from "./explain.js";
import { errorOf } from "./failure.js";
import type { ScheduleOptions } from "./plan.js";
import type { QueueTask, Settled, TaskQueue } from "./queue.js";
import { refreshFromEnv } from "./run-options.js";
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

/** What every call of a run of `options` runs with: one hash scope, one listing of records. */
export function callBase(options: ScheduleOptions): CallBase {
  const { onEvent, readonlyCaches, signal, attribute, executor } = options;
  const scope = new HashScope(
    onEvent &&
      ((file, bytes, total) =>
        emit(onEvent, { type: "hash:progress", file, bytes, total, time: Date.now() })),
  );
  const listing = options.mode === "run" ? new RecordListing() : undefined;
  return {
    scope,
    readonlyCaches,
    onEvent,
    signal,
    attribute,
    refresh: refreshFromEnv(),
    listing,
    executor,
  };
}

/** Queue a call; `done` is told when its last attempt ended, or when it was dropped. */
export function dispatch(
  queue: TaskQueue<CallResult | ExplainResult>,
  call: Call,
  base: CallBase,
  how: Dispatch,
  done: (settled: Settled<CallResult | ExplainResult>) => void,
): void {
  const task = new CallTask(call, base, how, done);
  queue.add(task, (settled) => task.settled(settled));
}

/** One call as a task of the queue: its attempts, and what is said when they end. */
class CallTask implements QueueTask<CallResult | ExplainResult> {
  readonly priority: number;
  readonly group: number | undefined;
  readonly #attempts: number;
  #began = Date.now();

  constructor(
    readonly call: Call,
    readonly base: CallBase,
    readonly how: Dispatch,
    readonly done: (settled: Settled<CallResult | ExplainResult>) => void,
  ) {
    this.priority = how.priority;
    this.group = how.group;
    this.#attempts = how.mode === "run" ? call.def.retries + 1 : 1;
  }

  #context(attempt: number): CallContext {
    const { base } = this;
    return {
      scope: base.scope,
      readonlyCaches: base.readonlyCaches,
      onEvent: base.onEvent,
      signal: base.signal,
      attribute: base.attribute,
      refresh: base.refresh,
      locker: base.locker,
      listing: base.listing,
      executor: base.executor,
      attempt,
      attempts: this.#attempts,
    };
  }

  run(attempt: number): CallResult | ExplainResult | Promise<CallResult | ExplainResult> {
    this.#began = Date.now();
    const ctx = this.#context(attempt);
    return this.how.mode === "run" ? runCall(this.call, ctx) : explainCall(this.call, ctx);
  }

  again(result: CallResult | ExplainResult): boolean {
    return !result.ok && willRetry(result.failure);
  }

  onRetry(result: CallResult | ExplainResult, attempt: number): void {
    if (result.ok) return;
    const ms = Date.now() - this.#began;
    announceRetry(this.call, this.#context(attempt), result.failure, ms);
  }

  settled(settled: Settled<CallResult | ExplainResult>): void {
    const { how } = this;
    if (settled.kind === "done" && !settled.value.ok && how.mode === "run") {
      const error = errorOf(settled.value.failure, how.where, how.offered());
      const ms = Date.now() - this.#began;
      announceFailure(this.call, this.#context(settled.attempt), error, ms);
    }
    this.done(settled);
  }
}
