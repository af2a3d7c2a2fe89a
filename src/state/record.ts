/**
 * The commit record, `<name>.stage`, and the checks every state file gets when read.
 *
 * Format 3: the record carries what a decision needs (the inputs, the outputs and the files
 * written, as `values`), so a cached call reads one file. `.inputs` and `.outputs` stay beside
 * it, readable, with the same values; the record names their digests and their stamps (device,
 * inode, size, modification time as written), so two `stat` calls tell that they are still
 * the files it was committed with. The record's second line is the SHA-256 of the bytes after
 * it: an edit anywhere in the record is caught without re-serializing it.
 *
 * Format 2 records (digests, no values, no check) are still read: their `.inputs` and
 * `.outputs` are read and checked against the digests, and the next commit writes format 3.
 */
import type { CodeIdentity } from "../hashing/hashable.js";
import { sha256, type Sha256Hex } from "../hashing/files.js";
import { isFileEntry, sortKeys, type FileEntry, type Json } from "../hashing/values.js";

/**
 * Version of the state file format written (but see `FOUND_PATHS_FORMAT`, format 4). Formats
 * 2, 3 and 4 are read as they are (`READ_VERSIONS`); state of an older format is a miss that
 * upgrades it (`format-upgraded`).
 */
export const FORMAT_VERSION = 3;

/**
 * Format 4: format 3 whose inputs store a path the call's code found (a `read:`, `list:` or
 * `link:` key, a `read:` or `link:` path, `cwd:`) relative to the pipeline root, marked
 * (portable.ts). Written only then: a memori that reads format 3 alone would take
 * `list:\u0000root/data` for a relative path, list a folder that cannot exist and, where the
 * folder was gone when the state was written, find it as it was: a hit. It refuses format 4
 * (a miss) instead. A state with no such path stays format 3, for every memori.
 */
export const FOUND_PATHS_FORMAT = 4;

/** Versions read as they are: older ones are a miss that upgrades them. */
const READ_VERSIONS: readonly number[] = [2, 3, FOUND_PATHS_FORMAT];

/** Whether a record of this version carries its values and stamps (format 3 and later). */
export function carriesValues(version: number): boolean {
  return version >= 3;
}

/** What the record carries for a decision (format 3); the same as `.inputs` and `.outputs`. */
export interface RecordValues {
  inputs: Record<string, Json>;
  outputs: Record<string, Json>;
  /** Files named by inputs that the run created or changed, with their content afterwards. */
  written: FileEntry[];
}

/** The commit record in `<name>.stage`. */
export interface StageRecord {
  /** The format version it was written in ({@link FORMAT_VERSION} when this memori wrote it). */
  memori: number;
  /** The name of its state files: the stage's, or a map element's key. */
  name: string;
  /** Unique id of the run that wrote the triple. */
  run: string;
  /** When the run finished (ISO 8601). */
  time: string;
  /** The stage's code identity: its hash, and what it is made of, to name what changed. */
  code: CodeIdentity;
  /** The stage's output names. */
  outputs: string[];
  /** SHA-256 of the exact bytes of `.inputs` and `.outputs`. */
  digests: {
    /** Of `.inputs`. */
    inputs: Sha256Hex;
    /** Of `.outputs`. */
    outputs: Sha256Hex;
  };
  /**
   * Format 3: the host and process that committed it. The record is written into the call's
   * lock file before it takes the lock's place, so it names its owner as a lock does.
   */
  host?: string;
  /** Format 3: the id of the process that committed it, on `host`. */
  pid?: number;
  /** Format 3: the SHA-256 of the record's bytes after its check line (recordText). */
  check?: string;
  /** Format 3: the stamps `.inputs` and `.outputs` were written with (atomic.ts, `stampOf`). */
  stamps?: {
    /** Of `.inputs`. */
    inputs: string;
    /** Of `.outputs`. */
    outputs: string;
  };
  /** Format 3: the values of `.inputs` and `.outputs`. */
  values?: RecordValues;
  /**
   * A map element's label (`sub-02`), when its writer knew it: for people (`memori cache`
   * lists the element as `clean[sub-02]`), never part of a decision.
   */
  label?: string;
  /**
   * Format 3, when the writer had a pipeline root (`MEMORI_ROOT`, portable.ts): that root. A
   * reader without a root of its own places the paths stored relative to the root under this
   * one, where the writer saw them: a script run with the API reads the state `memori run`
   * wrote (before, every such state was unreadable to it, and every stage ran again).
   */
  root?: string;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isStringRecord(value: unknown): value is Record<string, string> {
  if (!isRecord(value)) return false;
  for (const key in value) if (typeof value[key] !== "string") return false;
  return true;
}

/**
 * The text of a state file whose keys are already sorted at every level (the writer builds it
 * so, to sort each value once): pretty-printed, newline at the end.
 */
export function prettyText(sorted: Record<string, Json>): string {
  return JSON.stringify(sorted, null, 2) + "\n";
}

const CHECK_START = '{\n  "check": "';
const CHECK_END = '",\n';
/** Where the checked bytes begin: after the check line. */
const CHECKED_FROM = CHECK_START.length + 64 + CHECK_END.length;

/**
 * The text of a format-3 record: its check line, then the record with sorted keys (its values
 * are sorted already when `sorted`, as the writer builds them).
 */
export function recordText(record: StageRecord, sorted = false): string {
  const value = record as unknown as Record<string, Json>;
  const body = prettyText(sorted ? value : (sortKeys(value) as Record<string, Json>)).slice(2);
  return `${CHECK_START}${sha256(body)}${CHECK_END}${body}`;
}

/**
 * Whether a format-3 record's text after its check line hashes to the check. The check line is
 * ASCII, so its characters are its bytes, and the rest hashes as the UTF-8 it was written as: a
 * file that is not UTF-8 (read with U+FFFD in its place) never matches.
 */
export function checkHolds(text: string): boolean {
  if (text.length < CHECKED_FROM) return false;
  if (
    !text.startsWith(CHECK_START) ||
    text.slice(CHECKED_FROM - CHECK_END.length, CHECKED_FROM) !== CHECK_END
  ) {
    return false;
  }
  return (
    sha256(text.slice(CHECKED_FROM)) ===
    text.slice(CHECK_START.length, CHECKED_FROM - CHECK_END.length)
  );
}

function checkValuesShape(values: unknown): boolean {
  return (
    isRecord(values) &&
    isRecord(values.inputs) &&
    isRecord(values.outputs) &&
    Array.isArray(values.written) &&
    values.written.every(isFileEntry)
  );
}

/**
 * What is wrong with a parsed record, or `undefined`. A version this memori does not read is
 * named; `text` is the record as read, for the check line of format 3.
 */
export function checkRecord(value: unknown, text: string): string | undefined {
  if (!isRecord(value)) return "is not a JSON object";
  if (typeof value.memori !== "number") return "has no format version";
  if (!READ_VERSIONS.includes(value.memori)) {
    return value.memori > FOUND_PATHS_FORMAT
      ? `was written by a newer memori (format ${value.memori}; this one reads ${FOUND_PATHS_FORMAT})`
      : `has old format ${value.memori}`;
  }
  if (carriesValues(value.memori) && !checkHolds(text)) {
    return "does not match the check on its second line (changed after it was written)";
  }
  const code = value.code;
  const digests = value.digests;
  if (
    typeof value.name !== "string" ||
    typeof value.run !== "string" ||
    typeof value.time !== "string" ||
    !isRecord(code) ||
    typeof code.hash !== "string" ||
    typeof code.self !== "string" ||
    !isStringRecord(code.callees) ||
    !Array.isArray(code.wrappers) ||
    !isStringRecord(code.extras) ||
    !Array.isArray(value.outputs) ||
    !value.outputs.every((o) => typeof o === "string") ||
    !isRecord(digests) ||
    typeof digests.inputs !== "string" ||
    typeof digests.outputs !== "string" ||
    (value.root !== undefined && typeof value.root !== "string") ||
    (carriesValues(value.memori) &&
      !(
        isRecord(value.stamps) &&
        typeof value.stamps.inputs === "string" &&
        typeof value.stamps.outputs === "string" &&
        checkValuesShape(value.values)
      ))
  ) {
    return "does not have the shape of a stage record";
  }
  return undefined;
}

/** What is wrong with a parsed `.inputs` (`field` "inputs") or `.outputs` of a record. */
export function checkValues(
  value: unknown,
  field: string,
  record: StageRecord,
): string | undefined {
  if (!isRecord(value)) return "is not a JSON object";
  if (value.memori !== record.memori)
    return `has format ${String(value.memori)}, not ${record.memori}`;
  if (value.run !== record.run)
    return "belongs to another run than the .stage record (interrupted write)";
  if (!isRecord(value[field])) return `has no "${field}" object`;
  if (field === "outputs" && !(Array.isArray(value.written) && value.written.every(isFileEntry))) {
    return 'has no "written" list of file entries';
  }
  return undefined;
}
