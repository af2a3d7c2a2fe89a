/**
 * Committing a call's result: encoding its outputs, finding the files it wrote through its
 * arguments, writing the state (the store writes `.stage` last, as the commit record) and
 * remembering trusted file hashes for later runs (`<name>.files`, a hint only).
 */
import stringify from "fast-json-stable-stringify";
import type { HashScope } from "../hashing/files.js";
import { fileEntries, walkStored, type FileEntry, type Json } from "../hashing/values.js";
import {
  referencedFiles,
  trackedFiles,
  type KnownFiles,
  type ReadResult,
  type StateStore,
} from "../state/store.js";
import { encodeAll, type Fingerprint } from "./fingerprint.js";
import type { StageDef } from "./node.js";

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

/**
 * Files named by the inputs that the run created (or changed, where the stage wrote them
 * before): the stage wrote them, so they are tracked like outputs.
 */
async function writtenFiles(
  def: StageDef,
  inputs: Record<string, Json>,
  scope: HashScope,
  previous: ReadResult,
): Promise<FileEntry[]> {
  // A file that existed before the run and changed during it is the stage's own only if the
  // stage's previous state already tracked that path as something it writes; otherwise
  // another process may have changed it (an unordered stage), and it stays an input,
  // compared by content, so the next run re-runs rather than trusting it.
  const ownPaths = new Set(
    previous.kind === "ok" ? trackedFiles(previous.state).map((e) => e.file) : [],
  );
  const candidates: { file: string; before: string | undefined }[] = [];
  walkStored(
    inputs,
    (entry) => candidates.push({ file: entry.file, before: entry.hash }),
    (value) => {
      if (value.length > 0 && value.length <= 4096 && !value.includes("\0")) {
        candidates.push({ file: value, before: undefined });
      }
    },
  );
  const written: FileEntry[] = [];
  for (const { file, before } of candidates) {
    const hash = await def.hasher.hash(file, scope);
    if (hash === undefined || hash === before) continue;
    if (before === undefined || ownPaths.has(file)) written.push({ file, hash });
  }
  return written;
}

/** Write the state of a call that ran: its inputs, its outputs, the files it wrote. */
export async function commitRun(
  def: StageDef,
  store: StateStore,
  fingerprint: Fingerprint,
  outputs: Readonly<Record<string, unknown>>,
  previous: ReadResult,
  known: KnownFiles,
  scope: HashScope,
): Promise<void> {
  const encoded = await encodeAll(def, outputs, "outputs", scope);
  const written = await writtenFiles(def, fingerprint.inputs, scope, previous);
  await store.write(fingerprint.inputs, encoded, written, fingerprint.code, def.outputs);
  await recordKnownFiles(
    def,
    store,
    [...fileEntries(fingerprint.inputs), ...fileEntries(encoded), ...written],
    known,
  );
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
