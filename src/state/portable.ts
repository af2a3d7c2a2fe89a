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
 *
 * What a call's code found is keyed by the path it found (engine/found.ts): `read:<path>`,
 * `list:<path>`, `link:<path>`; where a path was looked for and nothing was there, a `read:`
 * holds the path, a `link:` holds where the path led (a path, or ""), and `cwd:` the working
 * directory it found them from. Those paths, in keys and values, are stored and read back as
 * entries' are: a copy of the project run with its own root lists its own folders, resolves
 * its own links and reads its own files, never the original's.
 */
import { realpathSync } from "../untracked-fs.js";
import path from "node:path";
import { isFileEntry, mapStored, setOwn, type FileEntry, type Json } from "../hashing/stored.js";

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
export function storedPath(file: string, root: string, found = false): string {
  if (!path.isAbsolute(file)) return file;
  const inside = marked(file, root);
  if (inside !== undefined || !found) return inside ?? file;
  // A root reached through a link (`/lab/study -> /gpfs/...`): what code finds from
  // `import.meta.dirname` or the working directory is under its real path. Only for what it
  // found (`found`): those are looked at again under the reader's root, by their keys, while
  // an argument or a result read back under the root as given would be another path than the
  // code gives now.
  const real = realRoot(root);
  return (real === root ? undefined : marked(file, real)) ?? file;
}

/** `file` marked as inside `root`, or `undefined` when it is not inside it. */
function marked(file: string, root: string): string | undefined {
  const relative = path.relative(root, file);
  if (relative === "") return ROOT_MARK;
  if (relative.startsWith("..") || path.isAbsolute(relative)) return undefined;
  return `${ROOT_MARK}/${relative.split(path.sep).join("/")}`;
}

const realRoots = new Map<string, string>();

/** The real path of a root (itself when it has none: gone, or unreadable), asked once. */
export function realRoot(root: string): string {
  let real = realRoots.get(root);
  if (real === undefined) {
    try {
      real = realpathSync(root);
    } catch {
      real = root;
    }
    realRoots.set(root, real);
  }
  return real;
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
export function toStored<T extends Json>(json: T, root: string | undefined, found = false): T {
  if (root === undefined) return json;
  return mapStored(json, (entry) => withFile(entry, storedPath(entry.file, root, found))) as T;
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

/**
 * The keys of the inputs a call's code found (engine/found.ts `READ_PREFIX`, `LIST_PREFIX`,
 * `LINK_PREFIX`, `CWD_KEY`), each followed by the path it found (none for `cwd:`).
 */
export const FOUND_KEYS: readonly string[] = ["read:", "list:", "link:", "cwd:"];
const LINK = "link:";

/** The part of a key that names what the code found, or `undefined` for another input. */
function foundKind(key: string): string | undefined {
  for (const kind of FOUND_KEYS) if (key.startsWith(kind)) return kind;
  return undefined;
}

/**
 * Inputs as stored: their entries' paths (see {@link toStored}), and the paths of what the
 * code found, in keys and in the plain strings they hold. `marked`: whether one of those was
 * marked (the record's format then says so: record.ts `FOUND_PATHS_FORMAT`).
 */
export function inputsToStored(
  inputs: Record<string, Json>,
  root: string | undefined,
): { inputs: Record<string, Json>; marked: boolean } {
  if (root === undefined) return { inputs, marked: false };
  const out: Record<string, Json> = {};
  let marked = false;
  for (const key of Object.keys(inputs)) {
    const kind = foundKind(key);
    const value = toStored(inputs[key]!, root, kind !== undefined);
    if (kind === undefined) {
      setOwn(out, key, value);
      continue;
    }
    const storedKey = kind + storedPath(key.slice(kind.length), root, true);
    const storedValue = typeof value === "string" ? storedPath(value, root, true) : value;
    marked ||= storedKey !== key || storedValue !== value;
    setOwn(out, storedKey, storedValue);
  }
  return { inputs: out, marked };
}

/**
 * Stored inputs as this process sees them: entries' paths (see {@link fromStored}) and found
 * paths placed under `root`. `writtenUnder`: the root the state was written with, when it is
 * another one than `root` (a copy of the project, a node that mounts it elsewhere): a found
 * path stored absolute and inside it (an older memori did not mark them) is placed under
 * `root` too. Fails with the first path it cannot place (marked, and this process has no
 * root), or one two found inputs would now name (`twice`: the original's folder listed by
 * its absolute path, where a copy now is).
 */
export function inputsFromStored(
  inputs: Record<string, Json>,
  root: string | undefined,
  writtenUnder?: string,
): { ok: true; value: Record<string, Json> } | { ok: false; path: string; twice?: true } {
  const values = fromStored(inputs, root);
  if (!values.ok) return values;
  const place = (file: string): string | undefined =>
    writtenUnder === undefined || file.startsWith(ROOT_MARK)
      ? livePath(file, root)
      : livePath(storedPath(file, writtenUnder), root);
  const out: Record<string, Json> = {};
  for (const key of Object.keys(values.value)) {
    const value = values.value[key]!;
    const kind = foundKind(key);
    if (kind === undefined) {
      setOwn(out, key, value);
      continue;
    }
    const found = place(key.slice(kind.length));
    if (found === undefined) return { ok: false, path: key.slice(kind.length) };
    // Where a link led is a real path (`realpath`): placed under the root's real path.
    const live =
      typeof value !== "string"
        ? value
        : kind === LINK && root !== undefined && value.startsWith(ROOT_MARK)
          ? livePath(value, realRoot(root))
          : place(value);
    if (live === undefined) return { ok: false, path: value as string };
    const liveKey = kind + found;
    if (Object.hasOwn(out, liveKey)) return { ok: false, path: found, twice: true };
    setOwn(out, liveKey, live);
  }
  return { ok: true, value: out };
}

/** The first absolute path among what the code found (keys, and the strings they hold). */
export function absoluteFound(inputs: Record<string, Json>): string | undefined {
  for (const key of Object.keys(inputs)) {
    const kind = foundKind(key);
    if (kind === undefined) continue;
    const value = inputs[key];
    for (const found of [key.slice(kind.length), typeof value === "string" ? value : ""]) {
      if (path.isAbsolute(found)) return found;
    }
  }
  return undefined;
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
