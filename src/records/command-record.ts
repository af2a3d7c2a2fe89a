/**
 * The run record of a memoized command (`memori -d DIR command ...`): one task per run (one,
 * or one per `-p` run, as element `parallel<K>`), under the `-d` directory. A skip writes its
 * record with synchronous calls, as it does everything else (no thread pool, see
 * test/cli/startup.test.ts).
 */
import path from "node:path";
import type { EventListener, MemoriEvent } from "../events.js";
import { RunRecorder } from "./recorder.js";
import { keepRunsOf, saveRunRecord } from "./run-history.js";
import type { TaskDecision } from "./run-record.js";

/** How one run of the command ended. */
export interface CommandEnd {
  /** Its exit status. */
  readonly status: number;
  /** Interrupted (a signal, or a stopped run). */
  readonly interrupted: boolean;
  /** What it threw, if it failed. */
  readonly error?: unknown;
}

/** A command's runs being recorded. */
export interface CommandRecording {
  /** The listener of run `k` (of `runs`). */
  listener(k: number): EventListener;
  /** Write the record: `ends[k]` is how run `k` ended. */
  finish(name: string, ends: readonly CommandEnd[]): void;
}

/**
 * Start recording a command's runs under `stateDir` (nothing without one, or with
 * `MEMORI_KEEP_RUNS=0`). `parallel`: the runs are `-p` runs, each its own task.
 */
export function recordCommand(
  stateDir: string | undefined,
  parallel: boolean,
): CommandRecording | undefined {
  if (stateDir === undefined) return undefined;
  const keep = keepRunsOf(undefined);
  if (keep === 0) return undefined;
  const dir = path.resolve(stateDir);
  const recorder = new RunRecorder();
  return {
    listener(k) {
      // Every event, a hit's too: a command's calls come to the record only through them
      // (the recorder's own listener learns of a hit from a pipeline's report instead).
      if (!parallel) return (event: MemoriEvent) => recorder.listener(event);
      const element = `parallel${k}`;
      return (event: MemoriEvent) =>
        recorder.listener(
          "stage" in event && event.type !== "map:start"
            ? { ...event, stage: `${event.stage}[${element}]`, element }
            : event,
        );
    },
    finish(name, given) {
      // A run that never started (an interrupt before its turn) ended cancelled.
      const ends = Array.from(given, (end) => end ?? { status: 130, interrupted: true });
      saveRunRecord(
        dir,
        () => {
          const decisions = ends.map((end): TaskDecision | undefined =>
            end.interrupted ? "cancelled" : end.status === 0 ? undefined : "failed",
          );
          const interrupted = ends.some((e) => e.interrupted);
          const failed = ends.find((e) => e.status !== 0);
          const state = interrupted ? "cancelled" : failed !== undefined ? "failed" : "ran";
          const record = recorder.record({
            command: { via: "memori", argv: [...process.argv] },
            nodes: [{ id: "s0", name, mapped: parallel, state, hashOutput: dir }],
            edges: [{ from: "start", to: "s0", label: "" }],
            calls: ends.map((end, k) => ({
              node: 0,
              element: parallel ? `parallel${k}` : undefined,
              decision: decisions[k],
              error: end.error,
            })),
            interrupted,
            error: failed?.error,
          });
          // A node that was only cached says so.
          if (record.counts.ran === 0 && record.counts.cached > 0 && state === "ran") {
            record.graph.nodes[0]!.state = "cached";
          }
          return record;
        },
        keep,
      );
    },
  };
}
