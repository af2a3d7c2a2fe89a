/**
 * What a run's report shows, as plain values: the run, its stages (the DAG's nodes and edges)
 * and its tasks (one per stage call or map element). `fromRunRecord` (from-record.ts) makes
 * one from a run record; the renderers (page.ts and its parts) only read it, so a field a
 * record lacks is `undefined` here and shown as "–".
 */
import type { NodeState } from "../diagram.js";
import { TASK_DECISIONS, type TaskDecision } from "../records/run-record.js";

export type { TaskDecision };

/** What a stage did in the run: a diagram's state, or `cancelled` (the run was interrupted). */
export type StageState = NodeState | "cancelled";

/** One stage call, or one element of a map. */
export interface ReportTask {
  /** The stage's name. */
  readonly stage: string;
  /** The map element's label, for an element of a map. */
  readonly element: string | undefined;
  readonly decision: TaskDecision;
  /** Why it ran, was cached or did not run, in one line. */
  readonly reason: string;
  /** `Date.now()` when it started and ended (absent: it never started). */
  readonly start: number | undefined;
  readonly end: number | undefined;
  /** Its process's exit status (process stages). */
  readonly exit: number | undefined;
  /** CPU time (user + system) in milliseconds, and peak resident memory in bytes. */
  readonly cpuMs: number | undefined;
  readonly peakRssBytes: number | undefined;
  /** Bytes read and written. */
  readonly readBytes: number | undefined;
  readonly writtenBytes: number | undefined;
  /** Why it failed (the error's message), and the end of its log. */
  readonly error: string | undefined;
  readonly logTail: string | undefined;
  /** Where it was thrown: the first frames of its stack in the user's code (may be empty). */
  readonly frames: readonly string[];
}

/** One node of the DAG. */
export interface ReportStage {
  /** Its id in the record's graph (`s0`), as edges name it. */
  readonly id: string;
  readonly name: string;
  readonly state: StageState;
  /** For a map: its elements, by decision. */
  readonly elements: DecisionCounts | undefined;
}

/** An edge of the DAG: stage `to` takes `label` (the names passed along) from stage `from` (ids). */
export interface ReportEdge {
  readonly from: string;
  readonly to: string;
  readonly label: string;
}

/** A whole run, as the report shows it. */
export interface ReportModel {
  readonly runId: string;
  /** The command line that ran the pipeline, if known. */
  readonly command: string | undefined;
  readonly host: string | undefined;
  /** The run's parameters, as text. */
  readonly parameters: Readonly<Record<string, string>>;
  /** `Date.now()` at the start and end of the run (end absent: it did not finish). */
  readonly start: number;
  readonly end: number | undefined;
  /** Whether the run as a whole succeeded, failed or was interrupted, if the record says. */
  readonly status: string | undefined;
  /** The run's CPU time, if the record says (else the tasks' sum is shown). */
  readonly cpuMs: number | undefined;
  readonly stages: readonly ReportStage[];
  readonly edges: readonly ReportEdge[];
  readonly tasks: readonly ReportTask[];
}

/** How many tasks ended each way. */
export type DecisionCounts = Record<TaskDecision, number>;

/** The decisions, in the order the summary counts them. */
export const DECISIONS: readonly TaskDecision[] = TASK_DECISIONS;

export function countDecisions(tasks: readonly ReportTask[]): DecisionCounts {
  const counts: DecisionCounts = {
    ran: 0,
    cached: 0,
    failed: 0,
    blocked: 0,
    excluded: 0,
    cancelled: 0,
  };
  for (const task of tasks) counts[task.decision]++;
  return counts;
}

/** A task's name as shown: `stage` or `stage[label]`. */
export function taskName(task: ReportTask): string {
  return task.element === undefined ? task.stage : `${task.stage}[${task.element}]`;
}
