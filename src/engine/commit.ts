/**
 * Committing a call's result: encoding its outputs, finding the files it wrote through its
 * arguments, writing the state (the store writes `.stage` last, as the commit record) and
 * remembering trusted file hashes for later runs (`<name>.files`, a hint only).
 */
import { stat } from "node:fs/promises";
import path from "node:path";
import type { FileAccess } from "../call-signal.js";
import { identityOf, type HashScope, type Sha256Hex } from "../hashing/files.js";
import { statSync } from "../untracked-fs.js";
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
import { isUnreadable } from "../hashing/unreadable.js";
import type { CarrierFile } from "../state/atomic.js";
import { trackedFiles, type KnownFiles, type ReadResult, type StateStore } from "../state/store.js";
import { directoryRule, encodeAll, type Fingerprint } from "./fingerprint.js";
import {
  CWD_KEY,
  LINK_PREFIX,
  LIST_PREFIX,
  READ_PREFIX,
  foundInside,
  workingDirectory,
} from "./found.js";
import type { StageDef } from "./node.js";
import {
  discoveredLinks,
  discoveredListings,
  discoveredReads,
  ignoredBy,
  noteUntraced,
  writtenElsewhere,
} from "./discovered.js";
import { recordKnownFiles } from "./known-files.js";

/**
 * Strings among the inputs that could name a file, and the files named, with their hashes
 * (not those of the parameters in `byName`, nor the working directory and the listings a
 * call's code found: `cwd:` names a directory that no call writes, and hashing it whole
 * would read the project).
 */
function pathCandidates(
  inputs: Record<string, Json>,
  byName: readonly string[] = [],
): { file: string; before?: string }[] {
  const candidates: { file: string; before?: string }[] = [];
  const counted: Record<string, Json> = {};
  for (const key in inputs) {
    if (key === CWD_KEY || key.startsWith(LIST_PREFIX) || key.startsWith(LINK_PREFIX)) continue;
    if (byName.includes(key)) continue;
    counted[key] = inputs[key]!;
  }
  walkStored(
    counted,
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
  fingerprint: Fingerprint,
  outputs: Record<string, Json>,
  scope: HashScope,
  previous: ReadResult,
  created: ReadonlySet<string>,
  writes: ReadonlySet<string> | undefined,
  reads: ReadonlySet<string> = new Set(),
): Promise<{ written: FileEntry[]; changed: string[]; rebased: Map<string, Sha256Hex> }> {
  const read = new Set([...reads].map((r) => path.resolve(r)));
  const returned = new Set(fileEntries(outputs).map((e) => e.file));
  // The call's own files: those it wrote last time, those it created in an earlier attempt,
  // and, only when its writes are not seen, those it changed during its last run too (a file
  // named by an argument that changes during two runs in a row is taken to be written by it).
  // Where its writes are seen, a file it did not write is never its own: one another process
  // keeps rewriting while it runs stays changed, run after run.
  const own = new Set([
    ...(previous.kind === "ok" ? trackedFiles(previous.state).map((e) => e.file) : []),
    ...(previous.kind === "ok" && writes === undefined
      ? fileEntries(previous.state.inputs)
          .filter((e) => e.hash === CHANGED_DURING_RUN)
          .map((e) => e.file)
      : []),
    ...created,
  ]);
  // What the call wrote, as absolute paths (when seen).
  const wrote = writes === undefined ? undefined : new Set([...writes].map((w) => path.resolve(w)));
  const written: FileEntry[] = [];
  const changed: string[] = [];
  const rebased = new Map<string, Sha256Hex>();
  for (const { file, before } of pathCandidates(fingerprint.inputs, def.byName)) {
    const absolute = path.resolve(file);
    // The file as it was when the call's inputs were hashed (a file; a directory has none).
    const hashedAs = scope.seen.get(absolute)?.identity;
    const hash = await def.hasher.hash(file, scope, fingerprint.rule);
    // Unreadable before and after: not known to have changed, and recorded as unreadable
    // (the next run runs it again anyway, unreadableHash).
    if (hash !== undefined && before !== undefined && isUnreadable(hash) && isUnreadable(before))
      continue;
    // Its own: it wrote it (seen), or it is one of its own files, or it returns it.
    const mine = own.has(file) || returned.has(file) || (wrote?.has(absolute) ?? false);
    const isDirectory =
      before !== undefined &&
      hash !== undefined &&
      (await stat(absolute).then(
        (st) => st.isDirectory(),
        () => false,
      ));
    if (isDirectory && !mine && wrote !== undefined) {
      // A directory argument it wrote into (seen): a place to write. The files it wrote there
      // are its outputs, whatever else changed there meanwhile (other calls write there too).
      const inside = await writtenInside(def, scope, file, wrote, written);
      if (inside > 0 || hash === before) continue;
      changed.push(file); // changed, and not by this call
      continue;
    }
    if (
      before === undefined &&
      hash !== undefined &&
      wrote !== undefined &&
      !returned.has(file) &&
      (await stat(absolute).then(
        (st) => st.isDirectory(),
        () => false,
      ))
    ) {
      // A directory it made (absent when it began) and wrote into (seen): the files it wrote
      // are its outputs, not the directory as a whole. Calls beside it may have made it at the
      // same time and write there too (one output directory for every subject), so what it
      // holds when this call ends is not this call's. An empty one it made: its own, whole.
      if ((await writtenInside(def, scope, file, wrote, written)) > 0) continue;
    }
    if (hash === undefined) continue;
    if (hash === before) {
      // The same content, but written again while the call ran (the same bytes copied over
      // it): what the call read may have been the file half-written.
      if (!mine && hashedAs !== undefined && rewrittenSince(absolute, hashedAs)) changed.push(file);
      continue;
    }
    if (isDirectory && !mine) {
      // Changed while it ran, writes not seen: taken to be its own doing, and the directory
      // stays an input by content, as it is now (own files included), so that no change to
      // a file it may read there goes unseen.
      rebased.set(file, hash);
    } else if (before === undefined || mine) {
      // Its own file or directory, as a whole (a directory with only the `ignore` rule).
      const whole = await def.hasher.hash(file, scope, directoryRule(def));
      if (whole !== undefined) written.push({ file, hash: whole });
      // Read and written, and neither its output last time nor one it returns: a file it was
      // given, changed in place (a file merely overwritten, or its own, is its output).
      const given = !own.has(file) && !returned.has(file);
      if (
        given &&
        before !== undefined &&
        !isDirectory &&
        wrote?.has(absolute) &&
        read.has(absolute)
      ) {
        warnInPlace(def, file);
      }
    } else {
      changed.push(file);
    }
  }
  return { written, changed, rebased };
}

/**
 * Whether the file at `absolute` is no longer the one whose stat identity (files.ts: device,
 * inode, size, modification and change times) was `identity`: written again, or replaced,
 * whatever its times were set back to (as a file the call's code read is compared, found.ts).
 */
function rewrittenSince(absolute: string, identity: string): boolean {
  const now = statSync(absolute, { bigint: true, throwIfNoEntry: false });
  return now === undefined || identityOf(now) !== identity;
}

const toldInPlace = new Set<string>();

/**
 * A call changed a file it was given, in place (`sed -i`, AFNI's `3drefit`): said once per
 * stage and file. Its own state stays consistent, but the stage that made the file finds its
 * output modified on every run, runs again, and this one after it.
 */
function warnInPlace(def: StageDef, file: string): void {
  const key = `${def.name}\u0000${path.resolve(file)}`;
  if (toldInPlace.has(key)) return;
  toldInPlace.add(key);
  def.logger.warn(
    `stage "${def.name}" changed its input ${file} in place: if another stage made that file, that stage will find its output modified and run again on every run, and this one after it. Write the result to a new file instead.`,
  );
}

/**
 * The files a call wrote (seen) inside directory `file`, added to `written` with their hashes
 * (the `ignore` rule's aside); how many it wrote there.
 */
async function writtenInside(
  def: StageDef,
  scope: HashScope,
  file: string,
  wrote: ReadonlySet<string>,
  written: FileEntry[],
): Promise<number> {
  const absolute = path.resolve(file);
  const inside = [...wrote]
    .filter((w) => w.startsWith(absolute + path.sep))
    .filter((w) => !ignoredBy(def)?.(path.relative(absolute, w)))
    .sort();
  for (const target of inside) {
    const fileHash = await def.hasher.hash(target, scope);
    if (fileHash !== undefined && !def.hasher.directories.hashedHere(target))
      written.push({ file: path.join(file, path.relative(absolute, target)), hash: fileHash });
  }
  return inside.length;
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
  access?: FileAccess,
  carrier?: CarrierFile,
): Promise<string[]> {
  const reads = access?.reads ?? new Set<string>();
  const encoded = await encodeAll(def, outputs, "outputs", scope);
  const { written, changed, rebased } = await filesAfterRun(
    def,
    fingerprint,
    encoded,
    scope,
    previous,
    created,
    access === undefined || access.untraced ? undefined : access.writes,
    reads,
  );
  // An input file that changed while the stage ran (and that it does not write itself) is
  // recorded as changed: no content matches that, so the next run runs it again, whatever the
  // file holds then. The result belongs to no known content of it.
  const changedSet = new Set(changed);
  const named =
    changed.length === 0 && rebased.size === 0
      ? fingerprint.inputs
      : (mapStored(fingerprint.inputs, (entry) =>
          changedSet.has(entry.file)
            ? { file: entry.file, hash: CHANGED_DURING_RUN }
            : rebased.has(entry.file)
              ? { file: entry.file, hash: rebased.get(entry.file)! }
              : entry,
        ) as Record<string, Json>);
  // Files it wrote that no argument names (a shell command's `> out.txt`), seen by tracing:
  // its outputs too, verified like the others.
  written.push(
    ...(await writtenElsewhere(def, store, access?.writes, [
      ...fileEntries(fingerprint.inputs),
      ...fileEntries(encoded),
      ...written,
    ])),
  );
  if (access?.untraced !== undefined && access.untraced !== false)
    noteUntraced(def, access.untraced);
  // A file the call wrote itself is not one it read (a temporary file, written, read, gone).
  const wroteItself = new Set([...(access?.writes ?? [])].map((w) => path.resolve(w)));
  const readOnly = new Set([...reads].filter((r) => !wroteItself.has(path.resolve(r))));
  const found = await discoveredReads(
    def,
    store,
    readOnly,
    [...fileEntries(fingerprint.inputs), ...fileEntries(encoded), ...written],
    access?.began,
    access?.seen,
  );
  // A file it found that was modified while it ran: recorded as changed, as a named input
  // that changed is (the next run runs it again, whatever the file holds then).
  const discovered = found.inputs;
  for (const file of found.changed) {
    discovered[`${READ_PREFIX}${file}`] = { file, hash: CHANGED_DURING_RUN };
    changed.push(file);
  }
  // Where the paths it resolved (`readlink`, `realpath`) led as it resolved them: what those
  // calls gave it is a path, so a link re-pointed counts even at a file with the same bytes.
  Object.assign(discovered, discoveredLinks(store, access?.links));
  // What the code found in this run stands for what it found in the last: a file it no longer
  // reads (a copy of the project's, after it moved) is no longer an input. One read again keeps
  // the content it had before the run (found changed while it ran: recorded as such). Unless
  // some of its reads went unseen (a process not traced): then the old ones stay.
  const complete =
    access !== undefined && (access.untraced === undefined || access.untraced === false);
  const inputs: Record<string, Json> = {
    ...(complete ? foundAgain(named, reads) : named),
    ...discovered,
    ...discoveredListings(
      store,
      access?.lists,
      directoryRule(def).skip ?? [],
      access?.listed,
      access === undefined || access.untraced ? undefined : access.writes,
    ),
  };
  // The working directory the files it found were found from: one of its inputs (CWD_KEY).
  delete inputs[CWD_KEY];
  const cwd = workingDirectory();
  if (foundInside(inputs, cwd)) inputs[CWD_KEY] = cwd;
  await store.write(inputs, encoded, written, fingerprint.code, def.outputs, carrier);
  await recordKnownFiles(
    def,
    store,
    [...fileEntries(fingerprint.inputs), ...fileEntries(encoded), ...written],
    known,
  );
  return changed;
}

/** Inputs without the `read:` keys of files not read again, and without `list:` keys. */
function foundAgain(named: Record<string, Json>, reads: ReadonlySet<string>): Record<string, Json> {
  const again = new Set([...reads].map((r) => path.resolve(r)));
  const kept: Record<string, Json> = {};
  for (const key in named) {
    if (key.startsWith(LIST_PREFIX) || key.startsWith(LINK_PREFIX)) continue; // this run's replace them
    if (key.startsWith(READ_PREFIX) && !again.has(path.resolve(key.slice(READ_PREFIX.length))))
      continue;
    kept[key] = named[key]!;
  }
  return kept;
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
  carrier?: CarrierFile,
): Promise<void> {
  await store.write(fingerprint.inputs, outputs, written, fingerprint.code, def.outputs, carrier);
}
