/**
 * A directory's listing as an input: what a call that listed a directory found there (each
 * entry's name and kind), not the entries' contents. A stage that lists `inbox/` to find its
 * subjects runs again when a subject is added, removed or renamed; the files it then reads
 * count through their own contents (`read:` inputs).
 */
import type { Dirent } from "node:fs";
import path from "node:path";
import { RECURSIVE } from "../call-signal.js";
import { readdirSync, realpathSync } from "../untracked-fs.js";
import { sha256 } from "./files.js";
import { BOOKKEEPING } from "./bookkeeping.js";

/**
 * Where `file` leads, all its symbolic links followed (its real path), or "" when it leads
 * nowhere: what a call that resolved it (`readlink`, `realpath`) found, as an input
 * (engine/found.ts, `link:`).
 */
export function linkTarget(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return "";
  }
}

/** What a listing is recorded as when the directory is not there (or cannot be listed). */
export const NO_LISTING = "no listing";

export { RECURSIVE } from "../call-signal.js";

/** The directory a listing's path names: itself, or for a recursive one (`/**`), its top. */
export function listedDirectory(dir: string): string {
  return dir.endsWith(RECURSIVE) ? dir.slice(0, -RECURSIVE.length) || "/" : dir;
}

function kindOf(entry: Dirent): string {
  return entry.isDirectory() ? "d" : entry.isFile() ? "f" : entry.isSymbolicLink() ? "l" : "o";
}

/**
 * The SHA-256 of a directory's sorted entries (`d name`, `f name`, `l name` for a symbolic
 * link, `o name` for anything else), prefixed `listing:`; {@link NO_LISTING} without one. A
 * path ending in {@link RECURSIVE} lists everything below the directory (`d sub/dir`, `f
 * sub/dir/file`; symbolic links not followed, as `readdir` does not), except below `skip`
 * (memori's state directories: what a call lists there is not its input).
 */
export function listingHash(dir: string, skip: readonly string[] = []): string {
  const recursive = dir.endsWith(RECURSIVE);
  const top = listedDirectory(dir);
  const lines: string[] = [];
  try {
    for (const entry of readdirSync(top, { withFileTypes: true })) {
      if (!BOOKKEEPING.has(entry.name)) lines.push(`${kindOf(entry)} ${entry.name}`);
    }
  } catch {
    return NO_LISTING;
  }
  if (recursive) {
    // Breadth first, each directory's entries by their path inside `top`.
    const pending = lines.filter((l) => l.startsWith("d ")).map((l) => l.slice(2));
    while (pending.length > 0) {
      const inside = pending.pop()!;
      const absolute = path.join(top, inside);
      if (skip.includes(absolute)) continue;
      let entries: Dirent[];
      try {
        entries = readdirSync(absolute, { withFileTypes: true });
      } catch {
        lines.push(`? ${inside}`); // there, but not listable: as such
        continue;
      }
      for (const entry of entries) {
        if (BOOKKEEPING.has(entry.name)) continue;
        const relative = `${inside}/${entry.name}`;
        const kind = kindOf(entry);
        lines.push(`${kind} ${relative}`);
        if (kind === "d") pending.push(relative);
      }
    }
  }
  lines.sort((a, b) => {
    const x = a.slice(2);
    const y = b.slice(2);
    return x < y ? -1 : x > y ? 1 : 0;
  });
  return `listing:${sha256(lines.join("\n"))}`;
}
