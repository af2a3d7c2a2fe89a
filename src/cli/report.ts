/**
 * `memori report [RUN] [-d DIR] [-o FILE]`: a run's HTML report, one self-contained file. Loaded
 * only for this subcommand (memori.ts imports it on demand), with dagre and the renderers.
 */
import { statSync } from "node:fs";
import { writeFileAtomic } from "../state/atomic.js";
import { fromRunRecord } from "../report/from-record.js";
import { reportPage } from "../report/page.js";
import { describeRecordFailure, findRecord } from "../report/record-file.js";
import { bytes, duration } from "../report/units.js";

export const REPORT_HELP = `usage: memori report [RUN] [DIR] [-o FILE]

Write the HTML report of a pipeline run: a summary (tasks ran, cached, failed, blocked; wall
and CPU time; command, host, parameters), the DAG coloured by what each stage did (up to
2,000 stages), a timeline (one bar per stage call or map element), the failures with their
log tails, and a table of every task with its decision, reason, duration, exit status, CPU,
peak memory and I/O. One file, nothing loaded from the network: open it in any browser, mail
it, archive it.

RUN is a run as memori log names it: its id, a unique beginning of one, last, or -N (the
Nth newest), or its record's .json file; the newest run by default. DIR is the state
directory (a stage's hashOutput, memori's -d) whose .memori-runs/ to look in; without it, the
current directory, or the directories one or two levels down that have run records.

options:
  -d, --dir DIR       the state directory (as DIR)
  -o, --output FILE   where to write the report (default: report.html)
  -h, --help          this help
`;

type Write = (text: string) => void;

function isDirectory(file: string): boolean {
  try {
    return statSync(file).isDirectory();
  } catch {
    return false;
  }
}

interface ReportArgs {
  run: string | undefined;
  dir: string | undefined;
  output: string;
  help: boolean;
}

function parseReportArgs(argv: readonly string[]): ReportArgs | string {
  const args: ReportArgs = { run: undefined, dir: undefined, output: "report.html", help: false };
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const value = (): string | undefined => (eq === -1 ? argv[++i] : arg.slice(eq + 1));
    if (name === "-h" || name === "--help") {
      args.help = true;
    } else if (name === "-d" || name === "--dir") {
      const v = value();
      if (v === undefined || v === "") return `${name} needs a directory`;
      args.dir = v;
    } else if (name === "-o" || name === "--output") {
      const v = value();
      if (v === undefined || v === "") return `${name} needs a file name`;
      args.output = v;
    } else if (arg.startsWith("-") && !/^-\d+$/.test(arg)) {
      return `unknown option ${arg}`;
    } else {
      positional.push(arg);
    }
  }
  if (positional.length > 2 || (positional.length === 2 && args.dir !== undefined)) {
    return `too many arguments: ${positional.map((p) => JSON.stringify(p)).join(" ")} (one run, one directory)`;
  }
  if (positional.length === 2) [args.run, args.dir] = positional;
  else if (positional.length === 1) {
    // One argument: a directory if it is one, else a run (as memori log reads it).
    const only = positional[0]!;
    if (args.dir === undefined && isDirectory(only)) args.dir = only;
    else args.run = only;
  }
  return args;
}

/** Run `memori report`; its exit status (0, 1 when there is no report to make, 2 for usage). */
export async function runReport(argv: readonly string[], out: Write, err: Write): Promise<number> {
  const args = parseReportArgs(argv);
  if (typeof args === "string") {
    err(`memori report: ${args} (see memori report --help)\n`);
    return 2;
  }
  if (args.help) {
    out(REPORT_HELP);
    return 0;
  }
  const found = findRecord(args.dir, args.run);
  if (!found.ok) {
    err(`memori report: ${describeRecordFailure(found.failure)}\n`);
    return 1;
  }
  const html = reportPage(fromRunRecord(found.record));
  try {
    await writeFileAtomic(args.output, html);
  } catch (error) {
    err(`memori report: cannot write ${args.output}: ${(error as Error).message}\n`);
    return 1;
  }
  const { record } = found;
  out(
    `${args.output}: run ${record.id} (${record.outcome}, ${record.tasks.length} tasks, ${duration(record.ms)}), ${bytes(Buffer.byteLength(html))}\n`,
  );
  return 0;
}
