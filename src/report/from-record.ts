/**
 * A run record (src/records/run-record.ts) as the report shows it. Tolerant of what a record
 * may lack (a task that never started, a call without processes, a stage without a state):
 * such a value is `undefined`, shown as "–".
 */
import { describeReason, type Reason } from "../decision.js";
import type { RunRecord, TaskRecord } from "../records/run-record.js";
import type { ReportModel, ReportStage, ReportTask } from "./model.js";

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

function taskOf(task: TaskRecord): ReportTask {
  const usage = task.usage;
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
  };
}

/** The command line that started the run, as one line. */
function commandText(record: RunRecord): string {
  const argv = record.command.argv.map((a) => (/^[\w./:=@%+,-]+$/.test(a) ? a : JSON.stringify(a)));
  return argv.join(" ");
}

/** The report's view of a run record. */
export function fromRunRecord(record: RunRecord): ReportModel {
  const elements = new Map<string, number>();
  for (const task of record.tasks) {
    if (task.element !== undefined) elements.set(task.node, (elements.get(task.node) ?? 0) + 1);
  }
  const stages: ReportStage[] = record.graph.nodes.map((node) => ({
    id: node.id,
    name: node.name,
    state: node.state,
    elements: node.mapped ? (elements.get(node.id) ?? 0) : undefined,
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
    tasks: record.tasks.map(taskOf),
  };
}
