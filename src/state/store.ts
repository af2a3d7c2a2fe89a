/**
 * Where a stage's state lives and how it is read and written.
 *
 * `<dir>/<name>.inputs` and `<dir>/<name>.outputs` are readable JSON with sorted keys;
 * `<dir>/<name>.stage` is the commit record (record.ts): it names the run that wrote the other
 * two, the SHA-256 of their exact bytes and their stamps, and carries their values, so a
 * cached call reads it alone and stats the other two. It is written last, atomically, so a
 * crash at any moment leaves either the previous consistent triple or a mismatch, which reads
 * as a cache miss, never as a hit pairing new inputs with old outputs. Every file carries the
 * format version.
 */
import type { Stats } from "node:fs";
import { mkdir, stat } from "node:fs/promises";
import path from "node:path";
import { MemoriError, codeOf, messageOf } from "../errors.js";
import type { CodeIdentity } from "../hashing/hashable.js";
import { sha256, type KnownHash } from "../hashing/files.js";
import { sortKeys, type FileEntry, type Json } from "../hashing/values.js";
import { crypto } from "../lazy-modules.js";
import { statSync } from "../untracked-fs.js";
import { indexOf } from "./state-index.js";
import { recordStampOf } from "./stamp.js";
import { entriesToStored, inputsToStored, rootFromEnv, toStored } from "./portable.js";
import { CarrierLostError, hostName, writeFilesAtomic, type CarrierFile } from "./atomic.js";
import {
  FORMAT_VERSION,
  FOUND_PATHS_FORMAT,
  prettyText,
  recordText,
  type StageRecord,
} from "./record.js";
import { readState, type ReadResult } from "./state-reader.js";

export { FORMAT_VERSION, type StageRecord } from "./record.js";
export {
  referencedFiles,
  trackedFiles,
  type ReadResult,
  type StoredState,
} from "./state-reader.js";

type Extension = "inputs" | "outputs" | "stage";

/** State directories this process has made sure exist. */
const ensured = new Set<string>();

/** Known file hashes by path, as kept in `<name>.files`. */
export type KnownFiles = Record<string, KnownHash>;

/**
 * Check a stage name: it must be usable as one file name inside `hashOutput`, so that no name
 * can point outside it. Returns an error message, or `undefined` if the name is fine.
 */
export function checkStateName(name: unknown): string | undefined {
  if (typeof name !== "string") return `must be a string`;
  if (name.length === 0) return "is empty";
  if (name.includes("\0")) return "contains a NUL character";
  if (name.includes("/") || name.includes("\\")) return "contains a path separator";
  if (name === "." || name === ".." || name.startsWith("..")) return "starts with ..";
  if (name.length > 200) return "is longer than 200 characters";
  return undefined;
}

/** Each state directory as `path.join` begins a path inside it: `""`, or ending in a separator. */
const dirPrefixes = new Map<string, string>();

/**
 * `path.join(dir, name)` when it keeps `name` as the last part, else `null`. A run names the
 * files of thousands of states in one directory: the directory is normalized once, not per state.
 */
function joinedBase(dir: string, name: string): string | null {
  if (name === "" || name === "." || name === ".." || name.includes(path.sep)) {
    const base = path.join(dir, name);
    return path.basename(base) === name ? base : null;
  }
  let prefix = dirPrefixes.get(dir);
  if (prefix === undefined) {
    // What path.join puts before any one plain name in this directory.
    prefix = path.join(dir, "x").slice(0, -1);
    if (dirPrefixes.size > 1000) dirPrefixes.clear();
    dirPrefixes.set(dir, prefix);
  }
  return prefix + name;
}

/**
 * The state files of one stage in one directory: `<dir>/<name>.stage` (the commit record),
 * `.inputs`, `.outputs`, and the `.files` and `.trees` hints. What `memori cache` reads; the
 * engine writes through it. Reading never throws for what is on disk: bad state is
 * `unreadable`, a miss.
 *
 * @example
 * ```ts
 * const found = new StateStore(".memori", "skullStrip").read();
 * if (found.kind === "ok") {
 *   const { record, inputs, outputs } = found.state;
 *   console.log(record.time, inputs, outputs); // when it last ran, with what, giving what
 * } else if (found.kind === "unreadable") {
 *   console.log(found.file, found.detail);
 * }
 * ```
 */
export class StateStore {
  readonly #root: string | null | undefined;

  constructor(
    /** The state directory (a stage's `hashOutput`, or a map's `<name>.map/`). */
    readonly dir: string,
    /** The name of the state files: `<dir>/<name>.stage`, `.inputs`, `.outputs`, ... */
    readonly name: string,
    /**
     * The pipeline root: paths inside it are stored relative to it (portable.ts). By default
     * `MEMORI_ROOT`, read when first needed (a cached call whose state holds no such path
     * never needs it).
     */
    root?: string | null,
    /** A map element's label, written into its record (StageRecord `label`). */
    readonly label?: string,
  ) {
    this.#root = root;
  }

  /** The pipeline root, if any (see the constructor). */
  get root(): string | undefined {
    return this.#root === undefined ? rootFromEnv() : (this.#root ?? undefined);
  }

  /** `<dir>/<name>`, joined once (a cached call names three files), when joining keeps the name. */
  #base: string | null | undefined;

  /** The path of one of the state files. */
  file(kind: Extension | "files" | "trees"): string {
    if (this.#base === undefined) this.#base = joinedBase(this.dir, this.name);
    return this.#base === null
      ? path.join(this.dir, `${this.name}.${kind}`)
      : `${this.#base}.${kind}`;
  }

  /**
   * Read and check the state. Never throws for what is on disk: bad state is "unreadable".
   * Inside a run the directory's index (state-index.ts) may give the commit record, the
   * `.stage` file unread; `indexed: false` (a read-only cache) reads it always.
   */
  read(indexed = true): ReadResult {
    return readState(this, indexed);
  }

  /**
   * Whether the commit record exists (one `stat`, no error made when it does not: cheaper than
   * a failed read when a miss is expected).
   */
  hasRecord(): boolean {
    try {
      return statSync(this.file("stage"), { throwIfNoEntry: false }) !== undefined;
    } catch {
      return true; // there may be one: reading it says what is wrong
    }
  }

  /**
   * Make sure the directory exists and is a directory: once per process and directory, unless
   * `again` (a write that found it removed since).
   */
  async ensureDir(again = false): Promise<void> {
    if (!again && ensured.has(this.dir)) return;
    try {
      await mkdir(this.dir, { recursive: true });
      ensured.add(this.dir);
    } catch (error) {
      const existing = await stat(this.dir).catch(() => undefined);
      if (existing !== undefined && !existing.isDirectory()) {
        throw new MemoriError(
          "state-not-writable",
          `stage "${this.name}": hashOutput ${this.dir} is not a directory.`,
          { stage: this.name, cause: error },
        );
      }
      throw new MemoriError(
        "state-not-writable",
        `stage "${this.name}": cannot create the state directory ${this.dir} (${messageOf(error)}). Choose a hashOutput directory you can write to.`,
        { stage: this.name, cause: error },
      );
    }
  }

  /**
   * Write a new consistent state: `.inputs`, `.outputs`, then the `.stage` commit record.
   * All three are written before any is renamed into place, so a failure to write (a full
   * disk) leaves the previous state as it was; `.stage` is renamed last, so a crash between
   * renames reads as a miss, never as a wrong hit. `.inputs` and `.outputs` that do not exist
   * yet are written in place (nothing trusts them before the record names them), and the
   * record is written into `carrier`, the call's lock, when given: the commit then takes the
   * lock's place (atomic.ts).
   */
  async write(
    inputs: Record<string, Json>,
    outputs: Record<string, Json>,
    written: readonly FileEntry[],
    code: CodeIdentity,
    outputNames: readonly string[],
    carrier?: CarrierFile,
  ): Promise<StageRecord> {
    await this.ensureDir();
    const run = crypto().randomUUID();
    // Sorted once: the same values go to `.inputs`, `.outputs` and the record.
    // Paths inside the pipeline root are stored relative to it (portable.ts).
    const root = this.root;
    // What the code found, stored relative to the root too: a format older memori refuse.
    const stored = inputsToStored(inputs, root);
    const version = stored.marked ? FOUND_PATHS_FORMAT : FORMAT_VERSION;
    const values = {
      inputs: sortKeys(stored.inputs) as Record<string, Json>,
      outputs: toStored(sortKeys(outputs) as Record<string, Json>, root),
      written: entriesToStored(written, root)
        .map((e) => ({ file: e.file, hash: e.hash }))
        .sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0)),
    };
    const inputsText = prettyText({ inputs: values.inputs, memori: version, run });
    const outputsText = prettyText({
      memori: version,
      outputs: values.outputs,
      run,
      written: values.written as unknown as Json,
    });
    const digests = { inputs: sha256(inputsText), outputs: sha256(outputsText) };
    const record = (stamps: readonly string[]): StageRecord => ({
      code: sortKeys(code as unknown as Json) as unknown as CodeIdentity,
      digests,
      host: hostName(),
      ...(this.label === undefined ? {} : { label: this.label }),
      memori: version,
      name: this.name,
      outputs: [...outputNames],
      pid: process.pid,
      ...(root === undefined ? {} : { root }), // keys in order: the text is written as built
      run,
      stamps: { inputs: stamps[0]!, outputs: stamps[1]! },
      time: new Date().toISOString(),
      values,
    });
    let committed: StageRecord | undefined;
    let replacedAny = false;
    const files = [
      [this.file("inputs"), inputsText],
      [this.file("outputs"), outputsText],
      [
        this.file("stage"),
        (stamps: readonly string[]) => recordText((committed = record(stamps)), true),
      ],
    ] as const;
    // The record's file as renamed, when it went through the lock: the index learns it.
    let renamed: Stats | undefined;
    const options = {
      onReplaced: () => {
        replacedAny = true;
      },
      newInPlace: true,
      carrier: carrier && {
        path: carrier.path,
        fill: (data: string) => carrier.fill(data),
        moved: () => (renamed = carrier.moved()),
      },
    };
    try {
      try {
        await writeFilesAtomic(files, options);
      } catch (error) {
        // The directory was removed since this process made it: make it again, once.
        if (codeOf(error) !== "ENOENT" || replacedAny) throw error;
        await this.ensureDir(true);
        await writeFilesAtomic(files, options);
      }
    } catch (error) {
      if (error instanceof CarrierLostError) throw error; // the lock's, said by the caller
      const previous = !replacedAny
        ? "The previous state, if any, was left as it was."
        : "The previous state was partly replaced: it reads as a cache miss, never as a result.";
      throw new MemoriError(
        "state-not-writable",
        `stage "${this.name}": could not write its state in ${this.dir} (${messageOf(error)}). ${previous}`,
        { stage: this.name, cause: error },
      );
    }
    if (renamed !== undefined)
      indexOf(this.dir)?.learn(this.name, recordStampOf(renamed), committed!, true);
    return committed!;
  }
}
