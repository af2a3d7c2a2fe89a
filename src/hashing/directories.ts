/**
 * Directories by content: a directory's hash is the hash of its entries (see `tree.ts`), each
 * file by content. Like single files, a tree whose stat identities are all unchanged (and old
 * enough to be trusted) is not read again: a cached check of a 100,000-file tree costs one
 * `lstat` per entry. When something inside changed, only the files whose identity changed are
 * read, and the paths that changed are kept to name in the reason for the re-run.
 */
import { allowedSkewMs, isShared } from "./file-systems.js";
import { unreadableHash } from "./unreadable.js";
import { readFileSync, realpathSync } from "node:fs";
import { statSync } from "../untracked-fs.js";
import path from "node:path";
import { crypto, picomatch } from "../lazy-modules.js";
import { sha256Hex } from "./sha256.js";
import {
  FIND_FROM,
  foundIdentity,
  listedIdentity,
  quickLookFor,
  type QuickLook,
} from "./quick-look.js";
import { findDigest, identityOf, listTree, treeChanges, treeHash, type TreeEntry } from "./tree.js";

/** How a stage hashes the directories it names. */
export interface DirectoryRule {
  /** Globs of paths inside directories to leave out (`**\/*.log`), relative to the directory. */
  readonly ignore?: readonly string[] | undefined;
  /** Absolute paths left out wherever they are (memori's own state directory). */
  readonly skip?: readonly string[] | undefined;
}

/** One entry as recorded for later runs: path, kind, stat identity, content hash. */
export type RecordedEntry = [rel: string, kind: string, identity: string, content: string];

/** A directory's entries as recorded, with the identity and hash of the whole. */
export interface RecordedTree {
  identity: string;
  hash: string;
  entries: RecordedEntry[];
}

interface KnownTree {
  identity: string;
  hash: string;
  trusted: boolean;
  /** Content by relative path (file hash, link target, or "" for a directory). */
  content: Map<string, string>;
  /** File identities by relative path, for files whose hash may be reused. */
  trustedFiles: Map<string, string>;
  kinds: Map<string, string>;
}

/** How many of each directory's latest contents are kept (to tell what changed). */
const HISTORY = 8;

/** Files up to this size are read synchronously. */
const SMALL_FILE = 256 * 1024;

/** How long after its last change a file's stat identity is not trusted (as for files). */
const RACY_WINDOW_MS = 2000;

const matchers = new Map<string, (rel: string) => boolean>();

function matcherFor(globs: readonly string[] | undefined): ((rel: string) => boolean) | undefined {
  if (globs === undefined || globs.length === 0) return undefined;
  const key = JSON.stringify(globs);
  let matcher = matchers.get(key);
  if (matcher === undefined) {
    matcher = picomatch()([...globs], { dot: true });
    matchers.set(key, matcher);
  }
  return matcher;
}

/** What the rule changes in a directory's identity (nothing, for no rule). */
/** What leaves entries of `dir` out under `rule`, by relative path. */
function filterFor(dir: string, rule: DirectoryRule | undefined): TreeRule {
  const glob = matcherFor(rule?.ignore);
  const inside = (rule?.skip ?? [])
    .filter((skip) => skip.startsWith(dir + path.sep))
    .map((skip) => path.relative(dir, skip).split(path.sep).join("/"));
  const key =
    glob === undefined && inside.length === 0
      ? ""
      : sha256Hex(JSON.stringify([rule?.ignore ?? [], inside])).slice(0, 16);
  // Reached through a link too: by real path.
  const real = new Set((rule?.skip ?? []).map((skip) => realpathOr(skip)));
  if (inside.length === 0) return { key, ignored: glob, pruned: [], real };
  const skipped = new Set(inside);
  const ignored = (rel: string) => skipped.has(rel) || (glob?.(rel) ?? false);
  return { key, ignored, pruned: inside, real };
}

function realpathOr(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return file;
  }
}

interface TreeRule {
  /** Part of the directory's identity: what the rule leaves out ("" for nothing). */
  key: string;
  ignored: ((rel: string) => boolean) | undefined;
  /** Relative paths not walked at all. */
  pruned: string[];
  /** Real paths of directories not walked, wherever they are reached from. */
  real: ReadonlySet<string>;
}

function contentOf(entry: TreeEntry, hashes: ReadonlyMap<string, string>): string {
  if (entry.kind === "f" || entry.kind === "l") return hashes.get(entry.rel) ?? "";
  return entry.kind === "m" || entry.kind === "c" ? entry.identity : "";
}

/**
 * Hashes directories, remembering each one's entries with their identities and hashes.
 * `hashFile` hashes one file's content (the file hasher's, so big files use its workers).
 */
export class DirectoryHasher {
  readonly #known = new Map<string, KnownTree>();
  /** Directories recorded beside states: identity and hash, entries read only if needed. */
  readonly #seeded = new Map<string, { identity: string; hash: string }>();
  /** How to read the entries recorded for directories (only when one has changed). */
  readonly #recalled = new Map<string, () => RecordedTree | undefined>();
  /**
   * What each directory held, by hash, for its last few hashes (calls running at the same
   * time see it at different moments: each compares its own before and after).
   */
  readonly #history = new Map<string, Map<string, KnownTree>>();

  /** Files inside directories read and hashed so far (for tests and benchmarks). */
  reads = 0;

  constructor(
    readonly hashFile: (file: string) => Promise<string | undefined>,
    readonly alwaysHash: boolean,
  ) {}

  /** The hash of directory `dir` (absolute) under `rule`. */
  async hash(
    dir: string,
    rule: DirectoryRule | undefined,
    seen: Map<string, { identity: string; hash: string }> | undefined,
  ): Promise<string | undefined> {
    const startedMs = Date.now();
    const { key, ignored, pruned, real } = filterFor(dir, rule);
    // The quick look: GNU find's walk for a large tree, this process's own listing for a small
    // one (its identity says which, once recorded). If the tree is as recorded, that is all it
    // costs.
    const how = this.#quickLook(dir, seen);
    const found = how === "list" ? undefined : await findDigest(dir, pruned, how === "find-links");
    const quick = found === undefined ? undefined : foundIdentity(key, found);
    const fast = (identity: string) => {
      if (this.alwaysHash) return undefined;
      const inScope = seen?.get(dir);
      if (inScope?.identity === identity) return inScope.hash;
      const known = this.#known.get(dir);
      const trusted =
        known === undefined ? this.#seeded.get(dir) : known.trusted ? known : undefined;
      if (trusted?.identity !== identity) return undefined;
      seen?.set(dir, { identity, hash: trusted.hash });
      return trusted.hash;
    };
    if (quick !== undefined) {
      const hash = fast(quick);
      if (hash !== undefined) return hash;
    }
    let listing;
    try {
      listing = listTree(dir, ignored, real);
    } catch {
      return undefined;
    }
    // A tree that find walked and that is small now is told by its listing from now on (taken,
    // like find's, before any file is read). A listed tree's identity says how many entries it
    // had: grown large, it is walked by find the next time (and so recorded).
    const identity =
      quick === undefined || listing.entries.length < FIND_FROM
        ? listedIdentity(key, listing.entries.length, listing.statDigest)
        : quick;
    if (quick === undefined) {
      const hash = fast(identity);
      if (hash !== undefined) return hash;
    }
    const earlier = this.#earlier(dir);
    const windowMs = RACY_WINDOW_MS + (sharedDirectory(dir) ? allowedSkewMs() : 0);
    const hashes = new Map<string, string>();
    const trustedFiles = new Map<string, string>();
    let trusted = true;
    const toRead: TreeEntry[] = [];
    for (const entry of listing.entries) {
      if (entry.kind !== "f" && entry.kind !== "l") continue;
      const young = startedMs - entry.changedMs <= windowMs;
      if (young) trusted = false;
      const reusable = this.alwaysHash ? undefined : earlier?.trustedFiles.get(entry.rel);
      if (!young && reusable === entry.identity) {
        hashes.set(entry.rel, earlier!.content.get(entry.rel)!);
        trustedFiles.set(entry.rel, entry.identity);
      } else {
        toRead.push(entry);
      }
    }
    // Read what must be read, a few at a time (small files: the latency of each read dominates).
    let next = 0;
    const reader = async () => {
      while (next < toRead.length) {
        const entry = toRead[next++]!;
        const file = path.join(dir, ...entry.rel.split("/"));
        this.reads += 1;
        // Small files are read here at once: through the thread pool, the round trips of
        // open, read and close would cost several times the read itself.
        const hash =
          (entry.size ?? Infinity) <= SMALL_FILE ? readSmall(file) : await this.hashFile(file);
        hashes.set(entry.rel, hash ?? unreadableHash());
        const now = identityNow(file);
        if (hash !== undefined && now === entry.identity && startedMs - entry.changedMs > windowMs)
          trustedFiles.set(entry.rel, entry.identity);
        else trusted = false;
      }
    };
    await Promise.all(Array.from({ length: Math.min(8, toRead.length) }, reader));
    const hash = treeHash(listing.entries, hashes);
    const content = new Map<string, string>();
    const kinds = new Map<string, string>();
    for (const entry of listing.entries) {
      content.set(entry.rel, contentOf(entry, hashes));
      kinds.set(entry.rel, entry.kind);
    }
    const tree = { identity, hash, trusted, content, trustedFiles, kinds };
    this.#known.set(dir, tree);
    let history = this.#history.get(dir);
    if (history === undefined) this.#history.set(dir, (history = new Map()));
    if (earlier !== undefined && !history.has(earlier.hash)) history.set(earlier.hash, earlier);
    history.delete(hash); // re-inserted last: the oldest is forgotten first
    history.set(hash, tree);
    while (history.size > HISTORY) history.delete(history.keys().next().value!);
    seen?.set(dir, { identity, hash });
    return hash;
  }

  /** How `dir`'s quick look is taken, by what was recorded of it (quick-look.ts). */
  #quickLook(dir: string, seen: Map<string, { identity: string }> | undefined): QuickLook {
    const recorded =
      seen?.get(dir)?.identity ?? this.#known.get(dir)?.identity ?? this.#seeded.get(dir)?.identity;
    return quickLookFor(dir, recorded);
  }

  /** What the directory held when last hashed here, or as recorded beside a state. */
  #earlier(dir: string): KnownTree | undefined {
    const known = this.#known.get(dir);
    if (known !== undefined) return known;
    const recorded = this.#recalled.get(dir)?.();
    if (recorded === undefined) return undefined;
    const content = new Map<string, string>();
    const trustedFiles = new Map<string, string>();
    const kinds = new Map<string, string>();
    for (const [rel, kind, identity, hash] of recorded.entries) {
      content.set(rel, hash);
      kinds.set(rel, kind);
      if ((kind === "f" || kind === "l") && identity !== "") trustedFiles.set(rel, identity);
    }
    return {
      identity: recorded.identity,
      hash: recorded.hash,
      trusted: true,
      content,
      trustedFiles,
      kinds,
    };
  }

  /**
   * Learn a directory recorded beside a state: its identity and hash, and how to read its
   * entries (read only if the directory is no longer what was recorded).
   */
  seed(dir: string, identity: string, hash: string): void {
    if (this.alwaysHash || this.#known.has(dir)) return;
    this.#seeded.set(dir, { identity, hash });
  }

  /**
   * Where the entries recorded for a directory are, should it have changed: files whose
   * identity is as recorded are not read again, and the reason names the paths that changed.
   */
  recall(dir: string, entries: () => RecordedTree | undefined): void {
    if (!this.#known.has(dir)) this.#recalled.set(dir, entries);
  }

  /** A directory's identity and hash if trusted, to record for later runs. */
  trusted(dir: string): { identity: string; hash: string } | undefined {
    const known = this.#known.get(dir);
    if (known !== undefined)
      return known.trusted ? { identity: known.identity, hash: known.hash } : undefined;
    const seeded = this.#seeded.get(dir);
    return seeded && { identity: seeded.identity, hash: seeded.hash };
  }

  /**
   * A directory's entries as hashed here, to record beside a state (file identities only
   * where trusted; the tree's identity only if trusted), or `undefined` if not hashed here.
   */
  entries(dir: string): RecordedTree | undefined {
    const known = this.#known.get(dir);
    if (known === undefined) return undefined;
    const entries: RecordedEntry[] = [];
    for (const [rel, content] of known.content) {
      entries.push([rel, known.kinds.get(rel) ?? "", known.trustedFiles.get(rel) ?? "", content]);
    }
    return { identity: known.trusted ? known.identity : "", hash: known.hash, entries };
  }

  /** Whether `dir` was hashed entry by entry in this process. */
  hashedHere(dir: string): boolean {
    return this.#known.has(dir);
  }

  /** The first paths inside `dir` that changed between its hashes `from` and `to`, if known. */
  changesInside(dir: string, from: string, to: string): string[] | undefined {
    const before = this.#history.get(dir)?.get(from);
    const after = this.#history.get(dir)?.get(to);
    return before && after && treeChanges(before.content, after.content);
  }

  /** Forget one path (it is no longer a directory). */
  forget(dir: string): void {
    this.#known.delete(dir);
    this.#seeded.delete(dir);
    this.#recalled.delete(dir);
  }

  clear(): void {
    this.#known.clear();
    this.#history.clear();
    this.#seeded.clear();
    this.#recalled.clear();
  }
}

/** Whether a directory is on a file system other hosts write (file-systems.ts). */
function sharedDirectory(dir: string): boolean {
  try {
    const s = statSync(dir, { throwIfNoEntry: false });
    return s === undefined || isShared(s.dev);
  } catch {
    return true;
  }
}

/** A small file's SHA-256, or `undefined` if it cannot be read. */
function readSmall(file: string): string | undefined {
  try {
    return crypto().createHash("sha256").update(readFileSync(file)).digest("hex");
  } catch {
    return undefined;
  }
}

/** A file's identity now (links followed), in the listing's format, or "" if it is gone. */
function identityNow(file: string): string {
  const s = statSync(file, { throwIfNoEntry: false });
  return s === undefined ? "" : identityOf(s);
}
