/**
 * Committing a call's result: encoding its outputs, finding the files it wrote through its
 * arguments, writing the state (the store writes `.stage` last, as the commit record) and
 * remembering trusted file hashes for later runs (`<name>.files`, a hint only).
 */
import path from "node:path";
import stringify from "fast-json-stable-stringify";
import type { HashScope, Sha256Hex } from "../hashing/files.js";
import {
  fileEntries,
  mapStored,
  walkStored,
  type FileEntry,
  type Json,
} from "../hashing/values.js";

/**
 * The hash recorded for an input file that changed while the stage ran: not a SHA-256, so no
 * content ever matches it.
 */
export const CHANGED_DURING_RUN = "changed during the run" as Sha256Hex;
import {
  referencedFiles,
  trackedFiles,
  type KnownFiles,
  type ReadResult,
  type StateStore,
} from "../state/store.js";
import { encodeAll, type Fingerprint } from "./fingerprint.js";
import type { StageDef } from "./node.js";

/** The prefix of a state's inputs that are files the function read without naming them. */
export const READ_PREFIX = "read:";

/** Paths never recorded as reads: the system's, and memori's own state files. */
const SYSTEM = ["/proc/", "/dev/", "/sys/"];
const STATE_FILE = /\.(inputs|outputs|stage|files|lock|owner|tmp)$/;

/**
 * The files a call read without naming them (not its inputs, outputs or written files, not
 * state, not system files), by content, as `read:<path>` inputs. A file gone after the run is
 * left out (a temporary file).
 */
async function discoveredReads(
  def: StageDef,
  store: StateStore,
  reads: ReadonlySet<string>,
  known: readonly FileEntry[],
): Promise<Record<string, Json>> {
  if (reads.size === 0) return {};
  const named = new Set(known.map((entry) => path.resolve(entry.file)));
  const stateDir = path.resolve(store.dir) + path.sep;
  const out: Record<string, Json> = {};
  for (const file of [...reads].sort()) {
    if (named.has(file) || file.startsWith(stateDir) || STATE_FILE.test(file)) continue;
    if (SYSTEM.some((prefix) => file.startsWith(prefix))) continue;
    const hash = await def.hasher.hash(file);
    if (hash !== undefined) out[`${READ_PREFIX}${file}`] = { file, hash };
  }
  return out;
}

/**
 * Teach the hasher the file hashes recorded beside a state, so unchanged files named by it
 * are not read again. Returns what was recorded, to tell later whether it changed.
 */
export function seedKnownFiles(def: StageDef, store: StateStore, previous: ReadResult): KnownFiles {
  const known =
    previous.kind === "ok" && referencedFiles(previous.state).length > 0
      ? store.readKnownFiles()
      : {};
  for (const [file, hash] of Object.entries(known)) def.hasher.seed(file, hash);
  return known;
}

/** Record the trusted identities of a state's files, if they changed (the hash cache). */
export async function recordKnownFiles(
  def: StageDef,
  store: StateStore,
  entries: readonly FileEntry[],
  known: KnownFiles,
): Promise<void> {
  if (entries.length === 0) return;
  const files: KnownFiles = {};
  for (const { file } of entries) {
    const trusted = def.hasher.trusted(file);
    if (trusted !== undefined) files[file] = trusted;
  }
  if (stringify(files) !== stringify(known)) await store.writeKnownFiles(files);
}

/** Strings among the inputs that could name a file, and the files named, with their hashes. */
function pathCandidates(inputs: Record<string, Json>): { file: string; before?: string }[] {
  const candidates: { file: string; before?: string }[] = [];
  walkStored(
    inputs,
    (entry) => candidates.push({ file: entry.file, before: entry.hash }),
    (value) => {
      if (value.length > 0 && value.length <= 4096 && !value.includes("\0")) {
        candidates.push({ file: value });
      }
    },
  );
  return candidates;
}

/** The strings among the inputs that could name a file but name none (yet). */
export function absentPaths(inputs: Record<string, Json>): Set<string> {
  return new Set(pathCandidates(inputs).flatMap((c) => (c.before === undefined ? [c.file] : [])));
}

/**
 * How the files named by the inputs fared during the run. Those the run created, or changed
 * where they are the stage's own (it returns them, its previous state tracked them as written,
 * or an earlier attempt of this call created them), are files it wrote: tracked like outputs.
 * Any other input
 * file that changed was changed by someone else, or read while it changed: the result does
 * not belong to the recorded inputs.
 */
async function filesAfterRun(
  def: StageDef,
  inputs: Record<string, Json>,
  outputs: Record<string, Json>,
  scope: HashScope,
  previous: ReadResult,
  created: ReadonlySet<string>,
): Promise<{ written: FileEntry[]; changed: string[] }> {
  const returned = new Set(fileEntries(outputs).map((e) => e.file));
  const own = new Set([
    ...(previous.kind === "ok" ? trackedFiles(previous.state).map((e) => e.file) : []),
    ...created,
  ]);
  const written: FileEntry[] = [];
  const changed: string[] = [];
  for (const { file, before } of pathCandidates(inputs)) {
    const hash = await def.hasher.hash(file, scope);
    if (hash === undefined || hash === before) continue;
    if (before === undefined || own.has(file) || returned.has(file)) written.push({ file, hash });
    else changed.push(file);
  }
  return { written, changed };
}

/**
 * Write the state of a call that ran: its inputs, its outputs, the files it wrote. Returns the
 * input files that changed while it ran (recorded so that the next run runs it again).
 */
export async function commitRun(
  def: StageDef,
  store: StateStore,
  fingerprint: Fingerprint,
  outputs: Readonly<Record<string, unknown>>,
  previous: ReadResult,
  known: KnownFiles,
  scope: HashScope,
  created: ReadonlySet<string> = new Set(),
  reads: ReadonlySet<string> = new Set(),
): Promise<string[]> {
  const encoded = await encodeAll(def, outputs, "outputs", scope);
  const { written, changed } = await filesAfterRun(
    def,
    fingerprint.inputs,
    encoded,
    scope,
    previous,
    created,
  );
  // An input file that changed while the stage ran (and that it does not write itself) is
  // recorded as changed: no content matches that, so the next run runs it again, whatever the
  // file holds then. The result belongs to no known content of it.
  const changedSet = new Set(changed);
  const named =
    changed.length === 0
      ? fingerprint.inputs
      : (mapStored(fingerprint.inputs, (entry) =>
          changedSet.has(entry.file) ? { file: entry.file, hash: CHANGED_DURING_RUN } : entry,
        ) as Record<string, Json>);
  const discovered = await discoveredReads(def, store, reads, [
    ...fileEntries(fingerprint.inputs),
    ...fileEntries(encoded),
    ...written,
  ]);
  const inputs = { ...named, ...discovered };
  await store.write(inputs, encoded, written, fingerprint.code, def.outputs);
  await recordKnownFiles(
    def,
    store,
    [...fileEntries(fingerprint.inputs), ...fileEntries(encoded), ...written],
    known,
  );
  return changed;
}

/**
 * Record a stored result as the call's state with the call's current inputs and code
 * (`forceHashWrite`, or a result taken from a read-only cache).
 */
export async function recordResult(
  def: StageDef,
  store: StateStore,
  fingerprint: Fingerprint,
  outputs: Record<string, Json>,
  written: readonly FileEntry[],
): Promise<void> {
  await store.write(fingerprint.inputs, outputs, written, fingerprint.code, def.outputs);
}
