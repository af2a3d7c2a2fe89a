/**
 * Reading a stage's state back: the commit record (from `.stage`, or from the directory's index
 * inside a run: state-index.ts), checked, with the values it carries while `.inputs` and
 * `.outputs` are the files it stamped, or read from them and checked against its digests.
 * Never throws for what is on disk: bad state is `unreadable`, a miss. See store.ts for the
 * layout and the write.
 */
import { closeSync, fstatSync } from "node:fs";
import { codeOf, messageOf } from "../errors.js";
import { sha256 } from "../hashing/files.js";
import { fileEntries, type FileEntry, type Json } from "../hashing/values.js";
import { openSync, readOpenText, readText, statSync } from "../untracked-fs.js";
import {
  absoluteFound,
  entriesFromStored,
  fromStored,
  inputsFromStored,
  mayHoldMarks,
} from "./portable.js";
import {
  FORMAT_VERSION,
  carriesValues,
  checkRecord,
  checkValues,
  isRecord,
  type StageRecord,
} from "./record.js";
import { indexOf, type DirectoryIndex } from "./state-index.js";
import { hasStamp, recordStampOf } from "./stamp.js";

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

/** Where a state is: what reading it needs of its store. */
export interface StateFiles {
  readonly dir: string;
  readonly name: string;
  /** The pipeline root, if any (portable.ts). */
  readonly root: string | undefined;
  file(kind: Extension): string;
}

/**
 * Read and check a state. Inside a run the directory's index (state-index.ts) may give the
 * commit record, the `.stage` file unread; `indexed: false` (a read-only cache) reads it.
 */
export function readState(at: StateFiles, indexed: boolean): ReadResult {
  const index = indexed ? indexOf(at.dir) : undefined;
  if (index !== undefined) return readIndexed(at, index);
  // State files are small: a synchronous read (~6 us) costs far less than a thread-pool
  // round trip (~90 us with fs/promises), and this is the path every cached stage takes.
  // The commit record first: without it the state is absent, whatever else is there.
  let text: string;
  try {
    text = readText(at.file("stage"));
  } catch (error) {
    if (codeOf(error) === "ENOENT") return { kind: "absent" };
    return { kind: "unreadable", file: at.file("stage"), detail: messageOf(error) };
  }
  return fromText(at, text);
}

/**
 * The state, with the commit record from the directory's index when it knows the `.stage`
 * there now (a `stat`, compared with the stamp it learned; taken only for a name it has):
 * otherwise read from the open file, and learned with that file's own stamp (`fstat`).
 */
function readIndexed(at: StateFiles, index: DirectoryIndex): ReadResult {
  index.touch();
  const file = at.file("stage");
  if (index.has(at.name)) {
    let known: string | undefined;
    try {
      const stats = statSync(file, { throwIfNoEntry: false });
      if (stats === undefined) {
        index.forget(at.name);
        return { kind: "absent" };
      }
      known = index.recordText(at.name, stats);
    } catch (error) {
      return { kind: "unreadable", file, detail: messageOf(error) };
    }
    const record = known === undefined ? undefined : knownRecord(at, known);
    if (record !== undefined) return withValues(at, record, known!);
  }
  let text: string;
  let stamp: string;
  try {
    const fd = openSync(file, "r");
    try {
      stamp = recordStampOf(fstatSync(fd));
      text = readOpenText(fd);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    if (codeOf(error) !== "ENOENT") return { kind: "unreadable", file, detail: messageOf(error) };
    index.forget(at.name);
    return { kind: "absent" };
  }
  const read = fromText(at, text);
  if (read.kind === "ok") index.learn(at.name, stamp, read.state.record);
  else index.forget(at.name);
  return read;
}

/** A record as the index has it, if it is one of this state's. */
function knownRecord(at: StateFiles, json: string): StageRecord | undefined {
  try {
    const value: unknown = JSON.parse(json);
    return isRecord(value) && value.name === at.name && typeof value.memori === "number"
      ? (value as unknown as StageRecord)
      : undefined;
  } catch {
    return undefined;
  }
}

/** The state from a commit record's text, checked. */
function fromText(at: StateFiles, text: string): ReadResult {
  const parsed = parse(at, "stage", text);
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
      file: at.file("stage"),
      detail: problem,
      ...(outdated ? { outdated: version } : {}),
    };
  }
  return withValues(at, parsed.value as StageRecord, text);
}

/** The state of a checked commit record (`text`: the record's text, or its JSON). */
function withValues(at: StateFiles, record: StageRecord, text: string): ReadResult {
  const { values, stamps } = record;
  // One read: `.inputs` and `.outputs` are still the files the record was committed with.
  const read: ReadResult =
    carriesValues(record.memori) &&
    values !== undefined &&
    stamps !== undefined &&
    stamped(at, "inputs", stamps.inputs) &&
    stamped(at, "outputs", stamps.outputs)
      ? { kind: "ok", state: { record, ...values } }
      : readValues(at, record);
  if (read.kind !== "ok") return read;
  return mayHoldMarks(text) || writtenElsewhere(at, record) !== undefined
    ? placed(at, read.state)
    : read;
}

/**
 * The root a state was written with, when this process has another one (a copy of the
 * project, a node that mounts it elsewhere): what its code found inside that root is placed
 * under this one, even where an older memori stored it absolute (portable.ts).
 */
function writtenElsewhere(at: StateFiles, record: StageRecord): string | undefined {
  if (record.root === undefined) return undefined;
  const root = at.root;
  return root !== undefined && root !== record.root ? record.root : undefined;
}

/**
 * A state whose paths inside the pipeline root are as this process sees them (portable.ts):
 * under this process's root, or, without one, under the root the record was written with.
 */
function placed(at: StateFiles, state: StoredState): ReadResult {
  const unreadable = (detail: string): ReadResult => ({
    kind: "unreadable",
    file: at.file("stage"),
    detail,
  });
  const root = at.root ?? state.record.root;
  if (state.record.root === undefined) {
    // Written under a root by a memori that did not name it: whether a path its code found
    // was inside it (a copy of the project would look at the original's) cannot be told.
    const found = absoluteFound(state.inputs);
    if (found !== undefined)
      return unreadable(
        `records ${JSON.stringify(found)}, found by its code, from under a pipeline root it does not name (written by an older memori): it cannot tell whether that path is the project's`,
      );
  }
  const inputs = inputsFromStored(state.inputs, root, writtenElsewhere(at, state.record));
  const outputs = fromStored(state.outputs, root);
  const written = entriesFromStored(state.written, root);
  for (const placed of [inputs, outputs, written]) {
    if (!placed.ok) {
      return unreadable(
        "twice" in placed
          ? `records two inputs its code found at ${JSON.stringify(placed.path)} under this process's pipeline root`
          : `records ${JSON.stringify(placed.path)} inside a pipeline root, and this process has none (set MEMORI_ROOT, as \`memori run\` does)`,
      );
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

/** Whether a state file is still the one stamped `stamp` (stamp.ts). */
function stamped(at: StateFiles, kind: "inputs" | "outputs", stamp: unknown): boolean {
  if (typeof stamp !== "string") return false;
  try {
    const stats = statSync(at.file(kind), { throwIfNoEntry: false });
    return stats !== undefined && hasStamp(stamp, stats);
  } catch {
    return false; // unreadable: the full check says why
  }
}

function parse(
  at: StateFiles,
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
    return { ok: false, unreadable: { kind: "unreadable", file: at.file(kind), detail } };
  }
}

/**
 * The state from `.inputs` and `.outputs`, checked against the record's digests: format 2,
 * or format 3 when their stamps changed (copied, moved, restored, or written to).
 */
function readValues(at: StateFiles, record: StageRecord): ReadResult {
  const read: Partial<Record<"inputs" | "outputs", unknown>> = {};
  for (const kind of ["inputs", "outputs"] as const) {
    let text: string;
    try {
      text = readText(at.file(kind));
    } catch (error) {
      const detail = codeOf(error) === "ENOENT" ? "is missing" : messageOf(error);
      return { kind: "unreadable", file: at.file(kind), detail };
    }
    const parsed = parse(at, kind, text);
    if (!parsed.ok) return parsed.unreadable;
    const problem =
      checkValues(parsed.value, kind, record) ??
      (sha256(text) === record.digests[kind]
        ? undefined
        : "does not match the digest in the .stage record (changed after it was written)");
    if (problem !== undefined) return { kind: "unreadable", file: at.file(kind), detail: problem };
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
