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
import { mkdir, stat } from "node:fs/promises";
import path from "node:path";
import { MemoriError, codeOf, messageOf } from "../errors.js";
import type { CodeIdentity } from "../hashing/hashable.js";
import { sha256, type KnownHash } from "../hashing/files.js";
import { fileEntries, sortKeys, type FileEntry, type Json } from "../hashing/values.js";
import { crypto } from "../lazy-modules.js";
import { readText, statSync } from "../untracked-fs.js";
import {
  entriesFromStored,
  entriesToStored,
  fromStored,
  mayHoldMarks,
  rootFromEnv,
  toStored,
} from "./portable.js";
import { hostName, stampOf, writeFilesAtomic, type CarrierFile } from "./atomic.js";
import {
  FORMAT_VERSION,
  checkRecord,
  checkValues,
  isRecord,
  prettyText,
  recordText,
  type StageRecord,
} from "./record.js";

export { FORMAT_VERSION, type StageRecord } from "./record.js";

/** A consistent state read back from disk. */
export interface StoredState {
  record: StageRecord;
  inputs: Record<string, Json>;
  outputs: Record<string, Json>;
  /** Files named by inputs that the run created or changed, with their content afterwards. */
  written: FileEntry[];
}

/** The files a state says the stage wrote (its outputs, and files written through arguments), once each. */
export function trackedFiles(state: StoredState): FileEntry[] {
  const byPath = new Map<string, FileEntry>();
  for (const entry of [...fileEntries(state.outputs), ...state.written])
    byPath.set(entry.file, entry);
  return [...byPath.values()];
}

/** Every file a state refers to: its inputs' files and the files the stage wrote. */
export function referencedFiles(state: StoredState): FileEntry[] {
  return [...fileEntries(state.inputs), ...trackedFiles(state)];
}

/** The outcome of reading a stage's state. */
export type ReadResult =
  | { kind: "absent" }
  | {
      kind: "unreadable";
      file: string;
      detail: string;
      /** Written by an older memori in this format: a miss that upgrades it, not a problem. */
      outdated?: number;
    }
  | { kind: "ok"; state: StoredState };

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
  ) {
    this.#root = root;
  }

  /** The pipeline root, if any (see the constructor). */
  get root(): string | undefined {
    return this.#root === undefined ? rootFromEnv() : (this.#root ?? undefined);
  }

  /** The path of one of the state files. */
  file(kind: Extension | "files" | "trees"): string {
    return path.join(this.dir, `${this.name}.${kind}`);
  }

  /** Read and check the state. Never throws for what is on disk: bad state is "unreadable". */
  read(): ReadResult {
    // State files are small: a synchronous read (~6 us) costs far less than a thread-pool
    // round trip (~90 us with fs/promises), and this is the path every cached stage takes.
    // The commit record first: without it the state is absent, whatever else is there.
    let text: string;
    try {
      text = readText(this.file("stage"));
    } catch (error) {
      if (codeOf(error) === "ENOENT") return { kind: "absent" };
      return { kind: "unreadable", file: this.file("stage"), detail: messageOf(error) };
    }
    const parsed = this.parse("stage", text);
    if (!parsed.ok) return parsed.unreadable;
    const problem = checkRecord(parsed.value, text);
    if (problem !== undefined) {
      const version = isRecord(parsed.value) ? parsed.value.memori : undefined;
      const outdated =
        typeof version === "number" &&
        Number.isInteger(version) &&
        version >= 1 &&
        version < FORMAT_VERSION;
      return {
        kind: "unreadable",
        file: this.file("stage"),
        detail: problem,
        ...(outdated ? { outdated: version } : {}),
      };
    }
    const record = parsed.value as StageRecord;
    const { values, stamps } = record;
    // One read: `.inputs` and `.outputs` are still the files the record was committed with.
    const read: ReadResult =
      record.memori === FORMAT_VERSION &&
      values !== undefined &&
      stamps !== undefined &&
      this.stamp("inputs") === stamps.inputs &&
      this.stamp("outputs") === stamps.outputs
        ? { kind: "ok", state: { record, ...values } }
        : this.readValues(record);
    return read.kind === "ok" && mayHoldMarks(text) ? this.placed(read.state) : read;
  }

  /**
   * A state whose paths inside the pipeline root are as this process sees them (portable.ts):
   * under this process's root, or, without one, under the root the record was written with.
   */
  private placed(state: StoredState): ReadResult {
    const root = this.root ?? state.record.root;
    const inputs = fromStored(state.inputs, root);
    const outputs = fromStored(state.outputs, root);
    const written = entriesFromStored(state.written, root);
    for (const placed of [inputs, outputs, written]) {
      if (!placed.ok) {
        const detail = `records ${JSON.stringify(placed.path)} inside a pipeline root, and this process has none (set MEMORI_ROOT, as \`memori run\` does)`;
        return { kind: "unreadable", file: this.file("stage"), detail };
      }
    }
    return {
      kind: "ok",
      state: {
        ...state,
        inputs: (inputs as { value: Record<string, Json> }).value,
        outputs: (outputs as { value: Record<string, Json> }).value,
        written: (written as { value: FileEntry[] }).value,
      },
    };
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

  /** A state file's stamp now, or `undefined` if it cannot be had. */
  private stamp(kind: "inputs" | "outputs"): string | undefined {
    try {
      return stampOf(statSync(this.file(kind)));
    } catch {
      return undefined; // gone (or unreadable): the full check says which
    }
  }

  private parse(
    kind: Extension,
    text: string,
  ): { ok: true; value: unknown } | { ok: false; unreadable: ReadResult } {
    try {
      return { ok: true, value: JSON.parse(text) };
    } catch (error) {
      // V8's message quotes the text where it failed, line breaks and all, and ends with the
      // same verdict: one line, said once (it goes into reasons, tables and warnings).
      const why = messageOf(error)
        .replace(/\r?\n/g, "\\n")
        .replace(/ is not valid JSON$/, "");
      const detail = `is not valid JSON (${why})`;
      return { ok: false, unreadable: { kind: "unreadable", file: this.file(kind), detail } };
    }
  }

  /**
   * The state from `.inputs` and `.outputs`, checked against the record's digests: format 2,
   * or format 3 when their stamps changed (copied, moved, restored, or written to).
   */
  private readValues(record: StageRecord): ReadResult {
    const read: Partial<Record<"inputs" | "outputs", unknown>> = {};
    for (const kind of ["inputs", "outputs"] as const) {
      let text: string;
      try {
        text = readText(this.file(kind));
      } catch (error) {
        const detail = codeOf(error) === "ENOENT" ? "is missing" : messageOf(error);
        return { kind: "unreadable", file: this.file(kind), detail };
      }
      const parsed = this.parse(kind, text);
      if (!parsed.ok) return parsed.unreadable;
      const problem =
        checkValues(parsed.value, kind, record) ??
        (sha256(text) === record.digests[kind]
          ? undefined
          : "does not match the digest in the .stage record (changed after it was written)");
      if (problem !== undefined)
        return { kind: "unreadable", file: this.file(kind), detail: problem };
      read[kind] = parsed.value;
    }
    return {
      kind: "ok",
      state: {
        record,
        inputs: (read.inputs as { inputs: Record<string, Json> }).inputs,
        outputs: (read.outputs as { outputs: Record<string, Json> }).outputs,
        written: (read.outputs as { written: FileEntry[] }).written,
      },
    };
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
    const values = {
      inputs: toStored(sortKeys(inputs) as Record<string, Json>, root),
      outputs: toStored(sortKeys(outputs) as Record<string, Json>, root),
      written: entriesToStored(written, root)
        .map((e) => ({ file: e.file, hash: e.hash }))
        .sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0)),
    };
    const inputsText = prettyText({ inputs: values.inputs, memori: FORMAT_VERSION, run });
    const outputsText = prettyText({
      memori: FORMAT_VERSION,
      outputs: values.outputs,
      run,
      written: values.written as unknown as Json,
    });
    const digests = { inputs: sha256(inputsText), outputs: sha256(outputsText) };
    const record = (stamps: readonly string[]): StageRecord => ({
      code: sortKeys(code as unknown as Json) as unknown as CodeIdentity,
      digests,
      host: hostName(),
      memori: FORMAT_VERSION,
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
    const options = {
      onReplaced: () => {
        replacedAny = true;
      },
      newInPlace: true,
      carrier,
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
      const previous = !replacedAny
        ? "The previous state, if any, was left as it was."
        : "The previous state was partly replaced: it reads as a cache miss, never as a result.";
      throw new MemoriError(
        "state-not-writable",
        `stage "${this.name}": could not write its state in ${this.dir} (${messageOf(error)}). ${previous}`,
        { stage: this.name, cause: error },
      );
    }
    return committed!;
  }
}
