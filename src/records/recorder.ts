/**
 * Makes a run record from a run's events: a listener collects each call's `stage:*` events
 * (its times, reason, attempts, processes, error), and {@link RunRecorder.record} puts them
 * together, with what the scheduler's report says of the calls that never started (blocked,
 * left out, cancelled), into a {@link RunRecord}. Nothing here is needed for the run itself.
 */
import { constants } from "node:os";
import type { Reason } from "../decision.js";
import { MemoriError, messageOf } from "../errors.js";
import { hitsFromReport, type MemoriEvent } from "../events.js";
import {
  RUN_RECORD_FORMAT,
  TASK_DECISIONS,
  type GraphEdge,
  type GraphNode,
  type ProcessUsage,
  type RunCommand,
  type RunOutcome,
  type RunRecord,
  type TaskCounts,
  type TaskDecision,
  type TaskError,
  type TaskRecord,
} from "./run-record.js";
import { runId } from "./run-history.js";
import { memoriVersion } from "./version.js";
import { userFrames } from "../error-frames.js";
import { hostName } from "../state/atomic.js";

/** A task as its events tell it: its id, node and decision are set when the run ends. */
type Draft = TaskRecord & { heard?: TaskDecision };

/** How one call (a node, or one element of a map) ended, as the scheduler reports it. */
export interface CallStatus {
  /** The node's index in the graph. */
  readonly node: number;
  /** The map element's label (when known), for one element of a map. */
  readonly element?: string | undefined;
  /** What it did, by the scheduler's report (absent: what its events said, else `cancelled`). */
  readonly decision?: TaskDecision | undefined;
  /** Its reason, when the report has it (a call whose events were not heard). */
  readonly reason?: Reason | undefined;
  /** Its failure's error, when it failed. */
  readonly error?: unknown;
  /** When the call that gave its outcome began and ended, when it has one (a run). */
  readonly start?: number | undefined;
  readonly end?: number | undefined;
}

/** What {@link RunRecorder.record} needs besides the events. */
export interface RunSummary {
  readonly command: RunCommand;
  /** The graph's nodes, `s<index>` each: the record keeps them (and the edges) as they are. */
  readonly nodes: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
  /** Every call, in node order (elements in input order). */
  readonly calls: readonly CallStatus[];
  /** The run was interrupted. */
  readonly interrupted: boolean;
  /** What the run threw, if it failed (absent: its first failed call's error). */
  readonly error?: unknown;
}

/** `name[label]` -> `name`. */
function stageOf(event: { stage: string; element?: string }): string {
  const { stage, element } = event;
  return element === undefined ? stage : stage.slice(0, stage.length - element.length - 2);
}

/**
 * The error's message, reason (the innermost memori's), stderr tail and where it was thrown
 * (error-frames.ts), through `cause`s.
 */
export function taskError(error: unknown): TaskError {
  const found: TaskError = { message: messageOf(error) };
  const seen = new Set<unknown>();
  for (let e = error; e !== undefined && e !== null && !seen.has(e);) {
    seen.add(e);
    // The innermost reason tells most: `process-failed` under `stage-failed`.
    if (e instanceof MemoriError) found.reason = e.reason;
    const tail = (e as { stderrTail?: unknown }).stderrTail;
    if (found.stderrTail === undefined && typeof tail === "string" && tail !== "") {
      found.stderrTail = tail;
    }
    e = (e as { cause?: unknown }).cause;
  }
  const frames = userFrames(error);
  if (frames.length > 0) found.frames = frames;
  return found;
}

/** The exit status an error carries (a failed process's), if any. */
function exitOf(error: unknown): number | undefined {
  const seen = new Set<unknown>();
  for (let e = error; e !== undefined && e !== null && !seen.has(e);) {
    seen.add(e);
    const status = (e as { status?: unknown }).status;
    if (e instanceof MemoriError && typeof status === "number") return status;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Processes' usage together: CPU and bytes summed, the peaks the largest. */
function combined(usages: readonly ProcessUsage[]): ProcessUsage | undefined {
  if (usages.length === 0) return undefined;
  if (usages.length === 1) return usages[0];
  const sum = (pick: (u: ProcessUsage) => number | undefined) =>
    usages.some((u) => pick(u) !== undefined)
      ? usages.reduce((n, u) => n + (pick(u) ?? 0), 0)
      : undefined;
  const total: ProcessUsage = {
    userMs: sum((u) => u.userMs)!,
    sysMs: sum((u) => u.sysMs)!,
    peakRss: Math.max(...usages.map((u) => u.peakRss)),
    rchar: sum((u) => u.rchar)!,
    wchar: sum((u) => u.wchar)!,
    samples: sum((u) => u.samples)!,
  };
  const vmem = usages.flatMap((u) => (u.peakVmem === undefined ? [] : [u.peakVmem]));
  if (vmem.length > 0) total.peakVmem = Math.max(...vmem);
  const readBytes = sum((u) => u.readBytes);
  const writeBytes = sum((u) => u.writeBytes);
  if (readBytes !== undefined) total.readBytes = readBytes;
  if (writeBytes !== undefined) total.writeBytes = writeBytes;
  return total;
}

/** Where the events of a call go: by its node and name (two nodes may share a name). */
function draftKey(node: string | undefined, stage: string): string {
  return node === undefined ? stage : `${node}\u0000${stage}`;
}

/** Collects a run's events, then makes its record. */
export class RunRecorder {
  /** When the run started. */
  readonly start = Date.now();
  readonly #drafts = new Map<string, Draft>();
  /**
   * The listener to hear the run's events with. A plain cache hit's calls tell it nothing: the
   * scheduler's report gives them ({@link CallStatus} `start`, `end`), see `hitsFromReport`.
   */
  readonly listener = hitsFromReport((event: MemoriEvent): void => this.#hear(event));

  #draft(event: { stage: string; element?: string; node?: string }, time: number): Draft {
    const key = draftKey(event.node, event.stage);
    let draft = this.#drafts.get(key);
    if (draft === undefined) {
      // Fields in the order a reader looks for them.
      draft = { id: 0, stage: stageOf(event), node: "" } as Draft;
      if (event.element !== undefined) draft.element = event.element;
      draft.decision = "cancelled";
      draft.start = time;
      this.#drafts.set(key, draft);
    }
    return draft;
  }

  #hear(event: MemoriEvent): void {
    switch (event.type) {
      case "stage:start":
        this.#draft(event, event.time);
        return;
      case "stage:run": {
        const draft = this.#draft(event, event.time);
        draft.reason = event.reason;
        draft.run = event.time;
        return;
      }
      case "stage:cached":
      case "stage:done":
      case "stage:error": {
        const draft = this.#draft(event, event.time);
        draft.heard =
          event.type === "stage:cached" ? "cached" : event.type === "stage:done" ? "ran" : "failed";
        if (event.type !== "stage:error") draft.reason = event.reason;
        else {
          draft.error = taskError(event.error);
          const exit = exitOf(event.error);
          if (exit !== undefined) draft.exit = exit;
        }
        if ("attempt" in event && event.attempt !== undefined) draft.attempt = event.attempt;
        draft.end = event.time;
        draft.ms = event.time - draft.start!;
        return;
      }
      case "stage:retry": {
        const draft = this.#draft(event, event.time);
        (draft.failedAttempts ??= []).push({
          attempt: event.attempt,
          end: event.time,
          ms: event.ms,
          error: messageOf(event.error),
        });
        return;
      }
      case "stage:process": {
        const draft = this.#draft(event, event.start);
        const process: NonNullable<TaskRecord["processes"]>[number] = {
          command: typeof event.command === "string" ? event.command : [...event.command],
          start: event.start,
          end: event.time,
        };
        if (event.pid !== undefined) process.pid = event.pid;
        if (event.exitCode !== undefined) process.exitCode = event.exitCode;
        if (event.signal !== undefined) process.signal = event.signal;
        if (event.usage !== undefined) process.usage = event.usage;
        (draft.processes ??= []).push(process);
        return;
      }
      default:
        return;
    }
  }

  /** The run's record, from what was heard and the scheduler's account of every call. */
  record(summary: RunSummary): RunRecord {
    const end = Date.now();
    const started: TaskRecord[] = [];
    const unstarted: TaskRecord[] = [];
    const drafts = this.#drafts;
    for (const call of summary.calls) {
      const graphNode = summary.nodes[call.node]!;
      const name = graphNode.name;
      const { element } = call;
      let task: Draft | undefined;
      if (drafts.size > 0) {
        // A pipeline's events name their node; a stage run alone's (a command's) do not.
        const stage = element === undefined ? name : `${name}[${element}]`;
        task = drafts.get(draftKey(graphNode.id, stage)) ?? drafts.get(stage);
      }
      if (
        task === undefined &&
        call.start !== undefined &&
        call.end !== undefined &&
        call.decision
      ) {
        // A plain hit, unheard: made whole at once, its times from the report, its fields in
        // the order its events give.
        const { reason, decision, start: began, end: ended } = call;
        const node = graphNode.id;
        const ms = ended - began;
        started.push(
          element === undefined
            ? { id: 0, stage: name, node, decision, start: began, reason, end: ended, ms }
            : { id: 0, stage: name, node, element, decision, start: began, reason, end: ended, ms },
        );
        continue;
      }
      if (task === undefined) {
        task = { id: 0, stage: name, node: "" } as Draft;
        if (element !== undefined) task.element = element;
        task.decision = "cancelled";
      }
      task.node = graphNode.id;
      const decision = call.decision ?? task.heard ?? "cancelled";
      task.decision = decision;
      task.heard = undefined;
      if (task.reason === undefined && call.reason !== undefined) task.reason = call.reason;
      if (decision === "failed" && task.error === undefined && call.error !== undefined) {
        task.error = taskError(call.error);
        const exit = exitOf(call.error);
        if (exit !== undefined) task.exit = exit;
      }
      if (task.processes !== undefined) finishTask(task);
      (task.start === undefined ? unstarted : started).push(task);
    }
    this.#drafts.clear();
    // Calls start in order mostly: sorting what is sorted is quick.
    started.sort((a, b) => a.start! - b.start!);
    const tasks = started.concat(unstarted);
    for (let i = 0; i < tasks.length; i++) tasks[i]!.id = i + 1;
    const counts = Object.fromEntries(TASK_DECISIONS.map((d) => [d, 0])) as TaskCounts;
    for (const task of tasks) counts[task.decision]++;
    const outcome: RunOutcome = summary.interrupted
      ? "interrupted"
      : counts.failed > 0 || summary.error !== undefined
        ? "failed"
        : "ok";
    const cpu = tasks.reduce(
      (n, t) => n + (t.usage === undefined ? 0 : t.usage.userMs + t.usage.sysMs),
      0,
    );
    // Why it failed: what it threw, else its first failed call's error.
    const failed = tasks.find((t) => t.error !== undefined)?.error?.message;
    const error = summary.error === undefined ? failed : messageOf(summary.error);
    // The graph and the tasks last: a list of runs reads the fields before them only
    // (run-history.ts, `readHeaders`).
    const record: RunRecord = {
      format: RUN_RECORD_FORMAT,
      id: runId(this.start),
      start: this.start,
      end,
      ms: end - this.start,
      outcome,
      counts,
      command: summary.command,
      host: hostName(),
      pid: process.pid,
      cwd: safeCwd(),
      memori: memoriVersion(),
      node: process.version,
      ...(tasks.some((t) => t.usage !== undefined) ? { cpuMs: cpu } : {}),
      ...(error !== undefined && outcome !== "ok" ? { error } : {}),
      graph: { nodes: summary.nodes.slice(), edges: summary.edges.slice() },
      tasks,
    };
    return record;
  }
}

/** A task's exit status and usage, from its processes. */
function finishTask(task: TaskRecord): void {
  const processes = task.processes;
  if (processes === undefined || processes.length === 0) return;
  if (task.exit === undefined) {
    const last = processes[processes.length - 1]!;
    const failed = processes.find((p) => p.exitCode !== 0);
    const which = task.decision === "failed" && failed !== undefined ? failed : last;
    if (which.exitCode !== undefined) task.exit = which.exitCode;
    else if (which.signal !== undefined) task.exit = 128 + signalNumber(which.signal);
  }
  const usage = combined(processes.flatMap((p) => (p.usage === undefined ? [] : [p.usage])));
  if (usage !== undefined) task.usage = usage;
}

function signalNumber(signal: string): number {
  return constants.signals[signal as NodeJS.Signals] ?? 0;
}

function safeCwd(): string {
  try {
    return process.cwd();
  } catch {
    return "";
  }
}
