import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { crashPoint } from "./fault.js";

let counter = 0;

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
  const host = hostname()
    .replace(/[^A-Za-z0-9.-]/g, "_")
    .slice(0, 40);
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  const unique = `${host}.${process.pid}.${counter}.${randomBytes(4).toString("hex")}`;
  const base = path.basename(target).slice(0, 120);
  return path.join(path.dirname(target), `.${base}.${unique}.tmp`);
}

/**
 * Write several files so that each is replaced atomically (a reader sees the old file or the
 * whole new one, never a part), in two phases: first every file's data goes to a unique
 * temporary file beside it (created with `wx`; flushed with fsync if `MEMORI_FSYNC=1`); only when all are written
 * are they renamed over their targets, in the order given. A failure while writing (a full
 * disk, an I/O error) leaves every target as it was; temporary files are always removed.
 */
export async function writeFilesAtomic(
  files: readonly (readonly [string, string | Uint8Array])[],
  /** Told each time a file has replaced its target. */
  onRenamed?: (target: string) => void,
): Promise<void> {
  const temps: string[] = [];
  let committed = 0;
  try {
    for (const [target, data] of files) {
      const temp = tempPathFor(target);
      temps.push(temp);
      if (data.length < SYNC_BYTES) writeTempSync(temp, data);
      else await writeTemp(temp, data);
      crashPoint(`after-prepare-${path.extname(target).slice(1)}`, true);
    }
    for (const [i, [target]] of files.entries()) {
      renameSync(temps[i]!, target);
      committed = i + 1;
      onRenamed?.(target);
      crashPoint(`after-commit-${path.extname(target).slice(1)}`, true);
    }
  } finally {
    for (const temp of temps.slice(committed)) {
      try {
        rmSync(temp, { force: true });
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

function writeTempSync(temp: string, data: string | Uint8Array): void {
  const fd = openSync(temp, "wx", 0o666);
  try {
    if (crashPoint("mid-temp-write")) {
      writeFileSync(fd, half(data));
      fsyncSync(fd);
      crashPoint("mid-temp-write", true);
    }
    writeFileSync(fd, data);
    if (FSYNC) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

async function writeTemp(temp: string, data: string | Uint8Array): Promise<void> {
  const handle = await open(temp, "wx", 0o666);
  try {
    if (crashPoint("mid-temp-write")) {
      await handle.writeFile(half(data));
      await handle.sync();
      crashPoint("mid-temp-write", true);
    }
    await handle.writeFile(data);
    if (FSYNC) await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Write one file atomically (see {@link writeFilesAtomic}). */
export function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  return writeFilesAtomic([[target, data]]);
}
