import type { Reason } from "./decision.js";

/**
 * What a pipeline reports while it runs, through its `onEvent` option. `time` is
 * `Date.now()` when the event happened; `ms` how long the stage took.
 */
export type MemoriEvent =
  | { type: "pipeline:start"; stages: number; time: number }
  | { type: "stage:start"; stage: string; time: number }
  | { type: "stage:run"; stage: string; reason: Reason; time: number }
  | { type: "stage:cached"; stage: string; reason: Reason; ms: number; time: number }
  | { type: "stage:done"; stage: string; reason: Reason; ms: number; time: number }
  | { type: "stage:error"; stage: string; error: unknown; ms: number; time: number }
  | { type: "hash:progress"; file: string; bytes: number; total: number; time: number }
  | {
      type: "pipeline:done";
      ms: number;
      ran: number;
      cached: number;
      failed: number;
      time: number;
    };

/** Receives events. */
export type EventListener = (event: MemoriEvent) => void;

/** Call a listener without letting its failure break the run. */
export function emit(listener: EventListener | undefined, event: MemoriEvent): void {
  if (listener === undefined) return;
  try {
    listener(event);
  } catch {
    // a reporter's problem must not fail the pipeline
  }
}
