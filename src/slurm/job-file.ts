/**
 * The two files between the SLURM executor and `memori run-stage`, in a job's directory: the
 * job file (what to run: the module, its export and parameters, the stage, the map element,
 * the bound inputs, the submitter's code identity) and the result file (what the call
 * returned and the files that names, or why it did not run). Both are JSON, written whole or
 * not at all (a temporary file renamed); values go through memori's value codec, files as
 * their paths. A result echoes its job file's random token: a result written for another job
 * file (a directory used again) is never taken for this one's.
 */
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import type { FileAccess } from "../call-signal.js";
import { codeOf, describe, messageOf } from "../errors.js";
import type { CodeIdentity } from "../hashing/hashable.js";
import { walkStored, type Json } from "../hashing/values.js";
import { writeFileAtomic } from "../state/atomic.js";

/** The version of both files; a reader refuses another. */
export const JOB_FORMAT = 1 as const;

/** What a job runs: one call of one stage of a module's pipeline. */
export interface JobSpec {
  readonly format: typeof JOB_FORMAT;
  /** Random; the result echoes it. */
  readonly token: string;
  /** The module's absolute path. */
  readonly module: string;
  /** The export holding the pipeline (or the stage); `null`: the default export. */
  readonly exportName: string | null;
  /** The parameter values the pipeline is made with (encoded), as the submitter had them. */
  readonly params: Record<string, Json>;
  readonly stage: string;
  /** The map element's label; `null` for a stage's one call. */
  readonly element: string | null;
  readonly attempt: number;
  /** The bound arguments, by parameter name (encoded; files as their paths). */
  readonly inputs: Record<string, Json>;
  /**
   * The environment variables the call's state records (`env:NAME` inputs), as the submitter
   * had them (`null`: unset): the job runs with them, whatever environment sbatch gave it.
   * Absent from a job file of an earlier memori.
   */
  readonly env?: Readonly<Record<string, string | null>>;
  /**
   * The submitter's code identity of the stage, and how it was taken: with the stage's own
   * policy (`codeVersion`, `ignoreCode`: the fingerprint's), or automatically (a stage that is
   * not memoized has no fingerprint).
   */
  readonly code: { readonly policy: "stage" | "automatic"; readonly identity: CodeIdentity };
  /** Where `memori run-stage` writes the result (absolute). */
  readonly result: string;
  /** Who submitted it, for messages. */
  readonly submitter: { readonly host: string; readonly pid: number; readonly cwd: string };
}

/** A file the returned value names, as the job left it: its size, or `null` for a directory. */
export interface ResultFile {
  /** Absolute. */
  readonly path: string;
  readonly size: number | null;
}

/**
 * The files the call's code opened on the node, as `FileAccess` has them (read-tracking.ts):
 * named as the code named them, relative ones relative to `cwd`.
 */
export interface JobAccess {
  readonly cwd: string;
  readonly reads: readonly string[];
  readonly writes: readonly string[];
  /** The directories it listed (absent from a job of an earlier memori: none seen). */
  readonly lists?: readonly string[];
  /**
   * Each directory its JavaScript listed, as it listed it (its listing's hash, `FileAccess`
   * `listed`), by the name in `lists`: what the call saw, whatever changed there since.
   */
  readonly listed?: Readonly<Record<string, string>>;
  /**
   * Where each path its JavaScript resolved (`readlink`, `realpath`) led when it did (its real
   * path, "" for nowhere), by the name in `reads` (`FileAccess` `links`).
   */
  readonly links?: Readonly<Record<string, string>>;
  /** It started processes whose files are not seen (why, if known). */
  readonly untraced: boolean | string;
}

/** Why `memori run-stage` brought no value back. */
export type RunStageFailure = "stage-failed" | "refused";

/** What `memori run-stage` writes. */
export type JobResult = {
  readonly format: typeof JOB_FORMAT;
  readonly token: string;
  /** The node it ran on. */
  readonly host: string;
} & (
  | {
      readonly ok: true;
      /** What the function returned (encoded). */
      readonly returned: Json;
      /** The files it names and the files the call wrote: the submitter waits for them. */
      readonly files: readonly ResultFile[];
      readonly access: JobAccess;
      /** How long the function took. */
      readonly ms: number;
    }
  | { readonly ok: false; readonly reason: RunStageFailure; readonly message: string }
);

/** A job file or result read back, or why it cannot be used. */
export type Read<T> = { ok: true; value: T } | { ok: false; missing: boolean; message: string };

/** The job file and result file in a job's directory. */
export function jobFiles(dir: string): { readonly job: string; readonly result: string } {
  return { job: path.join(dir, "job.json"), result: path.join(dir, "result.json") };
}

/** Write a job file or a result, whole or not at all. */
export async function writeJobJson(file: string, value: JobSpec | JobResult): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(value, null, 1)}\n`);
}

async function readJson(file: string, what: string): Promise<Read<Record<string, unknown>>> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    const missing = codeOf(error) === "ENOENT";
    const why = missing ? "it does not exist" : messageOf(error);
    return { ok: false, missing, message: `the ${what} ${file} cannot be read: ${why}` };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return {
      ok: false,
      missing: false,
      message: `the ${what} ${file} is not JSON: ${messageOf(error)}`,
    };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, missing: false, message: `the ${what} ${file} holds ${describe(value)}` };
  }
  const record = value as Record<string, unknown>;
  if (record.format !== JOB_FORMAT) {
    return {
      ok: false,
      missing: false,
      message: `the ${what} ${file} has format ${describe(record.format)}; this memori reads format ${JOB_FORMAT}`,
    };
  }
  return { ok: true, value: record };
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** The first field of a job file that is not what it should be, if any. */
function badField(job: Record<string, unknown>): string | undefined {
  const checks: [string, (value: unknown) => boolean][] = [
    ["token", (v) => typeof v === "string" && v !== ""],
    ["module", (v) => typeof v === "string" && path.isAbsolute(v)],
    ["exportName", (v) => v === null || (typeof v === "string" && v !== "")],
    ["params", isObject],
    ["stage", (v) => typeof v === "string" && v !== ""],
    ["element", (v) => v === null || typeof v === "string"],
    ["attempt", (v) => Number.isSafeInteger(v) && (v as number) >= 1],
    ["inputs", isObject],
    [
      "code",
      (v) =>
        isObject(v) &&
        (v.policy === "stage" || v.policy === "automatic") &&
        isObject(v.identity) &&
        typeof v.identity.hash === "string",
    ],
    ["result", (v) => typeof v === "string" && path.isAbsolute(v)],
    ["submitter", isObject],
    [
      "env",
      (v) =>
        v === undefined ||
        (isObject(v) && Object.values(v).every((x) => x === null || typeof x === "string")),
    ],
  ];
  return checks.find(([key, check]) => !check(job[key]))?.[0];
}

/** Read a job file (`memori run-stage`), checked field by field. */
export async function readJobSpec(file: string): Promise<Read<JobSpec>> {
  const read = await readJson(file, "job file");
  if (!read.ok) return read;
  const bad = badField(read.value);
  if (bad !== undefined) {
    return {
      ok: false,
      missing: false,
      message: `the job file ${file} has no valid \`${bad}\` (got ${describe(read.value[bad])}): it was not written by memori's SLURM executor`,
    };
  }
  return { ok: true, value: read.value as unknown as JobSpec };
}

/** Read the result of the job whose file holds `token` (the submitter, after the job ended). */
export async function readJobResult(file: string, token: string): Promise<Read<JobResult>> {
  const read = await readJson(file, "result file");
  if (!read.ok) return read;
  const result = read.value;
  const invalid = (why: string): Read<JobResult> => ({
    ok: false,
    missing: false,
    message: `the result file ${file} ${why}`,
  });
  if (result.token !== token) {
    return invalid(
      "answers another job file (its token differs): another submission used this job directory",
    );
  }
  if (result.ok === true) {
    const { files, access } = result;
    const strings = (list: unknown) =>
      Array.isArray(list) && list.every((item) => typeof item === "string");
    const stringValues = (map: unknown) =>
      isObject(map) && Object.values(map).every((item) => typeof item === "string");
    const fine =
      "returned" in result &&
      isObject(access) &&
      typeof access.cwd === "string" &&
      strings(access.reads) &&
      strings(access.writes) &&
      (access.lists === undefined || strings(access.lists)) &&
      (access.listed === undefined || stringValues(access.listed)) &&
      (access.links === undefined || stringValues(access.links)) &&
      (typeof access.untraced === "boolean" || typeof access.untraced === "string") &&
      Array.isArray(files) &&
      files.every(
        (f: unknown) =>
          isObject(f) &&
          typeof f.path === "string" &&
          (f.size === null || (Number.isSafeInteger(f.size) && (f.size as number) >= 0)),
      );
    if (!fine) return invalid("is malformed (no `returned`, or bad `files` or `access`)");
  } else if (
    result.ok !== false ||
    (result.reason !== "stage-failed" && result.reason !== "refused") ||
    typeof result.message !== "string"
  ) {
    return invalid("is malformed (neither a value nor a failure)");
  }
  return { ok: true, value: result as unknown as JobResult };
}

/**
 * The files and directories an encoded value names (each string in it, keys aside), and the
 * files in `also`, that exist: absolute (relative ones relative to `cwd`), with their sizes
 * (`null` for a directory), each once.
 */
export async function namedFiles(
  json: Json,
  cwd: string,
  also: Iterable<string> = [],
): Promise<ResultFile[]> {
  const strings = new Set<string>();
  walkStored(
    json,
    () => undefined,
    (value) => {
      if (value !== "" && value.length <= 4096 && !value.includes("\0")) strings.add(value);
    },
  );
  for (const file of also) strings.add(file);
  const found: ResultFile[] = [];
  const seen = new Set<string>();
  for (const value of strings) {
    const file = path.resolve(cwd, value);
    if (seen.has(file)) continue;
    seen.add(file);
    try {
      const info = await stat(file);
      if (info.isFile()) found.push({ path: file, size: info.size });
      else if (info.isDirectory()) found.push({ path: file, size: null });
    } catch {
      // not a path, or nothing there
    }
  }
  return found;
}

/** A directory name for a map element's label: `sub-07`, or the label with odd characters as `_`. */
export function elementDir(label: string): string {
  const safe = label.replace(/[^\w.,=@+-]/g, "_").slice(0, 100);
  return safe.startsWith(".") ? `_${safe}` : safe;
}

/**
 * Tell the engine the files the call opened on the node (recorded there as the in-process
 * executor records them), as named from this process's working directory.
 */
export function addOpened(access: FileAccess, there: JobAccess): void {
  const same = path.resolve(there.cwd) === path.resolve(access.cwd);
  const named = (file: string) =>
    same || path.isAbsolute(file) ? file : path.resolve(there.cwd, file);
  for (const file of there.reads) access.reads.add(named(file));
  for (const file of there.writes) access.writes.add(named(file));
  for (const dir of there.lists ?? []) access.lists.add(named(dir));
  // What the job's code saw of the folders it listed and where the paths it resolved led, as
  // the engine records them for a call run here: not as they are when this host commits.
  for (const [dir, listing] of Object.entries(there.listed ?? {})) {
    if (!access.listed.has(named(dir))) access.listed.set(named(dir), listing);
  }
  for (const [file, real] of Object.entries(there.links ?? {})) {
    if (!access.links.has(named(file))) access.links.set(named(file), real);
  }
  access.untraced = there.untraced;
}
