import { closeSync, fstatSync, fsyncSync, futimesSync, rmSync, type Stats } from "node:fs";
import { openSync, renameSync, writeFileSync } from "../untracked-fs.js";
import { open } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { codeOf } from "../errors.js";
import { crashPoint } from "./fault.js";
import { stampOf } from "./stamp.js";

let counter = 0;

let host: string | undefined;
let safeHost: string | undefined;

/** This host's name, read once (a system call each time otherwise): in temporary and lock names, and in commit records. */
export function hostName(): string {
  return (host ??= hostname());
}

/**
 * Files up to this size are written with synchronous calls: for a state file, one thread-pool
 * round trip per call costs more than the write. Larger data is written asynchronously, so a
 * big result file does not hold up the other calls of a run.
 */
const SYNC_BYTES = 1 << 20;

/**
 * Flush each file to disk before renaming it (`MEMORI_FSYNC=1`). Off by default: correctness
 * does not depend on it (a kill cannot tear a renamed file, and after a power cut a torn state
 * file fails the digest check in `.stage` and reads as a cache miss); it only makes the cache
 * itself survive power cuts, at the price of a disk flush per file.
 */
const FSYNC = process.env.MEMORI_FSYNC === "1";

/**
 * The name of a temporary file beside `target`, unique across hosts sharing a network file
 * system, processes and calls: `.<base>.<host>.<pid>.<counter>.<random>.tmp`. The base is cut
 * to 120 characters and the host to 40, so that the name stays within the 255 bytes a file
 * name may have, for any state name memori accepts and on nodes with long host names.
 */
export function tempPathFor(target: string): string {
  const host = (safeHost ??= hostName()
    .replace(/[^A-Za-z0-9.-]/g, "_")
    .slice(0, 40));
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  // The random part tells apart processes with the same host name and pid (containers, a
  // reboot) on a shared file system; V8 seeds Math.random from the system's entropy in each
  // process, at a tenth of the cost of a crypto call per file.
  const random = Math.floor(Math.random() * 0x1_0000_0000)
    .toString(16)
    .padStart(8, "0");
  const unique = `${host}.${process.pid}.${counter}.${random}`;
  const base = path.basename(target).slice(0, 120);
  return path.join(path.dirname(target), `.${base}.${unique}.tmp`);
}

/**
 * How far back the modification time of a stamped file is set: a later write, in place or
 * not, gives it the current time, which differs from the stamp even on a file system that
 * keeps times in whole seconds (or two), and even within the clock tick of the commit.
 */
const AGE_SECONDS = 10;

/** The data of a file, or how to make it from the stamps of the files written before it. */
export type AtomicData = string | Uint8Array | ((stamps: readonly string[]) => string);

/**
 * A file this process created and still owns (the call's lock, state/lock.ts), which carries
 * the last file's data and is renamed over its target: the commit record takes the lock's
 * place in one rename, so a commit makes one file and one rename fewer, and gives the lock
 * back in the same step.
 */
export interface CarrierFile {
  readonly path: string;
  /**
   * Replace its content with `data`. `false`, with nothing written, when it is no longer this
   * process's (another took the lock over): the write then fails ({@link CarrierLostError}).
   */
  fill(data: string): boolean;
  /**
   * Told once it has been renamed over its target: it is no longer a lock. Returns the file's
   * `fstat` as renamed (from the descriptor it still holds), when it can be had.
   */
  moved(): Stats | undefined;
}

/**
 * The carrier (the call's lock) was no longer this process's when its commit came: another
 * process took the lock over (this one was blocked or suspended past the lock's stale time)
 * and may have run and committed the same state meanwhile. Nothing was renamed: committing
 * now could pair this call's inputs with files the other one wrote.
 */
export class CarrierLostError extends Error {
  override readonly name = "CarrierLostError";
  constructor(readonly path: string) {
    super(`the lock ${path} is no longer this process's: another process took it over`);
  }
}

export interface AtomicOptions {
  /** Told each time a file has replaced an existing target. */
  onReplaced?: (target: string) => void;
  /**
   * Write a target that does not exist yet (every file but the last) in place, created with
   * `wx`, instead of through a temporary file and a rename: for a set of files that the last
   * one commits (the commit record names their digests), where nothing trusts the others
   * until the last is in place. A target that exists is replaced through a temporary, as
   * always, so a previous set stays whole until the last rename.
   */
  newInPlace?: boolean;
  /** Carries the last file's data instead of a temporary file (see {@link CarrierFile}). */
  carrier?: CarrierFile;
}

/** How a file of a write gets to its target. */
const enum Way {
  Temporary,
  InPlace,
  Carrier,
}

/**
 * Write several files so that each is replaced atomically (a reader sees the old file or the
 * whole new one, never a part), in two phases: first every file's data goes to a unique
 * temporary file beside it (created with `wx`; flushed with fsync if `MEMORI_FSYNC=1`); only
 * when all are written are they renamed over their targets, in the order given. A failure
 * while writing (a full disk, an I/O error) leaves every target as it was; temporary files,
 * and targets created in place ({@link AtomicOptions.newInPlace}), are removed.
 *
 * A file whose data is a function is given the stamps ({@link stampOf}) of the files before
 * it, so it can record them (the commit record does): those files are written with their
 * modification time set {@link AGE_SECONDS} back, so that any later write changes the stamp.
 */
export async function writeFilesAtomic(
  files: readonly (readonly [string, AtomicData])[],
  options: AtomicOptions = {},
): Promise<void> {
  const { onReplaced, newInPlace = false, carrier } = options;
  const sources: string[] = [];
  const ways: Way[] = [];
  let committed = 0;
  try {
    const stampsWanted = files.some(([, data]) => typeof data === "function");
    const stamps: string[] = [];
    for (const [i, [target, given]] of files.entries()) {
      const last = i === files.length - 1;
      const made = typeof given === "function";
      const data = made ? given(stamps) : given;
      const stamped = stampsWanted && !made;
      if (last && carrier !== undefined && typeof data === "string") {
        if (!carrier.fill(data)) throw new CarrierLostError(carrier.path);
        sources.push(carrier.path);
        ways.push(Way.Carrier);
      } else {
        const inPlace = newInPlace && !last && data.length < SYNC_BYTES;
        const created = inPlace ? writeNewSync(target, data, stamped) : undefined;
        if (created !== undefined) {
          sources.push(target);
          ways.push(Way.InPlace);
          if (created !== "") stamps.push(created);
        } else {
          const temp = tempPathFor(target);
          sources.push(temp);
          ways.push(Way.Temporary);
          const stamp =
            data.length < SYNC_BYTES
              ? writeTempSync(temp, data, stamped)
              : await writeTemp(temp, data, stamped);
          if (stamp !== undefined) stamps.push(stamp);
        }
      }
      crashPoint(`after-prepare-${path.extname(target).slice(1)}`, true);
    }
    for (const [i, [target]] of files.entries()) {
      if (ways[i] !== Way.InPlace) {
        renameSync(sources[i]!, target);
        if (ways[i] === Way.Carrier) carrier!.moved();
        onReplaced?.(target);
      }
      committed = i + 1;
      crashPoint(`after-commit-${path.extname(target).slice(1)}`, true);
    }
  } finally {
    // The carrier is the lock: whoever holds it gives it back.
    for (let i = committed; i < sources.length; i++) {
      if (ways[i] === Way.Carrier) continue;
      try {
        rmSync(sources[i]!, { force: true });
      } catch {
        // left behind: `memori cache gc` removes temporary files
      }
    }
  }
}

/** Half of the data, for the crash point in the middle of writing a temporary file. */
function half(data: string | Uint8Array): string | Uint8Array {
  return typeof data === "string"
    ? data.slice(0, data.length >> 1)
    : data.subarray(0, data.length >> 1);
}

/** The modification time a stamped file is given (seconds since the epoch). */
function agedTime(): number {
  return Math.floor(Date.now() / 1000) - AGE_SECONDS;
}

/**
 * Set an open file's times {@link AGE_SECONDS} back, so that any later write changes its stamp
 * (even within this clock tick), and return its `fstat` then.
 */
export function agedStats(fd: number): Stats {
  const time = agedTime();
  futimesSync(fd, time, time);
  return fstatSync(fd);
}

/**
 * Create `target` in place with `data` when it does not exist: its stamp ("" when not
 * `stamp`), or `undefined` when it exists (then nothing was written).
 */
function writeNewSync(
  target: string,
  data: string | Uint8Array,
  stamp: boolean,
): string | undefined {
  let fd: number;
  try {
    fd = openSync(target, "wx", 0o666);
  } catch (error) {
    if (codeOf(error) === "EEXIST") return undefined;
    throw error;
  }
  try {
    return writeAndClose(fd, data, stamp) ?? "";
  } catch (error) {
    rmSync(target, { force: true }); // half a file that nothing commits: not left behind
    throw error;
  }
}

/** Write a temporary file; with `stamp`, age it and return its stamp. */
function writeTempSync(
  temp: string,
  data: string | Uint8Array,
  stamp: boolean,
): string | undefined {
  return writeAndClose(openSync(temp, "wx", 0o666), data, stamp);
}

/** Write a file just created, and close it; with `stamp`, age it and return its stamp. */
function writeAndClose(fd: number, data: string | Uint8Array, stamp: boolean): string | undefined {
  try {
    if (crashPoint("mid-temp-write")) {
      writeFileSync(fd, half(data));
      fsyncSync(fd);
      crashPoint("mid-temp-write", true);
    }
    writeFileSync(fd, data);
    if (FSYNC) fsyncSync(fd);
    if (!stamp) return undefined;
    return stampOf(agedStats(fd));
  } finally {
    closeSync(fd);
  }
}

async function writeTemp(
  temp: string,
  data: string | Uint8Array,
  stamp: boolean,
): Promise<string | undefined> {
  const handle = await open(temp, "wx", 0o666);
  try {
    if (crashPoint("mid-temp-write")) {
      await handle.writeFile(half(data));
      await handle.sync();
      crashPoint("mid-temp-write", true);
    }
    await handle.writeFile(data);
    if (FSYNC) await handle.sync();
    if (!stamp) return undefined;
    const time = agedTime();
    await handle.utimes(time, time);
    return stampOf(await handle.stat());
  } finally {
    await handle.close();
  }
}

/**
 * Write one file atomically from its parts, with synchronous calls: each part is written as it
 * comes and then dropped (a large run record is never one string). A reader sees the old file
 * or the whole new one; on a failure the temporary file is removed and the target kept.
 */
export function writeFileAtomicSync(target: string, parts: Iterable<string>): void {
  const temp = tempPathFor(target);
  const fd = openSync(temp, "wx", 0o666);
  let renamed = false;
  try {
    try {
      // writeFileSync on a descriptor writes at its position, all of it (a short write goes on).
      for (const part of parts) writeFileSync(fd, part);
      if (FSYNC) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, target);
    renamed = true;
  } finally {
    if (!renamed) rmSync(temp, { force: true });
  }
}

/** Write one file atomically (see {@link writeFilesAtomic}). */
export function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  return writeFilesAtomic([[target, data]]);
}
