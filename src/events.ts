import type { Reason } from "./decision.js";
import type { ProcessUsage } from "./records/run-record.js";

/**
 * What memori reports while it runs, through the `onEvent` option of a pipeline or a stage.
 * `time` is `Date.now()` when the event happened; `ms` how long the call took. A map element
 * is reported as a stage named `name[label]`, with `element` set to its label; `attempt` is
 * set from the second attempt of a stage with `retries` on.
 *
 * `stage:*` events come from the stage runner, for every call (a stage run alone, a pipeline
 * node, one element of a map); `pipeline:*` and `map:start` from the scheduler.
 *
 * @example
 * ```ts
 * const pipeline = new Pipeline(definition, {
 *   onEvent: (event) => {
 *     if (event.type === "stage:done") console.log(`${event.stage}: ${event.ms} ms`);
 *     if (event.type === "stage:error") console.error(event.stage, event.error);
 *   },
 * });
 * ```
 */
export type MemoriEvent =
  | {
      /** A pipeline run starts. */
      type: "pipeline:start";
      /** How many stages (nodes) the pipeline has. */
      stages: number;
      /** `Date.now()` when it happened. */
      time: number;
    }
  | {
      /** A map's elements are known: they start as their inputs are ready. */
      type: "map:start";
      /** The mapped stage's name. */
      stage: string;
      /** How many elements it has. */
      elements: number;
      /** `Date.now()` when it happened. */
      time: number;
    }
  | {
      /** A call starts (before its state is looked up). */
      type: "stage:start";
      /** The stage's name (`name[label]` for a map element). */
      stage: string;
      /** The map element's label, for one element of a map. */
      element?: string;
      /**
       * In a pipeline, the node's id (`s0`, `s1`... in definition order, as its run record has
       * it): it tells apart stages of the same name (in different state directories).
       */
      node?: string;
      /** The attempt, from the second one of a stage with `retries`. */
      attempt?: number;
      /** `Date.now()` when it happened. */
      time: number;
    }
  | {
      /** A call's function is about to run (it was not cached). */
      type: "stage:run";
      /** The stage's name (`name[label]` for a map element). */
      stage: string;
      /** The map element's label, for one element of a map. */
      element?: string;
      /**
       * In a pipeline, the node's id (`s0`, `s1`... in definition order, as its run record has
       * it): it tells apart stages of the same name (in different state directories).
       */
      node?: string;
      /** The attempt, from the second one of a stage with `retries`. */
      attempt?: number;
      /** Why it runs. */
      reason: Reason;
      /** `Date.now()` when it happened. */
      time: number;
    }
  | {
      /** A call was skipped: its results came from the state files. */
      type: "stage:cached";
      /** The stage's name (`name[label]` for a map element). */
      stage: string;
      /** The map element's label, for one element of a map. */
      element?: string;
      /**
       * In a pipeline, the node's id (`s0`, `s1`... in definition order, as its run record has
       * it): it tells apart stages of the same name (in different state directories).
       */
      node?: string;
      /** `cached`, with the read-only cache it came from, if any. */
      reason: Reason;
      /** How long the call took, in milliseconds. */
      ms: number;
      /** `Date.now()` when it happened. */
      time: number;
    }
  | {
      /** A call's function ran and returned (and its state, if memoized, was written). */
      type: "stage:done";
      /** The stage's name (`name[label]` for a map element). */
      stage: string;
      /** The map element's label, for one element of a map. */
      element?: string;
      /**
       * In a pipeline, the node's id (`s0`, `s1`... in definition order, as its run record has
       * it): it tells apart stages of the same name (in different state directories).
       */
      node?: string;
      /** The attempt, from the second one of a stage with `retries`. */
      attempt?: number;
      /** Why it ran. */
      reason: Reason;
      /** How long the call took, in milliseconds. */
      ms: number;
      /** `Date.now()` when it happened. */
      time: number;
    }
  | {
      /** An attempt failed and the call is tried again (`retries`). */
      type: "stage:retry";
      /** The stage's name (`name[label]` for a map element). */
      stage: string;
      /** The map element's label, for one element of a map. */
      element?: string;
      /**
       * In a pipeline, the node's id (`s0`, `s1`... in definition order, as its run record has
       * it): it tells apart stages of the same name (in different state directories).
       */
      node?: string;
      /** The attempt that failed; the next one starts now. */
      attempt: number;
      /** How many attempts the call has in all (`retries` + 1). */
      attempts: number;
      /** What the failed attempt threw. */
      error: unknown;
      /** How long the failed attempt took, in milliseconds. */
      ms: number;
      /** `Date.now()` when it happened. */
      time: number;
    }
  | {
      /** A call failed (after its last attempt): nothing was recorded. */
      type: "stage:error";
      /** The stage's name (`name[label]` for a map element). */
      stage: string;
      /** The map element's label, for one element of a map. */
      element?: string;
      /**
       * In a pipeline, the node's id (`s0`, `s1`... in definition order, as its run record has
       * it): it tells apart stages of the same name (in different state directories).
       */
      node?: string;
      /** The attempt, from the second one of a stage with `retries`. */
      attempt?: number;
      /** What it threw (a `MemoriError` naming the stage, the function's error as `cause`). */
      error: unknown;
      /** How long the call took, in milliseconds. */
      ms: number;
      /** `Date.now()` when it happened. */
      time: number;
    }
  | {
      /**
       * A process the call started with `runProcess` (or a command's run) ended, with what its
       * tree used (Linux: sampled from `/proc`; absent elsewhere). Only for calls that run in
       * this process (not in worker threads or on a cluster).
       */
      type: "stage:process";
      /** The stage's name (`name[label]` for a map element). */
      stage: string;
      /** The map element's label, for one element of a map. */
      element?: string;
      /**
       * In a pipeline, the node's id (`s0`, `s1`... in definition order, as its run record has
       * it): it tells apart stages of the same name (in different state directories).
       */
      node?: string;
      /** The attempt, from the second one of a stage with `retries`. */
      attempt?: number;
      /** The command as given. */
      command: string | readonly string[];
      /** Its process id. */
      pid?: number;
      /** Its exit code, when it exited. */
      exitCode?: number;
      /** The signal that ended it, when one did. */
      signal?: string;
      /** `Date.now()` when it started. */
      start: number;
      /** What its process tree used, where it could be sampled. */
      usage?: ProcessUsage;
      /** `Date.now()` when it ended. */
      time: number;
    }
  | {
      /** Progress hashing a large file, reported as it goes (for a progress bar). */
      type: "hash:progress";
      /** The file. */
      file: string;
      /** Bytes hashed so far. */
      bytes: number;
      /** Its size in bytes. */
      total: number;
      /** `Date.now()` when it happened. */
      time: number;
    }
  | {
      /** A pipeline run ended (also when it failed or was interrupted). */
      type: "pipeline:done";
      /** How long the run took, in milliseconds. */
      ms: number;
      /** Calls (stages and map elements) that ran. */
      ran: number;
      /** Calls that came from the cache. */
      cached: number;
      /** Calls that failed. */
      failed: number;
      /** Calls that did not run because a call they depend on failed. */
      blocked?: number;
      /** Calls cancelled by an interrupt, running or not started. */
      cancelled?: number;
      /** Calls left out (the run's `only`). */
      excluded?: number;
      /** `Date.now()` when it happened. */
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

/** Marks a listener that learns of a plain cache hit from the run's report, not its events. */
const HITS_FROM_REPORT: unique symbol = Symbol.for("memori.hitsFromReport") as never;

/**
 * Mark `listener` (memori's run recorder) as one that needs no `stage:start` nor
 * `stage:cached` event for a call that is a plain cache hit: the run's report gives it
 * those calls, with their times. Every other event still reaches it. Returns `listener`.
 */
export function hitsFromReport<L extends EventListener>(listener: L): L {
  (listener as L & { [HITS_FROM_REPORT]?: true })[HITS_FROM_REPORT] = true;
  return listener;
}

/**
 * Whether `listener` wants every event of every call: a cache hit's too (it is not only a
 * listener marked by {@link hitsFromReport}).
 */
export function wantsEveryEvent(listener: EventListener | undefined): boolean {
  return (
    listener !== undefined && (listener as { [HITS_FROM_REPORT]?: true })[HITS_FROM_REPORT] !== true
  );
}

/** The listener a listener made by {@link alsoTell} passes events on to. */
const PASSES_TO: unique symbol = Symbol.for("memori.passesTo") as never;

/**
 * A listener that hears each event first (memori's own: a run record), then passes it on to
 * `then` (whose failure is its own, see {@link emit}).
 */
export function alsoTell(
  hear: (event: MemoriEvent) => void,
  then: EventListener | undefined,
): EventListener {
  if (then === undefined) return hear;
  const both: EventListener & { [PASSES_TO]?: EventListener } = (event) => {
    hear(event);
    emit(then, event);
  };
  both[PASSES_TO] = then;
  return both;
}

/** Whether `listener` is `run`, or what `run` passes events on to: told once, not twice. */
export function sameListener(listener: EventListener, run: EventListener | undefined): boolean {
  return (
    listener === run ||
    listener === (run as { [PASSES_TO]?: EventListener } | undefined)?.[PASSES_TO]
  );
}
