/**
 * A state directory as a whole: the entries (stages) it holds, their status as far as the
 * files tell, and the operations of `memori cache` (garbage collection, clearing, accepting
 * the current outputs).
 */
import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { defaultHasher } from "../hashing/files.js";
import { fsExtra } from "../lazy-modules.js";
import type { FileEntry } from "../hashing/values.js";
import { STATE_FILE_SUFFIXES, isNestedStateFolder } from "./location.js";
import { withLock } from "./lock.js";
import { StateStore, trackedFiles, type StoredState } from "./store.js";

/** What the files say of an entry. */
export type EntryStatus =
  | { kind: "valid" }
  | { kind: "unreadable"; detail: string }
  | { kind: "output-missing"; path: string }
  | { kind: "output-modified"; path: string };

/** One stage's state in a directory. */
export interface CacheEntry {
  /**
   * The name relative to the directory: `stage`, `parallel0/stage`, a map element's
   * `stage[label]` when its record has its label, else `stage.map/<key>` (its `key`).
   */
  name: string;
  /** Where its files are, relative to the directory: `stage`, `stage.map/<key>`. */
  key: string;
  store: StateStore;
  state: StoredState | undefined;
  /** When it last ran (from the record), or the state files' mtime if unreadable. */
  time: Date;
  /** Total size of the files it tracks (outputs and files it wrote). */
  bytes: number;
  status: EntryStatus;
}

async function statusOf(state: StoredState): Promise<EntryStatus> {
  for (const entry of trackedFiles(state)) {
    const hash = await defaultHasher.hash(entry.file);
    if (hash === undefined) return { kind: "output-missing", path: entry.file };
    if (hash !== entry.hash) return { kind: "output-modified", path: entry.file };
  }
  return { kind: "valid" };
}

/** The entries of a state directory (and its `parallelK/` and `<name>.map/` folders). */
export async function listEntries(dir: string): Promise<CacheEntry[]> {
  const entries: CacheEntry[] = [];
  const visit = async (folder: string, prefix: string, depth: number) => {
    let names: string[];
    try {
      names = (await readdir(folder)).sort();
    } catch {
      return;
    }
    const stems = new Set(
      names
        .filter((n) => /\.(inputs|outputs|stage)$/.test(n))
        .map((n) => n.replace(/\.(inputs|outputs|stage)$/, "")),
    );
    for (const stem of stems) {
      let store = new StateStore(folder, stem);
      const read = store.read();
      // A map element's label goes with it into what `accept` writes.
      const label = read.kind === "ok" ? read.state.record.label : undefined;
      if (typeof label === "string") store = new StateStore(folder, stem, undefined, label);
      let time: Date;
      let bytes = 0;
      let status: EntryStatus;
      let state: StoredState | undefined;
      if (read.kind === "ok") {
        state = read.state;
        time = new Date(read.state.record.time);
        for (const entry of trackedFiles(read.state)) {
          bytes += await stat(entry.file).then(
            (s) => s.size,
            () => 0,
          );
        }
        status = await statusOf(read.state);
      } else {
        const mtimes = await Promise.all(
          [".inputs", ".outputs", ".stage"].map((ext) =>
            stat(path.join(folder, stem + ext)).then(
              (s) => s.mtimeMs,
              () => 0,
            ),
          ),
        );
        time = new Date(Math.max(...mtimes));
        status = {
          kind: "unreadable",
          detail:
            read.kind === "absent"
              ? "no .stage record (interrupted)"
              : `${path.basename(read.file)} ${read.detail}`,
        };
      }
      const key = prefix + stem;
      const name =
        typeof label === "string" && prefix.endsWith(".map/")
          ? `${prefix.slice(0, -".map/".length)}[${label}]`
          : key;
      entries.push({ name, key, store, state, time, bytes, status });
    }
    if (depth > 0) {
      for (const name of names) {
        if (!isNestedStateFolder(name)) continue;
        if ((await stat(path.join(folder, name)).catch(() => undefined))?.isDirectory()) {
          await visit(path.join(folder, name), `${prefix}${name}/`, depth - 1);
        }
      }
    }
  };
  await visit(dir, "", 2);
  return entries;
}

/**
 * Find one entry by name (`stage`, `parallel0/stage`, an element's `stage[label]` or
 * `stage.map/<key>`); a map's name stands for all its elements.
 */
export async function findEntries(dir: string, name: string): Promise<CacheEntry[]> {
  const all = await listEntries(dir);
  // A command's calls are named `<command>-<digest of its arguments>`: the command's name
  // finds them all.
  const call = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}-[0-9a-f]{8}$`);
  return all.filter(
    (e) =>
      e.name === name || e.key === name || e.key.startsWith(`${name}.map/`) || call.test(e.name),
  );
}

/** Remove an entry's state files (never its outputs). Returns the files removed. */
export async function removeEntry(entry: CacheEntry): Promise<string[]> {
  const fs = fsExtra();
  const removed: string[] = [];
  for (const suffix of STATE_FILE_SUFFIXES) {
    const file = path.join(entry.store.dir, entry.store.name + suffix);
    if (await fs.pathExists(file)) {
      await fs.remove(file);
      removed.push(file);
    }
  }
  return removed;
}

/** Temporary files left by killed processes (`.<name>.<host>.<pid>...tmp`) older than `ms`. */
export async function strayTempFiles(dir: string, olderThanMs: number): Promise<string[]> {
  const found: string[] = [];
  const now = Date.now();
  const visit = async (folder: string, depth: number) => {
    for (const name of await readdir(folder).catch(() => [] as string[])) {
      const file = path.join(folder, name);
      const info = await stat(file).catch(() => undefined);
      if (info === undefined) continue;
      if (info.isDirectory() && depth > 0) await visit(file, depth - 1);
      else if (info.isFile() && /^\..+\.tmp$/.test(name) && now - info.mtimeMs > olderThanMs)
        found.push(file);
    }
  };
  await visit(dir, 2);
  return found;
}

/** Parse a duration such as `30d`, `12h`, `90m`, `45s`, `2w` into milliseconds. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(s|m|h|d|w)$/.exec(text.trim());
  if (!match) return undefined;
  const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }[
    match[2] as "s" | "m" | "h" | "d" | "w"
  ];
  return Number(match[1]) * unit;
}

/**
 * Record an entry's current output files as valid without running it: re-hash every tracked
 * file and write a new consistent state with the same inputs and code. Throws if a tracked
 * file is missing.
 */
export async function acceptEntry(entry: CacheEntry): Promise<string[]> {
  const state = entry.state;
  if (state === undefined) throw new Error(`${entry.name} has no readable state to accept`);
  const changed: string[] = [];
  const rehash = async (e: FileEntry): Promise<FileEntry> => {
    const hash = await defaultHasher.hash(e.file);
    if (hash === undefined) throw new Error(`${e.file} is missing; it cannot be accepted`);
    if (hash !== e.hash) changed.push(e.file);
    return { file: e.file, hash };
  };
  const { mapStored } = await import("../hashing/values.js");
  const fresh = new Map<string, FileEntry>();
  for (const e of trackedFiles(state)) fresh.set(e.file, await rehash(e));
  const outputs = mapStored(state.outputs, (e) => fresh.get(e.file) ?? e) as StoredState["outputs"];
  const written = state.written.map((e) => fresh.get(e.file) ?? e);
  // Written back as portable as it was: under this process's root, or else the one its record
  // names (`memori cache` sets none), so paths inside the project stay relative to it.
  const { store } = entry;
  const root = store.root ?? state.record.root;
  const writer =
    root === store.root ? store : new StateStore(store.dir, store.name, root, store.label);
  await withLock(entry.store, () =>
    writer.write(state.inputs, outputs, written, state.record.code, state.record.outputs),
  );
  return [...new Set(changed)];
}
