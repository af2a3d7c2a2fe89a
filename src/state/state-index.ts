/**
 * A state directory's index of commit records (`<dir>/.memori-index`): a cache, for the runs
 * of a process, of what each `<name>.stage` holds, keyed by that file's stamp.
 *
 * A cached call reads its commit record, a `read` of the whole file. With the index, a run that
 * touches many states of one directory opens each `.stage` and asks the file system who it is
 * (`fstat`: device, inode, size, modification and change times); when the index has a record
 * for that exact file, the record comes from the index and the file is not read. Any other
 * file there (rewritten in place, replaced by another commit, restored, copied) has another
 * stamp: it is read, checked, and the index learns it. The record the index gives is one that
 * memori committed to that file, so the worst a stamp that collides could do is give a
 * valid earlier record of the same stage (whose inputs and code are compared as always, and
 * whose files are checked), never a result of other inputs or code.
 *
 * The index is used only inside a run (`openIndexSession`, by the scheduler): a lone read
 * (`memori cache`, a dry run's first lookups) reads `.stage` as always. Within a run it is
 * loaded once a directory has been touched {@link LOAD_AFTER} times, so a run of a few calls
 * never reads a big index for them. At the end of a run (not a dry run), a directory whose
 * index learned something is written again, atomically, with a SHA-256 of its entries: an
 * index that is damaged, of another version or unreadable is ignored (and rewritten).
 *
 * File format (version {@link INDEX_VERSION}): a first line `{"check":<sha256 of the rest>,
 * "memori-index":2}`, then one line per stage: its name as JSON, a tab, the stamp of its
 * `.stage`, a tab, and its record as compact JSON.
 */
import path from "node:path";
import { sha256 } from "../hashing/files.js";
import { readSized } from "../untracked-fs.js";
import { writeFileAtomic } from "./atomic.js";
import { hasStamp, type StampStats } from "./stamp.js";
import type { StageRecord } from "./record.js";

/** The index's file in a state directory. */
export const INDEX_FILE = ".memori-index";
/**
 * The version of the index's format. 2: it may hold records of state format 4 (found paths
 * under a pipeline root, record.ts): a memori that reads index version 1 took a record from
 * the index without checking its format, and would have taken those for hits.
 */
export const INDEX_VERSION = 2;
/** How many states of a directory a run touches before it loads the directory's index. */
export const LOAD_AFTER = 16;

const HEADER = `{"check":"`;
const HEADER_END = `","memori-index":${INDEX_VERSION}}\n`;

/** One stage's entry: the stamp of its `.stage`, and its record as one line of JSON. */
interface Entry {
  stamp: string;
  json: string;
}

/** The index of one directory, for one session. */
export class DirectoryIndex {
  #touches = 0;
  #loaded = false;
  #changed = false;
  /** Whether a run committed a state here this session. */
  #committed = false;
  /** Entries of this session: learned, or loaded. */
  #entries = new Map<string, Entry>();
  /** Names found with no `.stage` this session: their loaded entries are dropped. */
  readonly #gone = new Set<string>();

  constructor(readonly dir: string) {}

  /** The index's file. */
  get file(): string {
    return path.join(this.dir, INDEX_FILE);
  }

  /** Count a state touched: the index file is loaded at the {@link LOAD_AFTER}th. */
  touch(): void {
    if (++this.#touches === LOAD_AFTER) this.#load();
  }

  /** Whether the index has an entry for `name` (whatever file it was learned from). */
  has(name: string): boolean {
    return this.#entries.has(name);
  }

  /**
   * The record of `name`'s `.stage` as `stats` says it is now (its stamp, `recordStampOf`), as
   * JSON text (parsed by the caller, a fresh object each time), or `undefined` when the index
   * does not know that file.
   */
  recordText(name: string, stats: StampStats): string | undefined {
    const entry = this.#entries.get(name);
    return entry !== undefined && hasStamp(entry.stamp, stats, true) ? entry.json : undefined;
  }

  /**
   * Learn that `name`'s `.stage` with `stamp` holds `record`: read and checked, or `committed`
   * by this process (which only a run does).
   */
  learn(name: string, stamp: string, record: StageRecord, committed = false): void {
    if (committed) this.#committed = true;
    const known = this.#entries.get(name);
    if (known !== undefined && known.stamp === stamp) return;
    // Without its check (a record read has one, a commit's has none): the index has its own.
    let kept: Omit<StageRecord, "check"> = record;
    if (record.check !== undefined) {
      const { check: _check, ...rest } = record;
      kept = rest;
    }
    this.#entries.set(name, { stamp, json: JSON.stringify(kept) });
    this.#gone.delete(name);
    // Before the file is loaded, whether this is news is told when it is (#load).
    if (this.#loaded) this.#changed = true;
  }

  /** `name` has no `.stage` (or an unreadable one): the index forgets it. */
  forget(name: string): void {
    if (this.#entries.delete(name) && this.#loaded) this.#changed = true;
    this.#gone.add(name);
  }

  /**
   * Whether writing the index is worth it: it changed, and the directory is one a run uses
   * much. When a dry run shared the session (`dryRunsToo`), only where a run committed: what a
   * dry run alone looked at is not written.
   */
  worthWriting(dryRunsToo: boolean): boolean {
    return (
      this.#changed &&
      (this.#loaded || this.#touches >= LOAD_AFTER) &&
      (!dryRunsToo || this.#committed)
    );
  }

  /** The index's bytes: its header with the check, then its entries. */
  bytes(): Buffer {
    const lines: string[] = [];
    for (const [name, { stamp, json }] of this.#entries) {
      lines.push(`${JSON.stringify(name)}\t${stamp}\t${json}\n`);
    }
    // Encoded once, hashed and written as those bytes.
    const body = Buffer.from(lines.join(""), "utf8");
    return Buffer.concat([Buffer.from(`${HEADER}${sha256(body)}${HEADER_END}`, "latin1"), body]);
  }

  /** Write the index (atomically). */
  async write(): Promise<void> {
    await writeFileAtomic(this.file, this.bytes());
    this.#changed = false;
  }

  /** Load the index file, if there is a whole one, under what this session learned. */
  #load(): void {
    this.#loaded = true;
    let data: Buffer | undefined;
    try {
      data = readSized(this.file);
    } catch {
      // none yet (or unreadable): written at the end of the run
    }
    const loaded = data === undefined ? undefined : parseIndex(data);
    if (loaded === undefined) {
      // none, damaged, or of another version: written with what this run learns
      this.#changed = this.#entries.size > 0 || data !== undefined;
      return;
    }
    // The file's entries, under what this session learned before (news unless the file knew
    // it already) and without what it found gone: the few learned go into the loaded map.
    for (const [name, entry] of this.#entries) {
      if (loaded.get(name)?.stamp !== entry.stamp) this.#changed = true;
      loaded.set(name, entry);
    }
    for (const name of this.#gone) if (loaded.delete(name)) this.#changed = true;
    this.#entries = loaded;
  }
}

/**
 * The string `text.slice(from, to)` holds as JSON when it is one with no escape (`"name"`):
 * the text between its quotes, which JSON.stringify leaves with no quote, backslash or control
 * character. `undefined` for anything else.
 */
function plainName(text: string, from: number, to: number): string | undefined {
  if (to - from < 2 || text.charCodeAt(from) !== 34 || text.charCodeAt(to - 1) !== 34) {
    return undefined;
  }
  for (let i = from + 1; i < to - 1; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 || c === 92 || c < 32) return undefined;
  }
  return text.slice(from + 1, to - 1);
}

/**
 * The entries of an index file, or `undefined` if it is not a whole index of this version. Its
 * entries are hashed as the bytes they are (not encoded again from text).
 */
export function parseIndex(data: Buffer | string): Map<string, Entry> | undefined {
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  const bodyAt = HEADER.length + 64 + HEADER_END.length;
  const header = bytes.toString("latin1", 0, bodyAt);
  if (
    !header.startsWith(HEADER) ||
    !header.endsWith(HEADER_END) ||
    header.slice(HEADER.length, HEADER.length + 64) !== sha256(bytes.subarray(bodyAt))
  ) {
    return undefined;
  }
  const text = bytes.toString("utf8", bodyAt);
  const entries = new Map<string, Entry>();
  let at = 0;
  while (at < text.length) {
    const end = text.indexOf("\n", at);
    const first = text.indexOf("\t", at);
    const second = first < 0 ? -1 : text.indexOf("\t", first + 1);
    if (end < 0 || second < 0 || second > end) return undefined;
    // A name as JSON.stringify wrote it: between quotes, with no escape (most are), it is the
    // text between them; JSON.parse reads the others.
    let name: unknown = plainName(text, at, first);
    if (name === undefined) {
      try {
        name = JSON.parse(text.slice(at, first));
      } catch {
        return undefined;
      }
    }
    if (typeof name !== "string") return undefined;
    entries.set(name, { stamp: text.slice(first + 1, second), json: text.slice(second + 1, end) });
    at = end + 1;
  }
  return entries;
}

/** The indexes of the sessions open in this process, by directory. */
const indexes = new Map<string, DirectoryIndex>();
let sessions = 0;
/** Whether a run (not only dry runs), and whether a dry run, used the indexes since they were last written. */
let anyRun = false;
let anyDryRun = false;

/**
 * The index of `dir` in the open sessions, or `undefined` when no run is going on (then
 * nothing is indexed).
 */
export function indexOf(dir: string): DirectoryIndex | undefined {
  if (sessions === 0) return undefined;
  const key = path.isAbsolute(dir) ? dir : `${process.cwd()}\0${dir}`;
  let index = indexes.get(key);
  if (index === undefined) indexes.set(key, (index = new DirectoryIndex(path.resolve(dir))));
  return index;
}

/** A run's (or dry run's) use of the indexes: closed when it ends. */
export interface IndexSession {
  /** End the session; the last one to end writes what the indexes learned (a run's). */
  close(): Promise<void>;
}

/**
 * Open a session of the indexes for a run (`write`: its end writes what they learned) or a
 * dry run. Sessions of one process share the indexes; they are written and dropped when the
 * last one ends. Writing never fails the run: an index that cannot be written is not needed.
 */
export function openIndexSession(write: boolean): IndexSession {
  sessions++;
  if (write) anyRun = true;
  else anyDryRun = true;
  let closed = false;
  return {
    async close() {
      if (closed) return;
      closed = true;
      if (--sessions > 0) return;
      const run = anyRun;
      const dryRunsToo = anyDryRun;
      anyRun = anyDryRun = false;
      const open = [...indexes.values()];
      indexes.clear();
      if (!run) return;
      for (const index of open) {
        if (!index.worthWriting(dryRunsToo)) continue;
        try {
          await index.write();
        } catch {
          // a cache: the next run reads the records themselves
        }
      }
    },
  };
}

/** Run `body` (a run, or a dry run: `write` false) in a session of the indexes. */
export async function withIndexes<T>(write: boolean, body: () => Promise<T>): Promise<T> {
  const session = openIndexSession(write);
  try {
    return await body();
  } finally {
    await session.close();
  }
}
