import type { Reason } from "./decision.js";

/**
 * What memori reports while it runs, through the `onEvent` option of a pipeline or a stage.
 * `time` is `Date.now()` when the event happened; `ms` how long the call took. A map element
 * is reported as a stage named `name[label]`, with `element` set to its label; `attempt` is
 * set from the second attempt of a stage with `retries` on.
 *
 * `stage:*` events come from the stage runner, for every call (a stage run alone, a pipeline
 * node, one element of a map); `pipeline:*` and `map:start` from the scheduler.
 */
export type MemoriEvent =
  | { type: "pipeline:start"; stages: number; time: number }
  | { type: "map:start"; stage: string; elements: number; time: number }
  | { type: "stage:start"; stage: string; element?: string; attempt?: number; time: number }
  | {
      type: "stage:run";
      stage: string;
      element?: string;
      attempt?: number;
      reason: Reason;
      time: number;
    }
  | {
      type: "stage:cached";
      stage: string;
      element?: string;
      reason: Reason;
      ms: number;
      time: number;
    }
  | {
      type: "stage:done";
      stage: string;
      element?: string;
      attempt?: number;
      reason: Reason;
      ms: number;
      time: number;
    }
  | {
      type: "stage:retry";
      stage: string;
      element?: string;
      /** The attempt that failed; the next one starts now. */
      attempt: number;
      attempts: number;
      error: unknown;
      ms: number;
      time: number;
    }
  | {
      type: "stage:error";
      stage: string;
      element?: string;
      attempt?: number;
      error: unknown;
      ms: number;
      time: number;
    }
  | { type: "hash:progress"; file: string; bytes: number; total: number; time: number }
  | {
      type: "pipeline:done";
      ms: number;
      /** Calls (stages and map elements) that ran, came from the cache, failed. */
      ran: number;
      cached: number;
      failed: number;
      /** Calls that did not run because a call they depend on failed. */
      blocked?: number;
      /** Calls cancelled by an interrupt, running or not started. */
      cancelled?: number;
      /** Calls left out (the run's `only`). */
      excluded?: number;
      time: number;
    };

/**
 * Receives events. It may be async: a rejected promise is ignored like a thrown error, so a
 * listener never breaks a run.
 */
export type EventListener = (event: MemoriEvent) => void;

/** Call a listener without letting its failure break the run, sync or async. */
export function emit(listener: EventListener | undefined, event: MemoriEvent): void {
  if (listener === undefined) return;
  try {
    const returned = listener(event) as unknown;
    if (typeof (returned as PromiseLike<void> | undefined)?.then === "function") {
      (returned as PromiseLike<void>).then(undefined, () => undefined);
    }
  } catch {
    // a reporter's problem must not fail the pipeline
  }
}
