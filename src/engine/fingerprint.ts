/**
 * A call's identity as a value: the code (normalized AST, hashable callees, what wrappers add),
 * the encoded inputs (files by content, watched environment variables as `env:NAME`) and the
 * output names. It is computed once per call; comparing it with a stored state is pure and
 * gives the {@link Reason} for the first difference. Whether the files a state recorded are
 * still intact is a separate step, {@link verifyFiles}, since it reads files.
 */
import stringify from "fast-json-stable-stringify";
import type { Reason } from "../decision.js";
import path from "node:path";
import type { DirectoryRule, HashScope } from "../hashing/files.js";
import {
  codeIdentity,
  knownCodeIdentity,
  type CodeFacts,
  type CodeIdentity,
  type CodePolicy,
} from "../hashing/hashable.js";
import {
  encodePlainValue,
  encodeValueNow,
  fileEntries,
  isFileEntry,
  mapStored,
  type FileEntry,
  type Json,
} from "../hashing/values.js";
import { trackedFiles, type StoredState } from "../state/store.js";
import type { FileHasher } from "../hashing/files.js";
import { foundNow, hasFound, withoutFound, type Found } from "./found.js";
import { changedPair, firstDifference, sameJson } from "./difference.js";
import type { AnyFn } from "./signature.js";

/** What a fingerprint is taken of (a stage's definition has all of it). */
export interface Fingerprinted {
  readonly name: string;
  readonly fn: AnyFn;
  /** How the code counts (automatic, a version, ignored). */
  readonly code?: CodePolicy;
  /** Watched environment variables. */
  readonly env: readonly string[];
  readonly hasher: FileHasher;
  readonly outputs: readonly string[];
  /** Globs of paths inside directories that do not count. */
  readonly ignore?: readonly string[];
  /** Parameters whose paths count by name, not content. */
  readonly byName?: readonly string[];
  /** Where its state lives (left out of the directories it hashes). */
  readonly hashOutput?: string | undefined;
  /**
   * The state directory its state is one part of, left out whole instead (`memori -d DIR -p`:
   * each element's state is `DIR/parallel<k>`, beside the others' and the run records).
   */
  readonly stateRoot?: string | undefined;
}

/**
 * The last rule made, with what it was made from: the stages of a run mostly share their
 * state directory and ignore no path, hence their rule.
 */
let lastRule:
  | {
      hashOutput: string | undefined;
      cwd: string;
      ignore: string[] | undefined;
      rule: DirectoryRule;
    }
  | undefined;

function sameList(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * How a stage hashes directories: its `ignore` globs, and never its own state (a project
 * directory passed as an argument often holds it).
 */
export function directoryRule(
  def: Pick<Fingerprinted, "ignore" | "hashOutput" | "stateRoot">,
): DirectoryRule {
  const hashOutput = def.stateRoot ?? def.hashOutput;
  // A relative hashOutput is resolved against the working directory of the moment.
  const cwd = hashOutput !== undefined && !path.isAbsolute(hashOutput) ? process.cwd() : "";
  const last = lastRule;
  if (
    last !== undefined &&
    last.hashOutput === hashOutput &&
    last.cwd === cwd &&
    sameList(last.ignore, def.ignore)
  ) {
    return last.rule;
  }
  const ignore = def.ignore === undefined ? undefined : [...def.ignore];
  const rule = { ignore, skip: hashOutput === undefined ? [] : [path.resolve(hashOutput)] };
  lastRule = { hashOutput, cwd, ignore, rule };
  return rule;
}

/** What identifies a call. */
export interface Fingerprint {
  readonly code: CodeIdentity;
  /** Inputs as they are recorded in `.inputs`: bound arguments, then `env:NAME` entries. */
  readonly inputs: Record<string, Json>;
  readonly outputs: readonly string[];
  /** Values the code reaches that cannot be hashed, left out of `code` (named in a warning). */
  readonly unhashable?: readonly string[];
  /** How directory inputs were hashed. */
  readonly rule?: DirectoryRule;
}

/** Encode named values for a state file (`where.key` names each in errors). */
export async function encodeAll(
  def: Pick<Fingerprinted, "name" | "hasher" | "ignore" | "byName" | "hashOutput">,
  values: Readonly<Record<string, unknown>>,
  where: string,
  scope: HashScope,
  rule: DirectoryRule = directoryRule(def),
): Promise<Record<string, Json>> {
  return encodeAllNow(def, values, where, scope, rule);
}

/**
 * {@link encodeAll}, at once (no promise) when no value holds a string that could name a file.
 * Values are encoded in order, each checked whole before its files are hashed.
 */
export function encodeAllNow(
  def: Pick<Fingerprinted, "name" | "hasher" | "ignore" | "byName" | "hashOutput">,
  values: Readonly<Record<string, unknown>>,
  where: string,
  scope: HashScope,
  rule: DirectoryRule = directoryRule(def),
): Record<string, Json> | Promise<Record<string, Json>> {
  const out: Record<string, Json> = {};
  const context = { stage: def.name, hasher: def.hasher, scope, rule };
  const keys = Object.keys(values);
  for (let i = 0; i < keys.length; i++) {
    const json = encodeOne(def, values, keys[i]!, where, context);
    // From the first value with files on, one after the other.
    if (json instanceof Promise) return encodeRest(def, values, keys, i, json, where, context, out);
    out[keys[i]!] = json;
  }
  return out;
}

type Encoding = Parameters<typeof encodeValueNow>[2];

function encodeOne(
  def: Pick<Fingerprinted, "name" | "byName">,
  values: Readonly<Record<string, unknown>>,
  key: string,
  where: string,
  context: Encoding,
): Json | Promise<Json> {
  return def.byName !== undefined && def.byName.length > 0 && def.byName.includes(key)
    ? encodePlainValue(values[key], `${where}.${key}`, def.name)
    : encodeValueNow(values[key], `${where}.${key}`, context);
}

async function encodeRest(
  def: Pick<Fingerprinted, "name" | "byName">,
  values: Readonly<Record<string, unknown>>,
  keys: readonly string[],
  i: number,
  first: Promise<Json>,
  where: string,
  context: Encoding,
  out: Record<string, Json>,
): Promise<Record<string, Json>> {
  out[keys[i]!] = await first;
  for (let j = i + 1; j < keys.length; j++) {
    out[keys[j]!] = await encodeOne(def, values, keys[j]!, where, context);
  }
  return out;
}

/** The fingerprint of calling `def` with `inputArgs`. */
export async function takeFingerprint(
  def: Fingerprinted,
  inputArgs: Readonly<Record<string, unknown>>,
  scope: HashScope,
  previous?: StoredState,
): Promise<Fingerprint> {
  return fingerprintNow(def, inputArgs, scope, previous);
}

/**
 * {@link takeFingerprint}, at once (no promise) when the code identity is known and no input
 * holds a string that could name a file. Throws at once for an input that cannot be stored.
 */
export function fingerprintNow(
  def: Fingerprinted,
  inputArgs: Readonly<Record<string, unknown>>,
  scope: HashScope,
  previous?: StoredState,
): Fingerprint | Promise<Fingerprint> {
  const facts = knownCodeIdentity(def.fn, def.code);
  if (facts === undefined) {
    return codeIdentity(def.fn, def.code).then((found) =>
      fingerprintWith(found, def, inputArgs, scope, previous),
    );
  }
  return fingerprintWith(facts, def, inputArgs, scope, previous);
}

function fingerprintWith(
  facts: CodeFacts,
  def: Fingerprinted,
  inputArgs: Readonly<Record<string, unknown>>,
  scope: HashScope,
  previous: StoredState | undefined,
): Fingerprint | Promise<Fingerprint> {
  // Variables the code reads as process.env.NAME count as if listed in `env` (each name once,
  // where it first appears).
  const names = facts.env.length === 0 ? def.env : [...def.env, ...facts.env];
  const environment: Record<string, string | undefined> = {};
  for (let i = 0; i < names.length; i++) environment[`env:${names[i]}`] = process.env[names[i]!];
  // What the last run's code found (found.ts): the files it read (hashed with the inputs),
  // its listings and working directory now.
  const rule = directoryRule(def);
  const { reads, lists } =
    previous === undefined ? NOTHING_FOUND : foundNow(previous.inputs, rule.skip ?? []);
  const all =
    names.length === 0 && reads === undefined
      ? inputArgs
      : { ...inputArgs, ...environment, ...reads };
  const make = (inputs: Record<string, Json>): Fingerprint => ({
    code: facts.code,
    inputs: lists === undefined ? inputs : { ...inputs, ...lists },
    outputs: def.outputs,
    unhashable: facts.unhashable,
    rule,
  });
  const inputs = encodeAllNow(def, all, "inputs", scope, rule);
  return inputs instanceof Promise ? inputs.then(make) : make(inputs);
}

const NOTHING_FOUND: Found = {};

/**
 * The fingerprint of the same call against another state's found inputs (a read-only cache's,
 * whose code found files the call's own state may not have): the files, listings and working
 * directory that state recorded, as they are now, in place of the call's own.
 */
export function fingerprintAgainst(
  def: Fingerprinted,
  fingerprint: Fingerprint,
  state: StoredState,
  scope: HashScope,
): Fingerprint | Promise<Fingerprint> {
  const rule = fingerprint.rule ?? directoryRule(def);
  const { reads, lists } = foundNow(state.inputs, rule.skip ?? []);
  if (reads === undefined && lists === undefined && !hasFound(fingerprint.inputs)) {
    return fingerprint;
  }
  const own = withoutFound(fingerprint.inputs);
  const make = (found: Record<string, Json>): Fingerprint => ({
    ...fingerprint,
    inputs: { ...own, ...found, ...lists },
  });
  if (reads === undefined) return make({});
  const encoded = encodeAllNow(def, reads, "inputs", scope, rule);
  return encoded instanceof Promise ? encoded.then(make) : make(encoded);
}

/** Replace file entries for the given paths by the paths themselves. */
function filesAsPaths(
  values: Record<string, Json>,
  paths: ReadonlySet<string>,
): Record<string, Json> {
  if (paths.size === 0) return values;
  return mapStored(values, (entry) => (paths.has(entry.file) ? entry.file : entry)) as Record<
    string,
    Json
  >;
}

function outputNamesChanged(old: string[], now: readonly string[]): Reason {
  return { kind: "output-names-changed", old, new: [...now] };
}

/**
 * How a stored state differs from the fingerprint, in order: code, output names, inputs,
 * outputs present. `cached` when it does not (its files still have to be verified).
 */
export function compare(
  fingerprint: Fingerprint,
  state: StoredState,
  stage: string,
  tracked: readonly FileEntry[] = trackedFiles(state),
  inside?: (file: string, from: string, to: string) => string[] | undefined,
): Reason {
  const { record } = state;
  const { code } = fingerprint;
  if (record.code.hash !== code.hash) {
    const changed: string[] = [];
    if (record.code.self !== code.self) changed.push(stage);
    const names = new Set([...Object.keys(record.code.callees), ...Object.keys(code.callees)]);
    for (const name of [...names].sort()) {
      if (record.code.callees[name] !== code.callees[name]) changed.push(name);
    }
    const extras = new Set([...Object.keys(record.code.extras), ...Object.keys(code.extras)]);
    for (const name of [...extras].sort()) {
      if (record.code.extras[name] !== code.extras[name]) changed.push(name);
    }
    if (stringify(record.code.wrappers) !== stringify(code.wrappers)) changed.push("wrappers");
    return { kind: "function-changed", changed };
  }
  if (!sameJson(record.outputs, fingerprint.outputs as Json)) {
    return outputNamesChanged(record.outputs, fingerprint.outputs);
  }
  // A file the stage writes (an output, or a path argument it created or changed) is not an
  // input by content: its content is verified to be what the stage left (verifyFiles). Nor is
  // a directory argument it writes into (a place to write, which other stages may share): the
  // files it wrote there are verified, and files it reads there are reads. Compare such inputs
  // by path, on both sides.
  let storedInputs = state.inputs;
  let currentInputs = fingerprint.inputs;
  if (tracked.length > 0) {
    const writtenPaths = new Set(tracked.map((e) => e.file));
    const trackedAbsolute = tracked.map((t) => path.resolve(t.file));
    const storedEntries = fileEntries(state.inputs);
    // A directory holding files it wrote, on either side (one it made is a plain path in the
    // state, and a directory now).
    for (const entry of [...storedEntries, ...fileEntries(fingerprint.inputs)]) {
      const inside = path.resolve(entry.file) + path.sep;
      if (trackedAbsolute.some((t) => t.startsWith(inside))) writtenPaths.add(entry.file);
    }
    // Rebuilding the inputs with paths for entries changes nothing where no entry is one of them.
    const named = (e: FileEntry) => writtenPaths.has(e.file);
    if (storedEntries.some(named) || fileEntries(fingerprint.inputs).some(named)) {
      storedInputs = filesAsPaths(state.inputs, writtenPaths);
      currentInputs = filesAsPaths(fingerprint.inputs, writtenPaths);
    }
  }
  if (!sameJson(storedInputs, currentInputs)) {
    const names = [
      ...new Set([...Object.keys(storedInputs), ...Object.keys(currentInputs)]),
    ].sort();
    for (const name of names) {
      const old = storedInputs[name];
      const now = currentInputs[name];
      if (stringify(old) !== stringify(now)) {
        const at = firstDifference("", old, now);
        const paths =
          isFileEntry(at.old) && isFileEntry(at.now) && at.old.file === at.now.file
            ? inside?.(at.old.file, at.old.hash, at.now.hash)
            : undefined;
        const [shownOld, shownNew] = changedPair(at.old, at.now);
        const reason = {
          kind: "input-changed",
          name,
          ...(at.name === "" ? {} : { part: at.name }),
          old: shownOld,
          new: shownNew,
        } as const;
        return paths === undefined ? reason : { ...reason, inside: paths };
      }
    }
  }
  const names = fingerprint.outputs;
  for (let i = 0; i < names.length; i++) {
    if (!(names[i]! in state.outputs)) return outputNamesChanged(record.outputs, names);
  }
  return { kind: "cached" };
}

/**
 * Whether every file a state says the stage wrote (outputs, files written through arguments:
 * `trackedFiles(state)`) still has the content it left: the reason if not.
 */
export async function verifyFiles(
  tracked: readonly FileEntry[],
  def: Pick<Fingerprinted, "hasher" | "ignore" | "hashOutput">,
  scope: HashScope,
): Promise<Reason | undefined> {
  for (const entry of tracked) {
    const hash = await def.hasher.hash(entry.file, scope, directoryRule(def));
    if (hash === undefined) return { kind: "output-missing", path: entry.file };
    if (hash !== entry.hash) {
      const inside = def.hasher.directories.changesInside(
        path.resolve(entry.file),
        entry.hash,
        hash,
      );
      return { kind: "output-modified", path: entry.file, ...(inside ? { inside } : {}) };
    }
  }
  return undefined;
}
