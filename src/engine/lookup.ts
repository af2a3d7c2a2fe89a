/**
 * The one decision ladder: is there a valid result for this call, and if not, why? In order:
 * not memoized; forced to run (`forceRun`, `MEMORI_REFRESH`); forced to skip (`forceSkip`);
 * the call's own state; the read-only caches. A real run and a dry run both ask here, so a
 * dry run is the run stopped after this step. Reading only: nothing is logged or written.
 */
import path from "node:path";
import type { Reason } from "../decision.js";
import { MemoriError } from "../errors.js";
import type { HashScope } from "../hashing/files.js";
import { decodeValue, fileEntries, type FileEntry } from "../hashing/values.js";
import { forcedToRun, type RunOptions } from "./run-options.js";
import type { StateLocation } from "../state/location.js";
import {
  trackedFiles,
  type ReadResult,
  type StateStore,
  type StoredState,
} from "../state/store.js";
import { compare, fingerprintAgainst, verifyFiles, type Fingerprint } from "./fingerprint.js";
import type { StageDef } from "./node.js";

/** A state found valid for the call. */
export interface Hit {
  hit: true;
  /** `cached` (from a read-only cache: with `from`), or `forced` for `forceSkip`. */
  reason: Reason;
  /** The decoded outputs (without aliases). */
  outputs: Record<string, unknown>;
  state: StoredState;
  /** The read-only cache it came from: record it in the call's own state. */
  from?: string;
  /** From a read-only cache: the call's fingerprint with what that cache's run found. */
  fingerprint?: Fingerprint;
  /** With `forceSkip`: how the state differs from the call, if it does (a warning). */
  mismatch?: Reason;
}

/** No valid state: the call has to run. */
export interface Miss {
  hit: false;
  reason: Reason;
  /** Read-only caches that had a state of this call, and why it did not fit. */
  rejected: { dir: string; reason: Reason }[];
}

export type Lookup = Hit | Miss;

/** What a lookup works from. */
export interface LookupInput {
  readonly def: StageDef;
  /** Where the call's state lives; `undefined`: not memoized. */
  readonly location: StateLocation | undefined;
  /** The call's own state, as read when the call started. */
  readonly previous: ReadResult;
  readonly fingerprint: Fingerprint | undefined;
  readonly options: RunOptions;
  /** The pipeline's read-only caches (the stage's own come after them). */
  readonly readonlyCaches: readonly string[];
  readonly scope: HashScope;
  /** `MEMORI_REFRESH`: every call runs again, unless it is told to skip. */
  readonly refresh: boolean;
  /** Consult the call's own state only (the second look, under the lock). */
  readonly ownOnly?: boolean;
}

/**
 * The files a state says the stage wrote (`trackedFiles`), without copying anything when it
 * says it wrote none.
 */
export function trackedOf(state: StoredState): FileEntry[] {
  const returned = fileEntries(state.outputs);
  return returned.length === 0 && state.written.length === 0 ? returned : trackedFiles(state);
}

/** {@link insideOf} by hasher (stages share a few). */
const insides = new WeakMap<
  object,
  (file: string, from: string, to: string) => string[] | undefined
>();

/** The paths inside a directory that changed between two of its hashes, as far as known. */
function insideOf(
  def: Pick<StageDef, "hasher">,
): (file: string, from: string, to: string) => string[] | undefined {
  let inside = insides.get(def.hasher);
  if (inside === undefined) {
    const { directories } = def.hasher;
    inside = (file, from, to) => directories.changesInside(path.resolve(file), from, to);
    insides.set(def.hasher, inside);
  }
  return inside;
}

function decodeOutputs(def: CheckedStage, state: StoredState): Record<string, unknown> {
  const outputs: Record<string, unknown> = {};
  const names = def.outputs;
  for (let i = 0; i < names.length; i++) outputs[names[i]!] = decodeValue(state.outputs[names[i]!]);
  return outputs;
}

/**
 * Whether a stored state (the call's own, or a read-only cache's) is a valid result for the
 * call: its decoded outputs, or the reason it is not.
 */
export async function validResult(
  input: LookupInput,
  fingerprint: Fingerprint,
  state: StoredState,
  store: StateStore,
): Promise<Valid> {
  return validState(input.def, fingerprint, state, store, input.scope);
}

/** A state's decoded outputs, or why it gives none. */
export type Valid = { ok: true; outputs: Record<string, unknown> } | { ok: false; reason: Reason };

/** What checking a state needs of the stage: its name, output names, how it hashes files. */
export type CheckedStage = Pick<
  StageDef,
  "name" | "outputs" | "hasher" | "ignore" | "hashOutput" | "stateRoot"
>;

/**
 * Whether a stored state is a valid result for the fingerprint: `cached` by its values (code,
 * output names, inputs, outputs present: `compare`), then by the files the stage wrote
 * (`verifyFiles`), and its outputs decoded. What {@link validResult} decides, for any stage that
 * has what checking needs (`memori cache why` asks it of a state alone). At once (no promise)
 * for a state that says the stage wrote no file, or that differs before its files.
 */
export function validState(
  def: CheckedStage,
  fingerprint: Fingerprint,
  state: StoredState,
  store: StateStore,
  scope: HashScope,
  tracked: readonly FileEntry[] = trackedOf(state),
): Valid | Promise<Valid> {
  const reason = compare(fingerprint, state, def.name, tracked, insideOf(def));
  if (reason.kind !== "cached" || tracked.length === 0) return validOf(def, state, store, reason);
  return verifyFiles(tracked, def, scope).then((tampered) =>
    validOf(def, state, store, tampered ?? reason),
  );
}

/** A state's outputs when `reason` says it is valid (`cached`), or why it is not. */
function validOf(def: CheckedStage, state: StoredState, store: StateStore, reason: Reason): Valid {
  return reason.kind === "cached" ? decoded(def, state, store) : { ok: false, reason };
}

/** The outputs of a state found valid, or why they cannot be read. */
function decoded(def: CheckedStage, state: StoredState, store: StateStore): Valid {
  try {
    return { ok: true, outputs: decodeOutputs(def, state) };
  } catch (error) {
    const detail = `holds a value memori did not write (${(error as Error).message})`;
    return { ok: false, reason: { kind: "state-unreadable", file: store.file("outputs"), detail } };
  }
}

/** Why the call's own state gives no result, before comparing anything. */
function ownStateReason(previous: ReadResult): Reason {
  if (previous.kind === "absent") return { kind: "first-run" };
  if (previous.kind === "unreadable") {
    if (previous.outdated !== undefined)
      return { kind: "format-upgraded", from: previous.outdated };
    return { kind: "state-unreadable", file: previous.file, detail: previous.detail };
  }
  return { kind: "cached" };
}

/** Decide hit or miss for a call. Throws only for `forceSkip` with nothing valid to load. */
export async function lookup(input: LookupInput): Promise<Lookup> {
  return lookupNow(input);
}

/**
 * {@link lookup}, at once (no promise) when no file has to be hashed: no file to verify, no
 * read-only cache to consult. May throw at once. `tracked`: `trackedOf(input.previous.state)`,
 * when the caller has it already.
 */
export function lookupNow(
  input: LookupInput,
  tracked?: readonly FileEntry[],
): Lookup | Promise<Lookup> {
  const { def, location, previous, fingerprint, options } = input;
  if (location === undefined || fingerprint === undefined) return missing({ kind: "not-memoized" });
  if (forcedToRun(options, input.refresh)) return missing({ kind: "forced" });
  if (options.forceSkip) return forcedHit(input, location, fingerprint);
  if (previous.kind !== "ok")
    return elsewhere(input, location, fingerprint, ownStateReason(previous));
  const valid = validState(def, fingerprint, previous.state, location.store, input.scope, tracked);
  if (valid instanceof Promise) {
    return valid.then((v) => ownResult(input, location, fingerprint, previous.state, v));
  }
  return ownResult(input, location, fingerprint, previous.state, valid);
}

function missing(reason: Reason): Miss {
  return { hit: false, reason, rejected: [] };
}

/** The call's own state: a hit, or the read-only caches' turn. */
function ownResult(
  input: LookupInput,
  location: StateLocation,
  fingerprint: Fingerprint,
  state: StoredState,
  valid: Valid,
): Lookup | Promise<Lookup> {
  if (!valid.ok) return elsewhere(input, location, fingerprint, valid.reason);
  return { hit: true, reason: { kind: "cached" }, outputs: valid.outputs, state };
}

/** `forceSkip`: the stored results, whatever changed (what did is told as a mismatch). */
async function forcedHit(
  input: LookupInput,
  location: StateLocation,
  fingerprint: Fingerprint,
): Promise<Hit> {
  const { def, previous } = input;
  if (previous.kind !== "ok") {
    const why =
      previous.kind === "absent" ? "nothing is stored" : `${previous.file} ${previous.detail}`;
    throw new MemoriError(
      "no-state",
      `stage "${def.name}": forceSkip was given but ${why} in ${location.dir}; run it without forceSkip first.`,
      { stage: def.name },
    );
  }
  const tracked = trackedFiles(previous.state);
  const reason = compare(fingerprint, previous.state, def.name, tracked, insideOf(def));
  const mismatch = reason.kind === "cached" ? await verifyFiles(tracked, def, input.scope) : reason;
  return {
    hit: true,
    reason: { kind: "forced" },
    outputs: decodeOutputs(def, previous.state),
    state: previous.state,
    ...(mismatch ? { mismatch } : {}),
  };
}

/** No valid state of the call's own (`reason`): the read-only caches, if any, in order. */
function elsewhere(
  input: LookupInput,
  location: StateLocation,
  fingerprint: Fingerprint,
  reason: Reason,
): Lookup | Promise<Lookup> {
  const caches = input.ownOnly ? [] : [...input.readonlyCaches, ...input.def.readonlyCaches];
  if (caches.length === 0) return missing(reason);
  return fromCaches(input, location, fingerprint, reason, caches);
}

async function fromCaches(
  input: LookupInput,
  location: StateLocation,
  fingerprint: Fingerprint,
  reason: Reason,
  caches: readonly string[],
): Promise<Lookup> {
  const rejected: Miss["rejected"] = [];
  for (const dir of caches) {
    const foreign = location.under(dir).store;
    const read = foreign.read(false); // a read-only cache: never indexed (its index is not this run's to write)
    if (read.kind !== "ok") continue;
    // Compared on what the cache's run found (its `read:`, `list:` inputs), as they are now.
    const against = await fingerprintAgainst(input.def, fingerprint, read.state, input.scope);
    const valid = await validState(input.def, against, read.state, foreign, input.scope);
    if (valid.ok) {
      return {
        hit: true,
        reason: { kind: "cached", from: dir },
        outputs: valid.outputs,
        state: read.state,
        from: dir,
        ...(against === fingerprint ? {} : { fingerprint: against }),
      };
    }
    rejected.push({ dir, reason: valid.reason });
  }
  return { hit: false, reason, rejected };
}
