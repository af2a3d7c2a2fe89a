/**
 * What a call's code found without being given it, as its state records it: the files it read
 * (`read:<path>`), the directories it listed (`list:<path>`, `list:<path>/**`), where the
 * symbolic links it resolved point (`link:<path>`), and the working directory it found them
 * from (`cwd:`); and what they are now, for a lookup. Under a pipeline root these paths are
 * stored relative to it and read back under the reader's (state/portable.ts): here they are
 * always the paths this process sees.
 */
import path from "node:path";
import type { Json } from "../hashing/values.js";
import { linkTarget, listingHash } from "../hashing/listing.js";

/** The prefix of a state's inputs that are files the function read without naming them. */
export const READ_PREFIX = "read:";

/** The key of a directory the last run listed: `list:<path as named>` (hashing/listing.ts). */
export const LIST_PREFIX = "list:";

/**
 * The key of a path the last run's code resolved (`readlink`, `realpath`): `link:<path as
 * named>`, holding where it led (`linkTarget`, hashing/listing.ts). What those calls return is
 * a path, not the file's content: a link re-pointed at a file with the same bytes changes what
 * the code got.
 */
export const LINK_PREFIX = "link:";

/** Whether a stored input's key is one of what the code found. */
function isFoundKey(key: string): boolean {
  return key.startsWith(READ_PREFIX) || key.startsWith(LIST_PREFIX) || key.startsWith(LINK_PREFIX);
}

/**
 * The key of the working directory a call with `read:`/`list:` inputs inside it (by absolute
 * paths) ran in. Those are the files and directories its code found, by the paths it made
 * (often from `process.cwd()`): run in another directory (a copy of the project, the project
 * moved), the same code finds other files, and the recorded ones say nothing about them. So the working directory is one of its inputs: another one is `input-changed`
 * (`cwd:`), never a hit on what the old one's files were. Found paths all outside it (an atlas
 * in /opt, FSL's standard images) do not make it one: a copy of the project finds the same.
 */
export const CWD_KEY = "cwd:";

/** The working directory, or "" when it is gone (removed while this process was in it). */
export function workingDirectory(): string {
  try {
    return process.cwd();
  } catch {
    return "";
  }
}

/** Whether stored or current inputs hold files or directories the code found (`read:`, `list:`). */
export function hasFound(inputs: Readonly<Record<string, unknown>>): boolean {
  for (const key in inputs) if (isFoundKey(key)) return true;
  return false;
}

/**
 * Whether the code found a file or directory by an absolute path inside `cwd` (or `cwd`
 * itself): what it would find elsewhere in a copy of the working directory (see CWD_KEY). One
 * found by a relative path is looked at again where it points from the working directory of
 * the moment: it needs none.
 */
export function foundInside(inputs: Readonly<Record<string, unknown>>, cwd: string): boolean {
  for (const key in inputs) {
    const prefix = key.startsWith(READ_PREFIX)
      ? READ_PREFIX
      : key.startsWith(LIST_PREFIX)
        ? LIST_PREFIX
        : key.startsWith(LINK_PREFIX)
          ? LINK_PREFIX
          : undefined;
    if (prefix === undefined) continue;
    const found = key.slice(prefix.length);
    if (path.isAbsolute(found) && (found === cwd || found.startsWith(cwd + path.sep))) return true;
  }
  return false;
}

/** What a state's found inputs are now. */
export interface Found {
  /** The files it read, by key: their paths, to hash with the call's inputs (a path, if gone). */
  reads?: Record<string, string>;
  /**
   * Its listings now (names and kinds, not contents), where the links it resolved lead now, and
   * the working directory now.
   */
  lists?: Record<string, string>;
}

/**
 * What the found inputs among `inputs` are now; listings leave out `skip` (memori's state
 * directories). The working directory only when the state recorded it.
 */
export function foundNow(inputs: Readonly<Record<string, Json>>, skip: readonly string[]): Found {
  let reads: Record<string, string> | undefined;
  let lists: Record<string, string> | undefined;
  for (const key in inputs) {
    if (key.startsWith(READ_PREFIX)) (reads ??= {})[key] = key.slice(READ_PREFIX.length);
    else if (key.startsWith(LIST_PREFIX)) {
      const listed = path.resolve(key.slice(LIST_PREFIX.length));
      (lists ??= {})[key] = listingHash(listed, skip);
    } else if (key.startsWith(LINK_PREFIX)) {
      (lists ??= {})[key] = linkTarget(path.resolve(key.slice(LINK_PREFIX.length)));
    } else if (key === CWD_KEY) (lists ??= {})[key] = workingDirectory();
  }
  const found: Found = {};
  if (reads !== undefined) found.reads = reads;
  if (lists !== undefined) found.lists = lists;
  return found;
}

/** `inputs` without the found ones. */
export function withoutFound(inputs: Readonly<Record<string, Json>>): Record<string, Json> {
  const own: Record<string, Json> = {};
  for (const key in inputs) {
    if (key === CWD_KEY || isFoundKey(key)) continue;
    own[key] = inputs[key]!;
  }
  return own;
}
