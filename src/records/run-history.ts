/**
 * Where run records live and how many are kept: one file per run,
 * `<state dir>/.memori-runs/<id>.json`, written atomically (a reader sees a whole record or
 * none), the oldest removed beyond the newest {@link DEFAULT_KEEP_RUNS} (the pipeline option
 * `keepRuns`, or `MEMORI_KEEP_RUNS`). Records are never needed for correctness: a record that
 * cannot be written is said once (a warning) and the run goes on.
 */
import {
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  unlinkSync,
} from "node:fs";
import path from "node:path";
import { MemoriError, codeOf, describe, messageOf } from "../errors.js";
import { stderrLogger } from "../logger.js";
import { writeFileAtomicSync } from "../state/atomic.js";
import { jsonParts } from "./record-json.js";
import { RUNS_FOLDER, type RunRecord } from "./run-record.js";
import {
  describeProblem,
  parseRunHeader,
  parseRunRecord,
  type RecordProblem,
  type RunHeader,
} from "./record-check.js";

/** How many runs a state directory keeps by default. */
export const DEFAULT_KEEP_RUNS = 100;

/** A record file's name: `<id>.json` (temporary files start with a dot). */
const RECORD_NAME = /^\d{8}-\d{9}-\d+-[0-9a-f]{4}\.json$/;

/** The folder of a state directory's run records. */
export function runsDir(stateDir: string): string {
  return path.join(stateDir, RUNS_FOLDER);
}

const two = (n: number) => String(n).padStart(2, "0");

/**
 * A run's id: its start time (UTC, to the millisecond), this process's id and 4 random hex
 * digits (hosts sharing a state directory): `20261126-095012345-4242-a3f1`. Ids sort by time.
 */
export function runId(start: number): string {
  const t = new Date(start);
  const day = `${t.getUTCFullYear()}${two(t.getUTCMonth() + 1)}${two(t.getUTCDate())}`;
  const time = `${two(t.getUTCHours())}${two(t.getUTCMinutes())}${two(t.getUTCSeconds())}`;
  const ms = String(t.getUTCMilliseconds()).padStart(3, "0");
  const random = Math.floor(Math.random() * 0x10000)
    .toString(16)
    .padStart(4, "0");
  return `${day}-${time}${ms}-${process.pid}-${random}`;
}

/**
 * How many runs to keep: `keepRuns` if given, else `MEMORI_KEEP_RUNS`, else 100; 0 writes no
 * record. A `MEMORI_KEEP_RUNS` that is not a whole number >= 0 is said once (a warning), and
 * the default is used: records never stop a run.
 */
export function keepRunsOf(option: number | undefined): number {
  if (option !== undefined) return option;
  const text = process.env.MEMORI_KEEP_RUNS;
  if (text === undefined || text === "") return DEFAULT_KEEP_RUNS;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) {
    warnOnce(
      `expected MEMORI_KEEP_RUNS to be a whole number of runs >= 0, got ${describe(text)}; keeping ${DEFAULT_KEEP_RUNS}.`,
    );
    return DEFAULT_KEEP_RUNS;
  }
  return value;
}

const warned = new Set<string>();

/** Say a problem with records once per process (by its text). */
function warnOnce(message: string): void {
  if (warned.has(message)) return;
  warned.add(message);
  stderrLogger().warn(message);
}

/**
 * Write a run's record under `stateDir`, atomically, then remove the oldest beyond `keep`.
 * Throws what went wrong (see {@link saveRunRecord}, which does not).
 */
export function writeRunRecord(stateDir: string, record: RunRecord, keep: number): string {
  const dir = runsDir(stateDir);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${record.id}.json`);
  // In parts, synchronously: the run has ended, and a record of 10,000 calls is 2.6 MB.
  writeFileAtomicSync(file, withNewline(jsonParts(record)));
  const names = readdirSync(dir).filter((n) => RECORD_NAME.test(n));
  if (names.length > keep) {
    names.sort();
    for (const name of names.slice(0, names.length - keep)) {
      // unlink, not rmSync: rmSync loads Node's rimraf (a skipped command's cost).
      try {
        unlinkSync(path.join(dir, name));
      } catch (error) {
        if (codeOf(error) !== "ENOENT") throw error; // another run removed it first
      }
    }
  }
  return file;
}

function* withNewline(parts: Iterable<string>): Generator<string> {
  yield* parts;
  yield "\n";
}

let wroteNone = false;

/**
 * Make a run's record and write it ({@link writeRunRecord}), never failing: a record that
 * cannot be made or written is said once per process on stderr (a warning), and the run goes
 * on. Returns the file, or `undefined`.
 */
export function saveRunRecord(
  stateDir: string,
  make: () => RunRecord,
  keep: number,
): string | undefined {
  if (keep <= 0) return undefined;
  try {
    return writeRunRecord(stateDir, make(), keep);
  } catch (error) {
    if (!wroteNone) {
      wroteNone = true;
      warnOnce(
        `a run record could not be written to ${runsDir(stateDir)} (${messageOf(error)}); the run is not affected (said once).`,
      );
    }
    return undefined;
  }
}

/** The run records' files of `stateDir`, oldest first (none without `.memori-runs/`). */
export function recordFiles(stateDir: string): string[] {
  const dir = runsDir(stateDir);
  try {
    return readdirSync(dir)
      .filter((n) => RECORD_NAME.test(n))
      .sort()
      .map((name) => path.join(dir, name));
  } catch {
    return [];
  }
}

/** A record's header (its fields but its graph and tasks), with its file. */
export interface HeaderOf {
  readonly header: RunHeader;
  readonly file: string;
}

/** How much of a record is read for its header: a run's command line fits many times. */
const HEAD_BYTES = 64 * 1024;

/**
 * The headers of the run records of `stateDir`, oldest first (none when it has no
 * `.memori-runs/`), and what is wrong with the others: what `memori log` lists. Each record's
 * beginning is read and parsed up to its graph (`parseRunHeader`); a record whose beginning
 * does not reach it is read whole. So a list of 100 runs of 10,000 calls reads 6 MB, not
 * 260 MB; a record torn after its header is listed, and said to be torn when it is shown.
 */
export function readHeaders(stateDir: string): {
  headers: HeaderOf[];
  problems: RecordProblem[];
} {
  const headers: HeaderOf[] = [];
  const problems: RecordProblem[] = [];
  const buffer = Buffer.allocUnsafe(HEAD_BYTES);
  for (const file of recordFiles(stateDir)) {
    let head: string;
    let whole: boolean;
    try {
      const fd = openSync(file, "r");
      try {
        const read = readSync(fd, buffer, 0, HEAD_BYTES, 0);
        head = buffer.toString("utf8", 0, read);
        whole = read < HEAD_BYTES;
      } finally {
        closeSync(fd);
      }
    } catch (error) {
      problems.push({ file, at: "", message: `cannot be read (${messageOf(error)})` });
      continue;
    }
    const fromHead = parseRunHeader(head, file);
    if (fromHead !== undefined) {
      if (fromHead.ok) headers.push({ header: fromHead.header, file });
      else problems.push(fromHead.problem);
      continue;
    }
    const read = readWhole(file, whole ? head : undefined);
    if (read.ok) headers.push({ header: read.record, file });
    else problems.push(read.problem);
  }
  return { headers, problems };
}

/** A record read whole (`text`: when it was read already) and checked. */
export function readWhole(
  file: string,
  text?: string,
): { ok: true; record: RunRecord } | { ok: false; problem: RecordProblem } {
  let whole = text;
  if (whole === undefined) {
    try {
      whole = readFileSync(file, "utf8");
    } catch (error) {
      return {
        ok: false,
        problem: { file, at: "", message: `cannot be read (${messageOf(error)})` },
      };
    }
  }
  return parseRunRecord(whole, file);
}

/**
 * The record a reference names among `records`: its id, a prefix of one id only, `last`
 * (the newest), or `-N` (the Nth newest). Throws `not-found` naming what there is.
 */
export function findRun<T extends { readonly id: string }>(records: readonly T[], ref: string): T {
  const newest = records.length === 0 ? undefined : records[records.length - 1];
  if (ref === "last" && newest !== undefined) return newest;
  if (/^-\d+$/.test(ref)) {
    const found = records[records.length + Number(ref)];
    if (found !== undefined && Number(ref) < 0) return found;
  }
  const exact = records.find((r) => r.id === ref);
  if (exact !== undefined) return exact;
  const matches = records.filter((r) => r.id.startsWith(ref));
  if (matches.length === 1) return matches[0]!;
  const known =
    records.length === 0
      ? "there are no run records"
      : `the runs are ${records
          .slice(-5)
          .map((r) => r.id)
          .join(", ")}${records.length > 5 ? ` (the newest 5 of ${records.length})` : ""}`;
  throw new MemoriError(
    "not-found",
    matches.length > 1
      ? `${JSON.stringify(ref)} names ${matches.length} runs (${matches.map((r) => r.id).join(", ")}); give more of the id.`
      : `no run ${JSON.stringify(ref)}: ${known}.`,
  );
}

/** One line per problem, for a warning. */
export function problemLines(problems: readonly RecordProblem[]): string[] {
  return problems.map((p) => `skipped a run record: ${describeProblem(p)}`);
}
