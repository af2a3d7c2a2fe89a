/**
 * Which run record a report is made of: the newest in a state directory's `.memori-runs/`, or
 * the one named (its id, a unique beginning of it, or its file), read and checked. Failures are
 * values, each naming what is wrong and where.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import {
  describeProblem,
  parseRunRecord,
  RUNS_FOLDER,
  type RunRecord,
} from "../records/run-record.js";

/** Why no record could be had. */
export type RecordFileFailure =
  | { reason: "no-runs-folder"; folder: string }
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

/**
 * The record of run `run` (an id, a unique beginning of one, or a `.json` file's path) in
 * state directory `dir`, or of its newest run when `run` is undefined. Ids sort by start time.
 */
export function findRecord(dir: string, run: string | undefined): RecordFileResult {
  if (run !== undefined && run.endsWith(".json") && (run.includes("/") || run.includes(path.sep))) {
    return readRecord(run);
  }
  const folder = runsFolder(dir);
  let names: string[];
  try {
    names = readdirSync(folder);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      return { ok: false, failure: { reason: "no-runs-folder", folder } };
    }
    return {
      ok: false,
      failure: {
        reason: "unreadable-record",
        file: folder,
        detail: `${folder}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      },
    };
  }
  const ids = names
    .filter((n) => n.endsWith(".json") && !n.startsWith("."))
    .map((n) => n.slice(0, -".json".length))
    .sort();
  if (ids.length === 0) return { ok: false, failure: { reason: "no-runs", folder } };
  let id: string;
  if (run === undefined) {
    id = ids[ids.length - 1]!;
  } else {
    const wanted = run.endsWith(".json") ? run.slice(0, -".json".length) : run;
    const matches = ids.includes(wanted) ? [wanted] : ids.filter((i) => i.startsWith(wanted));
    if (matches.length === 0) {
      return { ok: false, failure: { reason: "unknown-run", folder, run, known: ids } };
    }
    if (matches.length > 1) {
      return { ok: false, failure: { reason: "ambiguous-run", folder, run, matches } };
    }
    id = matches[0]!;
  }
  return readRecord(path.join(folder, `${id}.json`));
}
