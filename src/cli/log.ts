/**
 * `memori log [RUN] [DIR] [--format text|tsv|json]`: the runs a state directory recorded
 * (records/run-history.ts), or one run's tasks, as a table or as a trace file (TSV or JSON,
 * Nextflow's field names: records/trace-file.ts). Loaded only for `memori log`.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { describeReason } from "../decision.js";
import { MemoriError } from "../errors.js";
import {
  findRun,
  problemLines,
  readHeaders,
  readWhole,
  runsDir,
  type HeaderOf,
} from "../records/run-history.js";
import { RUNS_FOLDER, TASK_DECISIONS, type RunRecord } from "../records/run-record.js";
import { describeProblem, type RecordProblem, type RunHeader } from "../records/record-check.js";
import {
  showBytes,
  showDuration,
  showTime,
  taskName,
  traceRows,
  traceTsv,
} from "../records/trace-file.js";
import { table } from "./table.js";

export const LOG_HELP = `usage: memori log [RUN] [DIR] [--format text|tsv|json]

What past runs did, from the run records in a state directory (DIR/${RUNS_FOLDER}/: every
pipeline run, memori run and memori -d DIR command writes one; the newest 100 are kept,
MEMORI_KEEP_RUNS=N to change).

  memori log [DIR]          the runs: id, start, duration, outcome, what the calls did, command
  memori log RUN [DIR]      one run's tasks (stages and map elements): what each did and why,
                            duration, exit status, peak RSS and CPU time of its processes

RUN is a run's id, a prefix of one, last, or -N (the Nth newest). DIR is the state directory
(a stage's hashOutput, memori's -d); without it, the current directory, or the directories
one or two levels down that have run records.

options:
  -d, --dir DIR           the state directory
  -f, --format FORMAT     text (the default), tsv or json: for a run's tasks, a trace file
                          with Nextflow's field names (task_id, name, status, exit, submit,
                          start, complete, duration, realtime, %cpu, peak_rss, rchar, wchar,
                          read_bytes, write_bytes...) and memori's decision and reason; times
                          in ms since the epoch, durations in ms, sizes in bytes
  -h, --help              this help
`;

type Write = (text: string) => void;
type Format = "text" | "tsv" | "json";

const USAGE = 2;

interface LogArgs {
  run: string | undefined;
  dir: string | undefined;
  format: Format;
}

class LogUsageError extends Error {}

function parseLogArgs(argv: readonly string[]): LogArgs | "help" {
  const positional: string[] = [];
  let dir: string | undefined;
  let format: Format = "text";
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new LogUsageError(`${arg} needs a value`);
      return next;
    };
    if (arg === "-h" || arg === "--help") return "help";
    else if (arg === "-d" || arg === "--dir") dir = value();
    else if (arg.startsWith("--dir=")) dir = arg.slice(6);
    else if (arg === "-f" || arg === "--format" || arg.startsWith("--format=")) {
      const given = arg.startsWith("--format=") ? arg.slice(9) : value();
      if (given !== "text" && given !== "tsv" && given !== "json") {
        throw new LogUsageError(`--format takes text, tsv or json, got "${given}"`);
      }
      format = given;
    } else if (arg.startsWith("-") && !/^-\d+$/.test(arg)) {
      throw new LogUsageError(`unknown option ${arg}`);
    } else positional.push(arg);
  }
  if (positional.length > 2 || (positional.length === 2 && dir !== undefined)) {
    throw new LogUsageError(`too many arguments: ${positional.join(" ")}`);
  }
  let run: string | undefined;
  if (positional.length === 2) [run, dir] = positional;
  else if (positional.length === 1) {
    // One argument: a directory if it is one, else a run.
    const [only] = positional as [string];
    if (dir === undefined && isDirectory(only)) dir = only;
    else run = only;
  }
  return { run, dir, format };
}

function isDirectory(file: string): boolean {
  try {
    return statSync(file).isDirectory();
  } catch {
    return false;
  }
}

/** Folders never searched for state directories. */
const SKIPPED = new Set(["node_modules", ".git"]);

function subdirectories(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !SKIPPED.has(e.name) && e.name !== RUNS_FOLDER)
      .map((e) => (dir === "." ? e.name : path.join(dir, e.name)))
      .sort();
  } catch {
    return [];
  }
}

/**
 * The state directories to read: the one given, else `.` if it has records, else those with
 * records one or two levels down (`derivatives/.memori`).
 */
function stateDirs(given: string | undefined): string[] {
  if (given !== undefined) return [given];
  if (existsSync(runsDir("."))) return ["."];
  const found: string[] = [];
  for (const dir of subdirectories(".")) {
    if (existsSync(runsDir(dir))) found.push(dir);
    else for (const inner of subdirectories(dir)) if (existsSync(runsDir(inner))) found.push(inner);
  }
  return found.length > 0 ? found : ["."];
}

function countsText(record: RunHeader): string {
  return TASK_DECISIONS.filter((d) => record.counts[d] > 0 || d === "ran" || d === "cached")
    .map((d) => `${record.counts[d]} ${d}`)
    .join(", ");
}

function commandText(record: RunHeader): string {
  const { command } = record;
  if (command.via === "run" && command.module !== undefined) {
    const params = (command.params ?? []).map((p) => `${p.name}=${p.value}`).join(" ");
    return `memori run ${command.module}${params === "" ? "" : ` (${params})`}`;
  }
  const argv = command.argv.slice(command.via === "api" ? 1 : 2);
  const program = command.via === "memori" ? "memori" : path.basename(command.argv[0] ?? "node");
  return [program, ...argv].join(" ");
}

/**
 * The runs, one a line. `states`: each run's state directory, when they come from more than
 * one (found one or two levels down): a column says which.
 */
function listRuns(
  records: readonly RunHeader[],
  format: Format,
  out: Write,
  states?: readonly string[],
): void {
  const summaries = records.map((r) => ({
    id: r.id,
    start: r.start,
    duration: r.ms,
    outcome: r.outcome,
    ...r.counts,
    command: commandText(r),
  }));
  if (format === "json") return out(`${JSON.stringify(summaries, null, 2)}\n`);
  if (format === "tsv") {
    const fields = ["id", "start", "duration", "outcome", ...TASK_DECISIONS, "command"] as const;
    const lines = summaries.map((s) =>
      fields.map((f) => String(s[f]).replace(/[\t\r\n]+/g, " ")).join("\t"),
    );
    return out(`${[fields.join("\t"), ...lines].join("\n")}\n`);
  }
  if (records.length === 0) return out("no runs recorded\n");
  const many = states !== undefined && new Set(states).size > 1;
  out(
    table([
      ["RUN", "STARTED", "DURATION", "OUTCOME", "CALLS", ...(many ? ["STATE"] : []), "COMMAND"],
      ...records.map((r, i) => [
        r.id,
        showTime(r.start),
        showDuration(r.ms),
        r.outcome,
        countsText(r),
        ...(many ? [states[i]!] : []),
        commandText(r),
      ]),
    ]),
  );
}

function showRun(record: RunRecord, format: Format, out: Write): void {
  if (format === "tsv") return out(traceTsv(record));
  if (format === "json") return out(`${JSON.stringify(traceRows(record), null, 2)}\n`);
  out(
    `run ${record.id}: ${record.outcome}, ${countsText(record)}, ${showDuration(record.ms)}` +
      `${record.cpuMs === undefined ? "" : ` (CPU ${showDuration(record.cpuMs)})`}\n` +
      `started ${showTime(record.start)} on ${record.host} (pid ${record.pid}) in ${record.cwd}\n` +
      `command: ${commandText(record)}\n`,
  );
  for (const p of record.command.params ?? []) out(`  ${p.name} = ${p.value} (${p.from})\n`);
  const failed = record.tasks.filter((t) => t.error !== undefined);
  // A failed task's error is said below, with its stderr.
  if (record.error !== undefined && failed.length === 0) out(`error: ${record.error}\n`);
  out("\n");
  out(
    table([
      ["TASK", "STAGE", "DECISION", "REASON", "DURATION", "EXIT", "PEAK RSS", "CPU"],
      ...record.tasks.map((t) => [
        String(t.id),
        taskName(t),
        t.decision,
        t.reason === undefined ? "-" : describeReason(t.reason),
        showDuration(t.ms),
        t.exit === undefined ? "-" : String(t.exit),
        // 0: every sample came too early or too late to see the process's memory
        showBytes(t.usage?.peakRss || undefined),
        t.usage === undefined ? "-" : showDuration(t.usage.userMs + t.usage.sysMs),
      ]),
    ]),
  );
  for (const t of failed) {
    out(`\n${taskName(t)} ${t.decision}: ${t.error!.message}\n`);
    for (const frame of t.error!.frames ?? []) out(`  ${frame}\n`);
    const tail = t.error!.stderrTail?.trimEnd();
    if (tail !== undefined && tail !== "") {
      const lines = tail.split("\n").slice(-10);
      out(`  stderr (last ${lines.length} lines):\n${lines.map((l) => `    ${l}`).join("\n")}\n`);
    }
  }
}

/** Run `memori log` with the arguments after `log`; returns the exit status. */
export function runLog(argv: readonly string[], out: Write, err: Write): number {
  let args: LogArgs | "help";
  try {
    args = parseLogArgs(argv);
  } catch (error) {
    if (!(error instanceof LogUsageError)) throw error;
    err(`memori log: ${error.message} (see memori log --help)\n`);
    return USAGE;
  }
  if (args === "help") {
    out(LOG_HELP);
    return 0;
  }
  if (args.dir !== undefined && !isDirectory(args.dir)) {
    err(`memori log: ${args.dir} is not a directory\n`);
    return USAGE;
  }
  // The runs by their headers (a record's beginning); only the run shown is read whole.
  const found: HeaderOf[] = [];
  const problems: RecordProblem[] = [];
  for (const dir of stateDirs(args.dir)) {
    const read = readHeaders(dir);
    found.push(...read.headers);
    problems.push(...read.problems);
  }
  found.sort((a, b) => (a.header.id < b.header.id ? -1 : a.header.id > b.header.id ? 1 : 0));
  const headers = found.map((h) => h.header);
  for (const line of problemLines(problems)) err(`memori log: warning: ${line}\n`);
  if (args.run === undefined) {
    if (headers.length === 0 && args.format === "text") {
      const where = args.dir ?? "the current directory (nor one or two levels down)";
      err(`memori log: no run records in ${where}; give the state directory: memori log DIR\n`);
      return 1;
    }
    // Where each was found, as given (or relative to here): <state dir>/.memori-runs/<id>.json.
    const states = found.map((h) => path.relative(".", path.dirname(path.dirname(h.file))) || ".");
    listRuns(headers, args.format, out, states);
    return 0;
  }
  let file: string;
  try {
    file = found[headers.indexOf(findRun(headers, args.run))]!.file;
  } catch (error) {
    if (!(error instanceof MemoriError)) throw error;
    err(`memori log: ${error.message}\n`);
    return 1;
  }
  const read = readWhole(file);
  if (!read.ok) {
    err(`memori log: cannot show the run: ${describeProblem(read.problem)}\n`);
    return 1;
  }
  showRun(read.record, args.format, out);
  return 0;
}
