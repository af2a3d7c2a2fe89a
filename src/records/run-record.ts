/**
 * The run record: what one pipeline run did, written as one JSON file per run under the state
 * directory (`<state dir>/.memori-runs/<id>.json`, see run-history.ts), read back by
 * `memori log` and `memori report`. Never needed for correctness: a record that is missing,
 * torn or of another format is reported and left out, never trusted.
 *
 * The shape only grows: fields may be added (optional), none removed or changed in meaning,
 * within one {@link RUN_RECORD_FORMAT}. Times are milliseconds since the epoch (`Date.now()`),
 * durations milliseconds, sizes bytes.
 */
import type { Reason } from "../decision.js";

/** The format of the records this memori writes and reads. */
export const RUN_RECORD_FORMAT = 1;

/** The folder of a state directory that holds its run records: `<state dir>/.memori-runs/`. */
export const RUNS_FOLDER = ".memori-runs";

/** What a call (a stage, or one element of a map) did in a run. */
export type TaskDecision =
  /** Its function ran and returned (its state, if memoized, was written). */
  | "ran"
  /** Its results came from the state files. */
  | "cached"
  /** It failed (after its last attempt): nothing was recorded. */
  | "failed"
  /** It did not run: a call it depends on failed. */
  | "blocked"
  /**
   * Interrupted while running, or never started: the run was interrupted, or stopped at a
   * failure (without `keepGoing`, nothing new starts after one).
   */
  | "cancelled"
  /** Left out of the run (the pipeline's `only`). */
  | "excluded";

/** The decisions, in the order `memori log` counts them. */
export const TASK_DECISIONS: readonly TaskDecision[] = [
  "ran",
  "cached",
  "failed",
  "blocked",
  "cancelled",
  "excluded",
];

/** Calls counted by what they did. */
export type TaskCounts = Record<TaskDecision, number>;

/** How a run ended. */
export type RunOutcome =
  /** Every call ran or was cached (calls left out by `only` aside). */
  | "ok"
  /** At least one call failed. */
  | "failed"
  /** The run was interrupted (a signal, an abort). */
  | "interrupted";

/**
 * What a process tree used, sampled from `/proc` while it ran (Linux only; elsewhere absent).
 * Sampled at 0, 20, 50, 100, 200, 500 ms, then every second, and once more as it ends: a
 * process shorter than the first interval may show little, and CPU time and bytes done in its
 * last interval may be missing (what its finished children did is counted).
 */
export interface ProcessUsage {
  /** CPU time in user mode, the tree's processes and the children they waited for, ms. */
  userMs: number;
  /** CPU time in kernel mode, likewise, ms. */
  sysMs: number;
  /**
   * The peak resident set size: at each sample, the sum over the tree of each process's high
   * water mark (`VmHWM`), the largest such sum; bytes.
   */
  peakRss: number;
  /** The same for virtual memory (`VmPeak`), bytes. */
  peakVmem?: number;
  /** Bytes read through read-like system calls, page cache included (`rchar`). */
  rchar: number;
  /** Bytes written through write-like system calls (`wchar`). */
  wchar: number;
  /** Bytes actually fetched from storage (`read_bytes`), when the kernel tells. */
  readBytes?: number;
  /** Bytes sent to storage (`write_bytes`), when the kernel tells. */
  writeBytes?: number;
  /** How many samples were taken. */
  samples: number;
}

/** One process a call started through `runProcess` (or a command's run). */
export interface ProcessRecord {
  /** The command as given (a string run through `/bin/sh -c`, or the program and arguments). */
  command: string | string[];
  /** Its process id. */
  pid?: number;
  /** When it started, ms since the epoch. */
  start: number;
  /** When it ended, ms since the epoch. */
  end: number;
  /** Its exit code, when it exited. */
  exitCode?: number;
  /** The signal that ended it, when one did (`SIGKILL`). */
  signal?: string;
  /** What its tree used, where it could be sampled. */
  usage?: ProcessUsage;
}

/** An attempt of a call that failed and was tried again (`retries`). */
export interface FailedAttempt {
  /** The attempt, from 1. */
  attempt: number;
  /** When it ended, ms since the epoch. */
  end: number;
  /** How long it took, ms. */
  ms: number;
  /** What it threw, in one line. */
  error: string;
}

/** Why a call failed. */
export interface TaskError {
  /** The error's message. */
  message: string;
  /**
   * memori's kebab-case reason (`process-failed`, `timeout`...): the innermost `MemoriError`'s
   * among the error and its causes.
   */
  reason?: string;
  /** The end of what the failed process wrote to stderr, when known. */
  stderrTail?: string;
  /**
   * Where it was thrown: the first frames of its stack in the user's code, not memori's nor
   * Node's (`at clean (file:///lab/pipeline.mjs:19:33)`), when it has any (error-frames.ts).
   */
  frames?: string[];
}

/** One call of the run: a stage, or one element of a map. */
export interface TaskRecord {
  /** Its number in the run, from 1, in the order calls started (then the ones never started). */
  id: number;
  /** The stage's name (a map's own name for its elements). */
  stage: string;
  /** Its node in {@link RunGraph} (`s0`, `s1`...). */
  node: string;
  /** The map element's label, for one element of a map. */
  element?: string;
  /** What it did. */
  decision: TaskDecision;
  /** Why it ran or was skipped, as `describeReason()` takes it (absent when it did not start). */
  reason?: Reason;
  /** The attempt that ended it, when the stage has `retries` and it was not the first. */
  attempt?: number;
  /** When it started (before its state was looked up), ms since the epoch. */
  start?: number;
  /** When it ended, ms since the epoch. */
  end?: number;
  /** `end - start`, ms. */
  ms?: number;
  /** When its function started running (a miss), ms since the epoch. */
  run?: number;
  /**
   * Its exit status, for a call that ran processes: the last process's (the failed one's for a
   * failure), 128 + N for signal N.
   */
  exit?: number;
  /** The processes it started, in the order they ended (in-process executor only). */
  processes?: ProcessRecord[];
  /**
   * What its processes used together: CPU and bytes summed, peak RSS the largest of theirs.
   */
  usage?: ProcessUsage;
  /** Why it failed. */
  error?: TaskError;
  /** Its earlier attempts that failed. */
  failedAttempts?: FailedAttempt[];
}

/** A node of the pipeline's DAG. */
export interface GraphNode {
  /** `s<index>`, as edges and tasks name it. */
  id: string;
  /** The stage's name. */
  name: string;
  /** Whether it is a map (its tasks are elements). */
  mapped: boolean;
  /** What it did in the run, as the diagrams colour it. */
  state: "ran" | "cached" | "failed" | "blocked" | "cancelled" | "excluded" | "unknown";
  /** Its state directory, when memoized. */
  hashOutput?: string;
}

/** An edge of the DAG, labelled with the names passed along. */
export interface GraphEdge {
  /** A node's id, or `start` (the run's arguments). */
  from: string;
  /** A node's id. */
  to: string;
  /** The names passed along (`""`: none). */
  label: string;
}

/** The pipeline's DAG, so that a record is read without the pipeline's code. */
export interface RunGraph {
  /** Its nodes, by index (`s0` first). */
  nodes: GraphNode[];
  /** Its edges, by target node. */
  edges: GraphEdge[];
}

/** A parameter of `memori run`, and where its value came from. */
export interface RunParameter {
  /** The parameter's name. */
  name: string;
  /** Its value as `memori run` shows it. */
  value: string;
  /** `default`, `config FILE` or `--param`. */
  from: string;
}

/** What started the run. */
export interface RunCommand {
  /** `api`: `Pipeline.run()` in a program; `run`: `memori run`; `memori`: a memoized command. */
  via: "api" | "run" | "memori";
  /** The process's command line (`process.argv`). */
  argv: string[];
  /** `memori run`: the pipeline module and its export. */
  module?: string;
  /** `memori run`: its parameters. */
  params?: RunParameter[];
}

/** One pipeline run. */
export interface RunRecord {
  /** {@link RUN_RECORD_FORMAT} when it was written. */
  format: number;
  /**
   * The run's id, sortable by start time and unique per host and process:
   * `YYYYMMDD-HHMMSSmmm-<pid>-<4 hex>` (UTC). Its file is `<id>.json`.
   */
  id: string;
  /** When the run started, ms since the epoch. */
  start: number;
  /** When it ended, ms since the epoch. */
  end: number;
  /** `end - start`, ms. */
  ms: number;
  /** How it ended. */
  outcome: RunOutcome;
  /** Its calls by decision. */
  counts: TaskCounts;
  /** What started it. */
  command: RunCommand;
  /** The host it ran on. */
  host: string;
  /** The process id of the run. */
  pid: number;
  /** The working directory it ran in. */
  cwd: string;
  /** The memori version that wrote it. */
  memori: string;
  /** The Node.js version (`process.version`). */
  node: string;
  /** The pipeline's DAG. */
  graph: RunGraph;
  /** Every call, by `id`. */
  tasks: TaskRecord[];
  /** Total CPU time of the run's processes (user + system), ms, when any was sampled. */
  cpuMs?: number;
  /** Why the run failed or was interrupted, in one line (the error `run()` threw). */
  error?: string;
}
