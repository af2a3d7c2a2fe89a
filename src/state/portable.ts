/**
 * Paths under the pipeline's root, stored relative to it: state that reads the same on every
 * host that mounts the project, wherever it mounts it (`/lab/study` on the submitting host,
 * `/mnt/lab/study` on a cluster node).
 *
 * The root is `MEMORI_ROOT` (an absolute path; `memori run` sets it to the directory of the
 * pipeline module). A file entry (`{ file, hash }`) whose path is absolute and inside the root
 * is written as `"\u0000root/<path inside it>"`: a path can never hold a NUL, so the mark can
 * never be a real path, and needs no escaping. Reading turns it back into an absolute path
 * under the root of the reading process. Relative paths (resolved against the working
 * directory, as given) and paths outside the root are stored as they are, and compare as
 * they are.
 */
import path from "node:path";
import { isFileEntry, mapStored, type FileEntry, type Json } from "../hashing/stored.js";

/** What a path inside the root starts with, as stored. */
export const ROOT_MARK = "\u0000root";

let given: string | undefined;
let resolved: string | undefined;

/** The pipeline root of this process (`MEMORI_ROOT`, made absolute), or `undefined`. */
export function rootFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const root = env.MEMORI_ROOT;
  if (root === undefined || root === "") return undefined;
  if (root !== given) {
    given = root;
    resolved = path.resolve(root);
  }
  return resolved;
}

/** A path as stored: marked when absolute and inside `root`. */
export function storedPath(file: string, root: string): string {
  if (!path.isAbsolute(file)) return file;
  const relative = path.relative(root, file);
  if (relative === "") return ROOT_MARK;
  if (relative.startsWith("..") || path.isAbsolute(relative)) return file;
  return `${ROOT_MARK}/${relative.split(path.sep).join("/")}`;
}

/** A stored path as this process sees it: `undefined` for a marked one without a root. */
export function livePath(file: string, root: string | undefined): string | undefined {
  if (!file.startsWith(ROOT_MARK)) return file;
  if (root === undefined) return undefined;
  const rest = file.slice(ROOT_MARK.length);
  if (rest === "") return root;
  return path.join(root, ...rest.slice(1).split("/"));
}

/** Whether stored text may hold a marked path (its JSON escape), before parsing anything. */
export function mayHoldMarks(text: Buffer | string): boolean {
  return text.includes("\\u0000root");
}

/** A value with its entries' paths as stored. */
export function toStored<T extends Json>(json: T, root: string | undefined): T {
  if (root === undefined) return json;
  return mapStored(json, (entry) => withFile(entry, storedPath(entry.file, root))) as T;
}

/** The entries' paths as stored, in a written-files list. */
export function entriesToStored(entries: readonly FileEntry[], root: string | undefined) {
  if (root === undefined) return entries;
  return entries.map((e) => withFile(e, storedPath(e.file, root)));
}

/**
 * A stored value with its entries' paths as this process sees them, or the first path it
 * cannot place (marked, and this process has no root).
 */
export function fromStored<T extends Json>(
  json: T,
  root: string | undefined,
): { ok: true; value: T } | { ok: false; path: string } {
  let unplaced: string | undefined;
  const value = mapStored(json, (entry) => {
    const live = livePath(entry.file, root);
    if (live === undefined) {
      unplaced ??= entry.file;
      return entry;
    }
    return live === entry.file ? entry : withFile(entry, live);
  }) as T;
  return unplaced === undefined ? { ok: true, value } : { ok: false, path: unplaced };
}

/** The entries of a written-files list as this process sees them (see {@link fromStored}). */
export function entriesFromStored(
  entries: readonly FileEntry[],
  root: string | undefined,
): { ok: true; value: FileEntry[] } | { ok: false; path: string } {
  const out: FileEntry[] = [];
  for (const entry of entries) {
    const live = livePath(entry.file, root);
    if (live === undefined) return { ok: false, path: entry.file };
    out.push(live === entry.file ? entry : withFile(entry, live));
  }
  return { ok: true, value: out };
}

function withFile(entry: FileEntry, file: string): FileEntry {
  return isFileEntry(entry) ? { file, hash: entry.hash } : entry;
}
