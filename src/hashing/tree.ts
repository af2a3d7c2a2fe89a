/**
 * A directory as a list of its entries: what a directory argument or output is hashed by.
 *
 * The walk is synchronous (one `lstat` per entry, nothing read): on a tree of 100,000 files a
 * thread-pool round trip per entry would cost several times the `stat` itself. Entries come in
 * a fixed order (names sorted by code unit, depth first), with paths relative to the root and
 * `/` as separator, so the same tree lists the same on any machine and under any path.
 */
import { readlinkSync, realpathSync, type Stats } from "node:fs";
import { lstatSync, readdirSync, statSync } from "../untracked-fs.js";
import path from "node:path";
import { childProcess, crypto } from "../lazy-modules.js";
import { BOOKKEEPING } from "./bookkeeping.js";

/**
 * What an entry is: `f` a regular file, `l` a symbolic link to a file (both hashed by content),
 * `d` a directory, `D` a symbolic link to a directory (walked), `m` a link whose target is
 * missing, `c` a link back to a directory it is inside (a cycle, not walked), `o` anything
 * else (a FIFO, a socket, a device: never opened), `u` a directory that cannot be listed.
 */
export type EntryKind = "f" | "l" | "d" | "D" | "m" | "c" | "o" | "u";

/** One entry of a tree. */
export interface TreeEntry {
  /** Path relative to the root, with `/` separators. */
  readonly rel: string;
  readonly kind: EntryKind;
  /**
   * For `f` and `l`: the stat identity of the file's content (changes whenever the content
   * can have changed). For `m` and `c`: the link's target. Empty otherwise.
   */
  readonly identity: string;
  /** For `f` and `l`: when the content last changed (ms), for the racy-window rule. */
  readonly changedMs: number;
  /** For `f` and `l`: the size in bytes. */
  readonly size?: number;
}

/** A listed tree. */
export interface TreeListing {
  readonly entries: TreeEntry[];
  /** SHA-256 of every entry's path, kind and identity: equal listings have equal digests. */
  readonly statDigest: string;
}

/** A file's identity from (non-bigint) stats: device, inode, size, mtime and ctime. */
export function identityOf(s: Stats): string {
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
}

function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * List a directory tree, leaving out the relative paths `ignored` says (files or whole
 * directories) and the directories whose real paths are `skipped`. Throws only if `root`
 * itself cannot be listed.
 */
export function listTree(
  root: string,
  ignored?: (rel: string) => boolean,
  skipped?: ReadonlySet<string>,
): TreeListing {
  const entries: TreeEntry[] = [];
  const digest = crypto().createHash("sha256");
  let chunk = "";
  const add = (entry: TreeEntry) => {
    entries.push(entry);
    chunk += `${entry.kind}\0${entry.rel}\0${entry.identity}\n`;
    if (chunk.length > 65536) {
      digest.update(chunk);
      chunk = "";
    }
  };
  // Real paths of the directories being walked: a link to one of them is a cycle.
  const walking = new Set<string>();
  const walk = (dir: string, rel: string, real: string) => {
    walking.add(real);
    const names = readdirSync(dir).sort(byCodeUnit);
    for (const name of names) {
      if (BOOKKEEPING.has(name)) continue;
      const full = `${dir}${path.sep}${name}`;
      const relative = rel === "" ? name : `${rel}/${name}`;
      if (ignored?.(relative)) continue;
      let s: Stats;
      try {
        s = lstatSync(full);
      } catch {
        continue; // gone since the listing
      }
      if (s.isFile()) {
        add({
          rel: relative,
          kind: "f",
          identity: identityOf(s),
          changedMs: changed(s),
          size: s.size,
        });
      } else if (s.isDirectory()) {
        descend(full, relative, full, "d");
      } else if (s.isSymbolicLink()) {
        const target = statSync(full, { throwIfNoEntry: false });
        if (target === undefined) {
          add({ rel: relative, kind: "m", identity: readlink(full), changedMs: 0 });
        } else if (target.isFile()) {
          add({
            rel: relative,
            kind: "l",
            identity: identityOf(target),
            changedMs: changed(target),
          });
        } else if (target.isDirectory()) {
          const resolved = realpath(full);
          if (resolved === undefined || walking.has(resolved))
            add({ rel: relative, kind: "c", identity: readlink(full), changedMs: 0 });
          else descend(full, relative, resolved, "D");
        } else {
          add({ rel: relative, kind: "o", identity: "", changedMs: 0 });
        }
      } else {
        add({ rel: relative, kind: "o", identity: "", changedMs: 0 });
      }
    }
    walking.delete(real);
  };
  const descend = (full: string, relative: string, real: string, kind: "d" | "D") => {
    const actual = kind === "d" ? (realpath(full) ?? full) : real;
    // A directory left out wherever it is reached from (memori's state, through a link too).
    if (skipped?.has(actual)) return;
    add({ rel: relative, kind, identity: "", changedMs: 0 });
    try {
      walk(full, relative, actual);
    } catch {
      add({ rel: relative, kind: "u", identity: "", changedMs: 0 });
    }
  };
  walk(root, "", realpath(root) ?? root);
  digest.update(chunk);
  return { entries, statDigest: digest.digest("hex") };
}

function changed(s: Stats): number {
  return Math.max(s.mtimeMs, s.ctimeMs);
}

function readlink(full: string): string {
  try {
    return readlinkSync(full);
  } catch {
    return "";
  }
}

function realpath(full: string): string | undefined {
  try {
    return realpathSync(full);
  } catch {
    return undefined;
  }
}

/**
 * The hash of a tree from its entries and the content hashes of its files (by relative path):
 * one SHA-256 over every entry's kind, path and content. Stat identities do not count, so a
 * copied or moved tree with the same content has the same hash.
 */
export function treeHash(
  entries: readonly TreeEntry[],
  hashes: ReadonlyMap<string, string>,
): string {
  const digest = crypto().createHash("sha256");
  digest.update("memori-tree-1\n");
  let chunk = "";
  for (const entry of entries) {
    const content =
      entry.kind === "f" || entry.kind === "l"
        ? (hashes.get(entry.rel) ?? "")
        : entry.kind === "m" || entry.kind === "c"
          ? entry.identity
          : "";
    chunk += `${entry.kind}\0${entry.rel}\0${content}\n`;
    if (chunk.length > 65536) {
      digest.update(chunk);
      chunk = "";
    }
  }
  digest.update(chunk);
  return digest.digest("hex");
}

/** How one tree's content differs from an earlier one: up to `limit` paths, first one first. */
export function treeChanges(
  before: ReadonlyMap<string, string>,
  after: ReadonlyMap<string, string>,
  limit = 3,
): string[] {
  const out: string[] = [];
  for (const [rel, hash] of after) {
    if (out.length >= limit) return out;
    const old = before.get(rel);
    if (old === undefined) out.push(`${rel} added`);
    else if (old !== hash) out.push(`${rel} changed`);
  }
  for (const rel of before.keys()) {
    if (out.length >= limit) return out;
    if (!after.has(rel)) out.push(`${rel} removed`);
  }
  return out;
}

let findWorks = process.platform !== "win32";

/** sha256sum of nothing: what a find that listed nothing (it failed) gives. */
const EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** A tree as GNU find saw it: its digest, and whether it had links (walked following them). */
export interface FindLook {
  readonly digest: string;
  readonly links: boolean;
}

/**
 * A digest of every entry's type, path and stat identity (links followed), from GNU find: it
 * walks and stats a large tree in about half the time Node's `lstatSync` loop takes. Changes
 * whenever a listing's `statDigest` would (and when directories' times change). `undefined`
 * where GNU find is missing or the walk reports a problem (a loop, an unreadable directory):
 * then the listing decides.
 *
 * A tree with no symbolic link in it is walked without following links (`find -H`): the same
 * entries, stats and digest as following them (`-L`), which makes find stat each entry by its
 * whole path, about an eighth slower on a large tree. The first link that walk meets ends it
 * with an error (writing to `/dev/full`), as any problem it meets does, and the tree is walked
 * again following links, as before: that walk decides. A tree known to have links
 * (`followAtOnce`: it had when last walked) is walked following them at once.
 */
export async function findDigest(
  root: string,
  prune: readonly string[] = [],
  followAtOnce = false,
): Promise<FindLook | undefined> {
  if (!findWorks) return undefined;
  if (!followAtOnce && canStopAtLink()) {
    const physical = await findWalk(root, prune, false);
    if (physical !== AGAIN)
      return physical === undefined ? undefined : { digest: physical, links: false };
  }
  const followed = await findWalk(root, prune, true);
  // (never AGAIN: a walk that follows links decides)
  return typeof followed === "string" ? { digest: followed, links: true } : undefined;
}

let stopsAtLink: boolean | undefined;

/**
 * Whether `/dev/full` is the device whose writes fail (a walk that meets a link stops with
 * that failure): where it is missing (a minimal container), find would create a plain file
 * there, the write would succeed, and a walk cut short at a link would look whole. Asked once.
 */
function canStopAtLink(): boolean {
  if (stopsAtLink === undefined) {
    try {
      stopsAtLink = statSync("/dev/full").isCharacterDevice();
    } catch {
      stopsAtLink = false;
    }
  }
  return stopsAtLink;
}

/** What a walk that does not follow links gives when it meets one, or any other problem. */
export const AGAIN = Symbol("again");

/** One GNU find walk of `root`, its listing hashed by sha256sum (see {@link findDigest}). */
export function findWalk(
  root: string,
  prune: readonly string[],
  follow: boolean,
): Promise<string | undefined | typeof AGAIN> {
  const { spawn } = childProcess();
  return new Promise((resolve) => {
    // Paths under `prune` (relative to root) are not walked, nor memori's bookkeeping.
    const pruned = [
      ...prune.flatMap((rel) => ["-path", `${root}/${rel}`, "-prune", "-o"]),
      ...[...BOOKKEEPING].flatMap((name) => ["-name", name, "-prune", "-o"]),
    ];
    const stopAtLink = follow
      ? []
      : ["(", "-type", "l", "-fprintf", "/dev/full", "l", "-quit", ")", "-o"];
    const printf = ["-printf", "%y\\0%P\\0%D:%i:%s:%T@:%C@\\0"];
    const args = [
      follow ? "-L" : "-H",
      root,
      "-mindepth",
      "1",
      ...pruned,
      ...stopAtLink,
      ...printf,
    ];
    // The listing goes straight into sha256sum (megabytes for a large tree: through this
    // process, it would cost more than the walk). Arguments are passed as "$@", never parsed.
    const child = spawn("/bin/sh", ["-c", 'find "$@" | sha256sum', "sh", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let complained = false;
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on("data", () => (complained = true));
    child.on("error", () => {
      findWorks = false; // no shell
      resolve(undefined);
    });
    child.on("close", (code) => {
      const digest = /^([0-9a-f]{64})\s/.exec(out)?.[1];
      const clean = code === 0 && !complained && digest !== undefined;
      if (!follow) return resolve(clean ? digest : AGAIN);
      // A find without -printf (not GNU) or a missing sha256sum complains: not again.
      if (complained && digest === EMPTY) findWorks = false;
      resolve(clean ? digest : undefined);
    });
  });
}
