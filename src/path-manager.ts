/**
 * File-name manipulation for neuroimaging pipelines: prefixes (the name before the first
 * extension dot) and BIDS-style `_suffix`es. Suffix operations act on the file name only;
 * underscores in directory names are never touched.
 */
import path from "node:path";
import { MemoriError, describe } from "./errors.js";

function checkPath(value: unknown, what = "path"): string {
  if (typeof value !== "string" || value.length === 0) {
    throw new MemoriError("invalid-argument", `expected a ${what} string, got ${describe(value)}.`);
  }
  return value;
}

function checkSuffix(suffix: unknown): string {
  if (typeof suffix !== "string" || suffix.length === 0) {
    throw new MemoriError(
      "invalid-argument",
      `expected a suffix such as "_brain", got ${describe(suffix)}.`,
    );
  }
  if (suffix.includes("/") || suffix.includes("\0")) {
    throw new MemoriError(
      "invalid-argument",
      `the suffix ${JSON.stringify(suffix)} must not contain "/" or NUL.`,
    );
  }
  return suffix;
}

/** What an extension looks like: `.gz`, `.nii`, `.json`, `.BRIK`; not `.01_T1w`. */
const EXTENSION = /^[A-Za-z0-9]{1,8}$/;

/**
 * Split a file name into its prefix and its extensions (`.nii.gz`); a leading dot is kept.
 * Extensions are the trailing dot-parts that look like extensions (letters and digits, at most
 * 8), so a dot inside a BIDS entity (`sub.01_T1w.nii.gz`) stays in the prefix.
 */
function splitName(name: string): { prefix: string; extensions: string } {
  const leading = name.match(/^\.+/)?.[0] ?? "";
  const rest = name.slice(leading.length);
  let cut = rest.length;
  for (let dot = rest.lastIndexOf(".", cut - 1); dot > 0; dot = rest.lastIndexOf(".", cut - 1)) {
    if (!EXTENSION.test(rest.slice(dot + 1, cut))) break;
    cut = dot;
  }
  return { prefix: leading + rest.slice(0, cut), extensions: rest.slice(cut) };
}

function rebuild(
  file: string,
  transform: (prefix: string) => string,
  keepExtensions = true,
): string {
  const dir = path.dirname(file);
  const { prefix, extensions } = splitName(path.basename(file));
  const name = transform(prefix) + (keepExtensions ? extensions : "");
  return dir === "." && !file.startsWith("./") ? name : path.join(dir, name);
}

/**
 * The file name without directory and extensions.
 * @example getPrefix("/a/b/c.nii.gz") // "c"
 */
export function getPrefix(file: string): string {
  return splitName(path.basename(checkPath(file))).prefix;
}

/**
 * The path without the extensions.
 * @example getPathAndPrefix("/a/b/c.nii.gz") // "/a/b/c"
 */
export function getPathAndPrefix(file: string): string {
  return rebuild(checkPath(file), (prefix) => prefix, false);
}

/**
 * Append a suffix to the file name, before its extensions.
 * @example appendSuffix("/my_dir/sub-01_T1w.nii.gz", "_brain") // "/my_dir/sub-01_T1w_brain.nii.gz"
 */
export function appendSuffix(file: string, suffix: string): string {
  const s = checkSuffix(suffix);
  return rebuild(checkPath(file), (prefix) => prefix + s);
}

/**
 * Replace the file name's last `_suffix`; a name without one gets the suffix appended.
 * @example replaceSuffix("/d/sub-01_T1w.nii.gz", "_bold") // "/d/sub-01_bold.nii.gz"
 */
export function replaceSuffix(file: string, suffix: string): string {
  const s = checkSuffix(suffix);
  return rebuild(checkPath(file), (prefix) => withoutSuffix(prefix) + s);
}

/**
 * Delete the file name's last `_suffix`, if it has one.
 * @example deleteSuffix("/my_dir/sub-01_T1w.nii.gz") // "/my_dir/sub-01.nii.gz"
 */
export function deleteSuffix(file: string): string {
  return rebuild(checkPath(file), withoutSuffix);
}

function withoutSuffix(prefix: string): string {
  const cut = prefix.lastIndexOf("_");
  return cut <= 0 ? prefix : prefix.slice(0, cut);
}

/**
 * Move a file name to another directory. The directory comes first, as in Python memori's
 * `repath(dirname, filename)`.
 * @example repath("/new", "/a/b/c.nii.gz") // "/new/c.nii.gz"
 */
export function repath(dirname: string, filename: string): string {
  return path.join(checkPath(dirname, "directory"), path.basename(checkPath(filename)));
}

/**
 * A path with chainable operations; each returns a new PathManager.
 * @example
 * ```ts
 * new PathManager("/data/sub-01_T1w.nii.gz").repath("/out").appendSuffix("_brain").path
 * // "/out/sub-01_T1w_brain.nii.gz"
 * ```
 */
export class PathManager {
  /** The path, as a string. */
  readonly path: string;

  constructor(file: string | PathManager) {
    this.path = checkPath(file instanceof PathManager ? file.path : file);
  }

  /** The file name without directory and extensions. */
  getPrefix(): PathManager {
    return new PathManager(getPrefix(this.path));
  }

  /** The path without the extensions. */
  getPathAndPrefix(): PathManager {
    return new PathManager(getPathAndPrefix(this.path));
  }

  /** Append a `_suffix` before the extensions. */
  appendSuffix(suffix: string): PathManager {
    return new PathManager(appendSuffix(this.path, suffix));
  }

  /** Replace the last `_suffix`. */
  replaceSuffix(suffix: string): PathManager {
    return new PathManager(replaceSuffix(this.path, suffix));
  }

  /** Delete the last `_suffix`. */
  deleteSuffix(): PathManager {
    return new PathManager(deleteSuffix(this.path));
  }

  /** Move to another directory. */
  repath(dir: string): PathManager {
    return new PathManager(repath(dir, this.path));
  }

  /** The path, so a `PathManager` can stand in a template string: `` `${pm}` ``. */
  toString(): string {
    return this.path;
  }
}
