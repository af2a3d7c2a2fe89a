/**
 * A run record (src/records/run-record.ts) as the report shows it. Tolerant of what a record
 * may lack (a task that never started, a call without processes, a stage without a state):
 * such a value is `undefined`, shown as "–".
 */
import path from "node:path";
import { describeReason, type Reason } from "../decision.js";
import type { RunRecord, TaskRecord } from "../records/run-record.js";
import { countDecisions, type ReportModel, type ReportStage, type ReportTask } from "./model.js";

/** A reason in one line; one of a kind this memori does not know, by its kind. */
function reasonText(task: TaskRecord): string {
  if (task.reason === undefined) {
    if (task.decision === "blocked") return "something it needs failed";
    if (task.decision === "excluded") return "left out (only)";
    if (task.decision === "cancelled") return "the run was interrupted";
    return "";
  }
  try {
    return describeReason(task.reason as Reason) ?? task.reason.kind;
  } catch {
    return task.reason.kind;
  }
}

/**
 * The usage a task's processes were measured with, or `undefined`: a process gone before its
 * first sample leaves a sample of zeros (a peak RSS of 0 bytes is no process's), which is
 * shown as not measured, not as "0 B".
 */
function measured(task: TaskRecord): TaskRecord["usage"] {
  const usage = task.usage;
  return usage !== undefined && usage.peakRss > 0 ? usage : undefined;
}

function taskOf(task: TaskRecord): ReportTask {
  const usage = measured(task);
  return {
    stage: task.stage,
    element: task.element,
    decision: task.decision,
    reason: reasonText(task),
    start: task.start,
    end:
      task.end ??
      (task.start !== undefined && task.ms !== undefined ? task.start + task.ms : undefined),
    exit: task.exit,
    cpuMs: usage === undefined ? undefined : usage.userMs + usage.sysMs,
    peakRssBytes: usage?.peakRss,
    readBytes: usage?.rchar,
    writtenBytes: usage?.wchar,
    error: task.error?.message,
    logTail: task.error?.stderrTail,
    frames: task.error?.frames ?? [],
  };
}

/**
 * The command line that started the run, as one line: `memori run m.ts ...` for memori's own
 * command line (not the node binary and the bundle's path), else as the process was started.
 */
function commandText(record: RunRecord): string {
  const { via, argv } = record.command;
  const words =
    via !== "api" && argv.length >= 2 && /^memori(\.c?js)?$/.test(path.basename(argv[1]!))
      ? ["memori", ...argv.slice(2)]
      : argv;
  return words.map((a) => (/^[\w./:=@%+,-]+$/.test(a) ? a : JSON.stringify(a))).join(" ");
}

/** The report's view of a run record. */
export function fromRunRecord(record: RunRecord): ReportModel {
  const elements = new Map<string, ReportTask[]>();
  const tasks = record.tasks.map(taskOf);
  record.tasks.forEach((task, i) => {
    if (task.element === undefined) return;
    const list = elements.get(task.node);
    if (list === undefined) elements.set(task.node, [tasks[i]!]);
    else list.push(tasks[i]!);
  });
  const stages: ReportStage[] = record.graph.nodes.map((node) => ({
    id: node.id,
    name: node.name,
    state: node.state,
    elements: node.mapped ? countDecisions(elements.get(node.id) ?? []) : undefined,
  }));
  const parameters: Record<string, string> = {};
  for (const p of record.command.params ?? []) parameters[p.name] = `${p.value} (${p.from})`;
  return {
    runId: record.id,
    command: commandText(record),
    host: record.host,
    parameters,
    start: record.start,
    end: record.end,
    status: record.error === undefined ? record.outcome : `${record.outcome}: ${record.error}`,
    cpuMs: record.cpuMs,
    stages,
    edges: record.graph.edges,
    tasks,
  };
}
