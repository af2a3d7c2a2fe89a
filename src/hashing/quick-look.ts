/**
 * A tree's quick look, the first thing hashing a directory again does: GNU find's walk of a
 * large tree (tree.ts `findDigest`, following links at once when the tree had links), or this
 * process's listing of a small one; which one a tree gets, by what was recorded of it; and the
 * identity each gives, which a state records (`.files`) and the next look compares.
 *
 * Identities: `tree:<rule key>:find:<digest>` (find's walk), `tree:<rule key>:find-links:<digest>`
 * (find's walk of a tree that had links, walked following them), `tree:<rule key>:node:<n>:<digest>`
 * (this process's listing of `n` entries).
 */
import type { Dirent } from "node:fs";
import path from "node:path";
import { readdirSync } from "../untracked-fs.js";
import type { FindLook } from "./tree.js";

/**
 * From how many entries a tree's quick look is GNU find's walk: starting `sh`, `find` and
 * `sha256sum` costs about 5 ms, more than listing a few hundred entries here (1 ms for 100);
 * find's walk costs about half of Node's from a few thousand on.
 */
export const FIND_FROM = 2000;

/**
 * An identity taken from GNU find's walk (`tree:<rule key>:find:<digest>`; `find-links:` for a
 * tree that had links, walked following them: the next look follows them at once).
 */
const FOUND_BY_FIND = /^tree:[0-9a-f]*:find(-links)?:/;
/** One taken from this process's listing, with its count of entries (`tree:<key>:node:<n>:<digest>`). */
const LISTED = /^tree:[0-9a-f]*:node:(\d+):/;

/** How a tree's quick look is taken. */
export type QuickLook = "list" | "find" | "find-links";

/**
 * How the quick look of `dir` is taken, by its `recorded` identity (in a scope, in this process,
 * or beside a state): GNU find's walk when it is find's (following links at once when the tree
 * had links), or a listing's of {@link FIND_FROM} entries or more; for a tree never recorded,
 * when it holds that many. Otherwise this process lists it.
 */
export function quickLookFor(dir: string, recorded: string | undefined): QuickLook {
  if (recorded === undefined || recorded === "") {
    return holdsAtLeast(dir, FIND_FROM) ? "find" : "list";
  }
  const byFind = FOUND_BY_FIND.exec(recorded);
  if (byFind !== null) return byFind[1] === undefined ? "find" : "find-links";
  const listed = LISTED.exec(recorded);
  return listed !== null && Number(listed[1]) >= FIND_FROM ? "find" : "list";
}

/** The identity of a tree GNU find walked. */
export function foundIdentity(key: string, found: FindLook): string {
  return `tree:${key}:${found.links ? "find-links" : "find"}:${found.digest}`;
}

/** The identity of a tree this process listed: its entries' count and stat digest. */
export function listedIdentity(key: string, entries: number, statDigest: string): string {
  return `tree:${key}:node:${entries}:${statDigest}`;
}

/**
 * Whether the tree at `dir` holds at least `enough` entries, counted three levels down (links
 * not followed; at most `enough` entries listed): a guess of its size, for a tree never
 * recorded.
 */
function holdsAtLeast(dir: string, enough: number): boolean {
  let count = 0;
  const large = (at: string, level: number): boolean => {
    let entries: Dirent[];
    try {
      entries = readdirSync(at, { withFileTypes: true });
    } catch {
      return false;
    }
    count += entries.length;
    if (count >= enough) return true;
    if (level < 3) {
      for (const entry of entries) {
        if (entry.isDirectory() && large(path.join(at, entry.name), level + 1)) return true;
      }
    }
    return false;
  };
  return large(dir, 1);
}
