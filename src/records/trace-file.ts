/**
 * A run record as a trace: one row per task, with Nextflow's trace field names where they mean
 * the same (`task_id`, `name`, `status`, `exit`, `submit`, `start`, `complete`, `duration`,
 * `realtime`, `%cpu`, `peak_rss`, `peak_vmem`, `rchar`, `wchar`, `read_bytes`,
 * `write_bytes`, `attempt`, `native_id`, `process`, `tag`), then memori's own (`decision`,
 * `reason`, `error`). Values are raw, as Nextflow's `trace.raw`: times in ms since the epoch,
 * durations in ms, sizes in bytes; a field with nothing to say is empty (`-` in text). Also
 * the text forms `memori log` shows (durations, sizes).
 */
import { describeReason } from "../decision.js";
import type { RunRecord, TaskDecision, TaskRecord } from "./run-record.js";

/** The trace's fields, in order. */
export const TRACE_FIELDS = [
  "task_id",
  "native_id",
  "process",
  "tag",
  "name",
  "status",
  "exit",
  "attempt",
  "submit",
  "start",
  "complete",
  "duration",
  "realtime",
  "%cpu",
  "cpu_ms",
  "peak_rss",
  "peak_vmem",
  "rchar",
  "wchar",
  "read_bytes",
  "write_bytes",
  "decision",
  "reason",
  "error",
] as const;

export type TraceField = (typeof TRACE_FIELDS)[number];

/** One task's row: a number, a string, or `null` where there is nothing to say. */
export type TraceRow = Record<TraceField, string | number | null>;

/** Nextflow's status of a task that did this. */
const STATUS: Record<TaskDecision, string> = {
  ran: "COMPLETED",
  cached: "CACHED",
  failed: "FAILED",
  blocked: "ABORTED",
  cancelled: "ABORTED",
  excluded: "ABORTED",
};

/** `stage`, or `stage[label]` for an element. */
export function taskName(task: TaskRecord): string {
  return task.element === undefined ? task.stage : `${task.stage}[${task.element}]`;
}

/** How long its function ran (from `run` to the end), ms. */
function realtime(task: TaskRecord): number | undefined {
  return task.run === undefined || task.end === undefined ? undefined : task.end - task.run;
}

/** One row per task, in task order. */
export function traceRows(record: RunRecord): TraceRow[] {
  return record.tasks.map((task) => {
    const usage = task.usage;
    const cpu = usage === undefined ? undefined : usage.userMs + usage.sysMs;
    const real = realtime(task);
    const last = task.processes?.[task.processes.length - 1];
    return {
      task_id: task.id,
      native_id: last?.pid ?? null,
      process: task.stage,
      tag: task.element ?? null,
      name: taskName(task),
      status: STATUS[task.decision],
      exit: task.exit ?? null,
      attempt: task.attempt ?? 1,
      submit: task.start ?? null,
      start: task.run ?? task.start ?? null,
      complete: task.end ?? null,
      duration: task.ms ?? null,
      realtime: real ?? null,
      "%cpu":
        cpu === undefined || real === undefined || real <= 0
          ? null
          : Math.round((cpu / real) * 1000) / 10,
      cpu_ms: cpu ?? null,
      peak_rss: usage?.peakRss || null, // 0: not seen (sampled too early or too late)
      peak_vmem: usage?.peakVmem ?? null,
      rchar: usage?.rchar ?? null,
      wchar: usage?.wchar ?? null,
      read_bytes: usage?.readBytes ?? null,
      write_bytes: usage?.writeBytes ?? null,
      decision: task.decision,
      reason: task.reason === undefined ? null : describeReason(task.reason),
      error: task.error?.message ?? null,
    };
  });
}

/** A TSV cell: tabs and line breaks would break the row. */
function tsvCell(value: string | number | null): string {
  return value === null ? "" : String(value).replace(/[\t\r\n]+/g, " ");
}

/** The trace as TSV: a header line, then one line per task. */
export function traceTsv(record: RunRecord): string {
  const lines = [TRACE_FIELDS.join("\t")];
  for (const row of traceRows(record)) {
    lines.push(TRACE_FIELDS.map((f) => tsvCell(row[f])).join("\t"));
  }
  return lines.join("\n") + "\n";
}

/** A duration as people read it: `850ms`, `1.2s`, `3m 4s`, `2h 5m`. */
export function showDuration(ms: number | undefined): string {
  if (ms === undefined) return "-";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

/** A size in bytes as people read it: `512 B`, `1.5 KiB`, `245.6 MiB`, `2.0 GiB`. */
export function showBytes(bytes: number | undefined): string {
  if (bytes === undefined) return "-";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** A time as a local `YYYY-MM-DD HH:MM:SS`. */
export function showTime(ms: number): string {
  const t = new Date(ms);
  const two = (n: number) => String(n).padStart(2, "0");
  return (
    `${t.getFullYear()}-${two(t.getMonth() + 1)}-${two(t.getDate())} ` +
    `${two(t.getHours())}:${two(t.getMinutes())}:${two(t.getSeconds())}`
  );
}
