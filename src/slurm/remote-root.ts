/**
 * The project as a job's node sees it: a cluster node may mount the project at another path
 * than the submitting host (`/lab/study` here, `/mnt/lab/study` there). Every path the
 * executor hands a job (its module, job file, result file, working directory, log files, the
 * inputs and parameters) is given as the node sees it, and every path a job hands back (what
 * the function returned, the files it wrote and opened) as this host sees it. Paths outside the
 * root are the same on both sides and pass unchanged; so do relative ones (a job runs in the
 * working directory as its node sees it).
 */
import path from "node:path";
import type { Json } from "../hashing/values.js";
import type { JobResult } from "./job-file.js";

/** The project's root here, and where the jobs' nodes see it. */
export interface RootPair {
  /** Absolute, as this host sees it. */
  readonly local: string;
  /** Absolute, as the nodes see it. */
  readonly remote: string;
}

/** `file` under `from`, placed under `to` instead; any other path as it is. */
function moved(file: string, from: string, to: string): string {
  if (!path.isAbsolute(file)) return file;
  const relative = path.relative(from, file);
  if (relative === "") return to;
  if (relative.startsWith("..") || path.isAbsolute(relative)) return file;
  return path.join(to, relative);
}

/** A path of this host as the nodes see it. */
export function toRemote(file: string, roots: RootPair | undefined): string {
  return roots === undefined ? file : moved(file, roots.local, roots.remote);
}

/** A path as the nodes see it, as this host sees it. */
export function toLocal(file: string, roots: RootPair | undefined): string {
  return roots === undefined ? file : moved(file, roots.remote, roots.local);
}

/**
 * An encoded value with each string that is an absolute path under one root placed under the
 * other (a string is a path if it is one: values are not told apart from file names, as
 * anywhere in memori's state). Keys are left alone.
 */
export function mapPaths(json: Json, place: (file: string) => string): Json {
  if (typeof json === "string") return place(json);
  if (Array.isArray(json)) return json.map((item) => mapPaths(item, place));
  if (json === null || typeof json !== "object") return json;
  const out: Record<string, Json> = {};
  for (const [key, value] of Object.entries(json)) out[key] = mapPaths(value, place);
  return out;
}

/** A job's result with the paths it names as this host sees them. */
export function resultHere(result: JobResult, roots: RootPair | undefined): JobResult {
  if (roots === undefined || !result.ok) return result;
  const here = (file: string) => toLocal(file, roots);
  const { access } = result;
  return {
    ...result,
    returned: mapPaths(result.returned, here),
    files: result.files.map((file) => ({ ...file, path: here(file.path) })),
    access: {
      ...access,
      cwd: here(access.cwd),
      reads: access.reads.map(here),
      writes: access.writes.map(here),
      ...(access.lists === undefined ? {} : { lists: access.lists.map(here) }),
      ...(access.listed === undefined ? {} : { listed: keysHere(access.listed, here, false) }),
      ...(access.links === undefined ? {} : { links: keysHere(access.links, here, true) }),
    },
  };
}

/** A map by path with its keys (and, with `values`, its values, paths too) placed by `here`. */
function keysHere(
  map: Readonly<Record<string, string>>,
  here: (file: string) => string,
  values: boolean,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(map)) {
    out[here(key)] = values && value !== "" ? here(value) : value;
  }
  return out;
}
