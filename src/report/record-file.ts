/**
 * Which run record a report is made of: the newest in a state directory's `.memori-runs/`, or
 * the one named (as `memori log` names runs: its id, a unique beginning of it, `last`, `-N` for
 * the Nth newest; or its file), read and checked. Without a state directory: the current
 * directory's runs, else those one or two levels down (`derivatives/.memori`), as `memori log`
 * looks. Only the chosen record is read (a history of large runs is not parsed whole).
 * Failures are values, each naming what is wrong and where.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { RUNS_FOLDER, type RunRecord } from "../records/run-record.js";
import { describeProblem, parseRunRecord } from "../records/record-check.js";

/** Why no record could be had. */
export type RecordFileFailure =
  | { reason: "no-runs-folder"; folder: string }
  | { reason: "no-runs-found" }
  | { reason: "no-runs"; folder: string }
  | { reason: "unknown-run"; folder: string; run: string; known: string[] }
  | { reason: "ambiguous-run"; folder: string; run: string; matches: string[] }
  | { reason: "unreadable-record"; file: string; detail: string };

export type RecordFileResult =
  { ok: true; file: string; record: RunRecord } | { ok: false; failure: RecordFileFailure };

/** The failure in one line, naming the folder or file. */
export function describeRecordFailure(failure: RecordFileFailure): string {
  switch (failure.reason) {
    case "no-runs-folder":
      return `no runs recorded yet: ${failure.folder} does not exist (a pipeline run writes its record there)`;
    case "no-runs-found":
      return `no runs recorded yet in the current directory, nor one or two levels down; give the state directory: memori report -d DIR`;
    case "no-runs":
      return `no runs recorded yet in ${failure.folder}`;
    case "unknown-run": {
      const newest = failure.known.slice(-3).reverse().join(", ");
      return `no run ${JSON.stringify(failure.run)} in ${failure.folder} (the newest: ${newest})`;
    }
    case "ambiguous-run":
      return `${JSON.stringify(failure.run)} names ${failure.matches.length} runs in ${failure.folder} (${failure.matches.slice(0, 5).join(", ")}): give more of the id`;
    case "unreadable-record":
      return `cannot read the run record ${failure.detail}`;
  }
}

/** The folder of run records of state directory `dir` (or `dir` itself, if it is one). */
export function runsFolder(dir: string): string {
  return path.basename(path.resolve(dir)) === RUNS_FOLDER ? dir : path.join(dir, RUNS_FOLDER);
}

function readRecord(file: string): RecordFileResult {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    return {
      ok: false,
      failure: {
        reason: "unreadable-record",
        file,
        detail: `${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      },
    };
  }
  const parsed = parseRunRecord(text, file);
  if (!parsed.ok) {
    return {
      ok: false,
      failure: { reason: "unreadable-record", file, detail: describeProblem(parsed.problem) },
    };
  }
  return { ok: true, file, record: parsed.record };
}

/** Folders never searched for state directories. */
const SKIPPED = new Set(["node_modules", ".git", RUNS_FOLDER]);

function subdirectories(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !SKIPPED.has(e.name))
      .map((e) => (dir === "." ? e.name : path.join(dir, e.name)))
      .sort();
  } catch {
    return [];
  }
}

/**
 * The state directories to look in: the one given, else `.` if it has runs, else those with
 * runs one or two levels down (as `memori log` looks).
 */
export function stateDirs(given: string | undefined): string[] {
  if (given !== undefined) return [given];
  if (existsSync(path.join(".", RUNS_FOLDER))) return ["."];
  const found: string[] = [];
  for (const dir of subdirectories(".")) {
    if (existsSync(path.join(dir, RUNS_FOLDER))) found.push(dir);
    else
      for (const inner of subdirectories(dir))
        if (existsSync(path.join(inner, RUNS_FOLDER))) found.push(inner);
  }
  return found;
}

type Listed = { ok: true; ids: Map<string, string> } | { ok: false; failure: RecordFileFailure };

/** The run ids of these state directories, each with its folder. */
function listRuns(dirs: readonly string[]): Listed {
  const ids = new Map<string, string>();
  for (const dir of dirs) {
    const folder = runsFolder(dir);
    let names: string[];
    try {
      names = readdirSync(folder);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return { ok: false, failure: { reason: "no-runs-folder", folder } };
      return {
        ok: false,
        failure: {
          reason: "unreadable-record",
          file: folder,
          detail: `${folder}: ${code ?? (error as Error).message}`,
        },
      };
    }
    for (const name of names) {
      if (name.endsWith(".json") && !name.startsWith(".")) ids.set(name.slice(0, -5), folder);
    }
  }
  return { ok: true, ids };
}

/**
 * The record of run `run` in state directory `dir` (or where {@link stateDirs} looks), or of
 * the newest run when `run` is undefined. Ids sort by start time.
 */
export function findRecord(dir: string | undefined, run: string | undefined): RecordFileResult {
  if (run !== undefined && run.endsWith(".json") && (run.includes("/") || run.includes(path.sep))) {
    return readRecord(run);
  }
  const dirs = stateDirs(dir);
  if (dirs.length === 0) return { ok: false, failure: { reason: "no-runs-found" } };
  const listed = listRuns(dirs);
  if (!listed.ok) return listed;
  const ids = [...listed.ids.keys()].sort();
  const folder = dirs.length === 1 ? runsFolder(dirs[0]!) : dirs.map(runsFolder).join(", ");
  if (ids.length === 0) return { ok: false, failure: { reason: "no-runs", folder } };
  let id: string | undefined;
  if (run === undefined || run === "last") {
    id = ids[ids.length - 1];
  } else if (/^-[1-9]\d*$/.test(run)) {
    id = ids[ids.length + Number(run)];
  } else {
    const wanted = run.endsWith(".json") ? run.slice(0, -".json".length) : run;
    const matches = ids.includes(wanted) ? [wanted] : ids.filter((i) => i.startsWith(wanted));
    if (matches.length > 1) {
      return { ok: false, failure: { reason: "ambiguous-run", folder, run, matches } };
    }
    id = matches[0];
  }
  if (id === undefined) {
    return { ok: false, failure: { reason: "unknown-run", folder, run: run ?? "", known: ids } };
  }
  return readRecord(path.join(listed.ids.get(id)!, `${id}.json`));
}
