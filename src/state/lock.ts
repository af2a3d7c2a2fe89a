/**
 * The lock between runs of one call's state: of several processes (or pipelines in one
 * process) that would run the same stage at once, one runs it and the others wait, then find
 * its result. The lock prevents duplicate work; the commit record, not the lock, keeps state
 * consistent, so a lock that is lost or taken over can cause a second run, never a wrong result.
 *
 * The engine holds it from the second look at the state to the commit (see ARCHITECTURE.md);
 * anything that can hold a lock for that long implements {@link Locker}.
 *
 * The lock is the file `<name>.lock`, created with `O_EXCL` and holding its owner (host, pid):
 * taking a free lock is one `open` and giving it back one `unlink`. While a process holds
 * locks, one timer refreshes their modification times; a waiter judges a lock by that time
 * (stale after {@link LOCK_STALE_MS}), or at once when its owner was a process on this host
 * that no longer exists. Earlier versions made `<name>.lock` a directory (proper-lockfile,
 * refreshed the same way): each kind excludes the other, and a stale one is taken over alike.
 */
import {
  closeSync,
  fstatSync,
  ftruncateSync,
  futimesSync,
  linkSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeSync,
  type BigIntStats,
  type Stats,
} from "node:fs";
import { lstatSync, openSync, renameSync } from "../untracked-fs.js";
import path from "node:path";
import { MemoriError, codeOf, messageOf } from "../errors.js";
import { agedStats, hostName, type CarrierFile } from "./atomic.js";
import type { StateStore } from "./store.js";

/** How a holder is told about waiting and about losing its lock. */
export interface LockOptions {
  /** Called when the lock is busy (once), and when a dead holder's lock is taken over. */
  onWait?: (message: string) => void;
  /** Called if another process took over the lock while this one held it. */
  onCompromised?: (message: string) => void;
  /** Stop waiting when aborted (the wait rejects with the abort reason). */
  signal?: AbortSignal | undefined;
}

/** Gives the lock back. Never throws. */
export type Release = () => Promise<void>;

/** A lock taken. */
export interface HeldLock {
  /** Give it back (nothing to do once a commit took its place). Never throws. */
  readonly release: Release;
  /**
   * The lock as a file that the commit record can be written into and renamed from
   * (atomic.ts, {@link CarrierFile}): absent for a lock that is not a file of its own.
   */
  readonly carrier?: CarrierFile;
}

/** Takes the lock of one state (waiting while another run holds it). */
export interface Locker {
  acquire(store: StateStore, options?: LockOptions): Promise<HeldLock>;
}

/**
 * A lock is stale when its holder has not refreshed it for this long (the holder died, or its
 * host lost the file system): `MEMORI_LOCK_STALE_MS`, at least 5000. Default 30000.
 */
const LOCK_STALE_MS = Math.max(5000, Number(process.env.MEMORI_LOCK_STALE_MS) || 30_000);
const REFRESH_MS = LOCK_STALE_MS / 6;

const HOST = hostName();
/** What a lock this process creates holds, all of it: its owner. */
const OWNER = Buffer.from(JSON.stringify({ host: HOST, pid: process.pid }));

/** A lock this process holds. */
interface Held {
  file: string;
  /** Open while held: a commit record is written through it (see {@link carrierOf}). */
  fd: number | undefined;
  /** Renamed over the commit record: nothing left to give back. */
  moved?: boolean;
  /**
   * Its inode and modification time as this process last set them: the lock is still ours
   * while the path has both (a new file in its place may get the same inode number).
   */
  stamp: string;
  name: string;
  onCompromised: ((message: string) => void) | undefined;
}

const held = new Set<Held>();
let refresher: NodeJS.Timeout | undefined;

/** Refresh every held lock's time; say so when one is no longer ours. */
function refresh(): void {
  if (held.size === 0) {
    clearInterval(refresher);
    refresher = undefined;
    return;
  }
  const now = new Date();
  for (const lock of held) {
    if (ownerOf(lock) && lock.fd !== undefined) {
      try {
        // Through the file it made (not its path, which another process may have taken since
        // the check), then still its file at the path: never another's lock adopted.
        futimesSync(lock.fd, now, now);
        lock.stamp = stampFrom(fstatSync(lock.fd, { bigint: true }));
        if (ownerOf(lock)) continue;
      } catch {
        // closed or gone between the check and the refresh: lost, as below
      }
    }
    held.delete(lock);
    closeOf(lock);
    lock.onCompromised?.(
      `stage "${lock.name}": another process took over its lock (${lock.file}); the stage may run twice, and this run's result will not be recorded.`,
    );
  }
}

function stampOf(file: string): string {
  return stampFrom(lstatSync(file, { bigint: true }));
}

/** What tells a lock file from any other: its inode and modification time. */
const stampFrom = (info: BigIntStats): string => `${info.ino}:${info.mtimeNs}`;

function ownerOf(lock: Held): boolean {
  try {
    return stampOf(lock.file) === lock.stamp;
  } catch {
    return false;
  }
}

/** Close a lock's file descriptor (its file stays, or not, as the caller decided). */
function closeOf(lock: Held): void {
  if (lock.fd === undefined) return;
  try {
    closeSync(lock.fd);
  } catch {
    // closed already
  }
  lock.fd = undefined;
}

/** Locks still held when the process exits are given back (a killed process's are taken over). */
function releaseAllOnExit(): void {
  for (const lock of held) {
    try {
      if (ownerOf(lock)) rmSync(lock.file, { force: true });
    } catch {
      // left for the next run to take over
    }
  }
  held.clear();
}
let exitHooked = false;

/** Try to create the lock: it is ours, or `undefined` when it exists. */
function create(file: string, name: string, options: LockOptions): Held | undefined {
  let fd: number;
  try {
    fd = openSync(file, "wx");
  } catch (error) {
    if (codeOf(error) === "EEXIST") return undefined;
    throw error;
  }
  try {
    writeSync(fd, OWNER);
  } catch (error) {
    // A lock with no owner would stand until it is stale: take it back (a full disk).
    closeSync(fd);
    unlinkSync(file);
    throw error;
  }
  // The file just made: no path to look up.
  const stamp = stampFrom(fstatSync(fd, { bigint: true }));
  const lock: Held = { file, fd, stamp, name, onCompromised: options.onCompromised };
  held.add(lock);
  if (refresher === undefined) {
    refresher = setInterval(refresh, REFRESH_MS);
    refresher.unref();
  }
  if (!exitHooked) {
    exitHooked = true;
    process.once("exit", releaseAllOnExit);
  }
  return lock;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return codeOf(error) === "EPERM";
  }
}

/**
 * Why the existing lock at `file` may be taken over now (its holder died on this host, or has
 * not refreshed it for {@link LOCK_STALE_MS}), or `undefined` while it stands. A lock held by a
 * process on another host is judged by its time only.
 */
function staleness(file: string, name: string): { ino: number; why: string } | undefined {
  let info;
  try {
    info = lstatSync(file);
  } catch {
    return undefined; // gone: the next attempt creates it
  }
  let owner: { host?: unknown; pid?: unknown } = {};
  if (info.isFile()) {
    try {
      owner = JSON.parse(readFileSync(file, "utf8")) as typeof owner;
    } catch {
      // being written, or torn: the owner is unknown; judged by time
    }
  }
  if (
    owner.host === HOST &&
    typeof owner.pid === "number" &&
    owner.pid !== process.pid &&
    !isAlive(owner.pid)
  ) {
    return {
      ino: info.ino,
      why: `stage "${name}": the lock's holder (pid ${owner.pid}) is gone; taking the lock over`,
    };
  }
  const age = Date.now() - info.mtimeMs;
  if (age > LOCK_STALE_MS) {
    return {
      ino: info.ino,
      why: `stage "${name}": its lock was last refreshed ${Math.round(age / 1000)} s ago (stale after ${LOCK_STALE_MS / 1000} s); taking the lock over`,
    };
  }
  return undefined;
}

/**
 * Remove a stale lock, unless another waiter replaced it first: the lock is moved aside under
 * a name of this process, and put back if what moved is not the stale one that was judged.
 */
function removeStale(file: string, ino: number): void {
  const aside = `${file}.stale-${HOST}-${process.pid}-${Date.now()}`;
  try {
    renameSync(file, aside);
  } catch {
    return; // someone else took it first
  }
  let moved;
  try {
    moved = lstatSync(aside);
  } catch {
    return;
  }
  if (moved.ino !== ino && moved.isFile()) {
    try {
      linkSync(aside, file); // a fresh lock: give it back, unless yet another one is there
    } catch {
      // its holder finds it lost at its next refresh: a duplicate run at worst
    }
  }
  rmSync(aside, { recursive: true, force: true });
}

/** Wait `ms`, or until `signal` aborts (then reject with its reason). */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const stop = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", stop);
      resolve();
    }, ms);
    signal?.addEventListener("abort", stop, { once: true });
  });
}

/** The lock as the file `<name>.lock` beside the state (see the top of this module). */
export const fileLocker: Locker = {
  async acquire(store, options = {}) {
    const file = path.join(store.dir, `${store.name}.lock`);
    let lock: Held | undefined;
    let waited = false;
    let delay = 25;
    let ensured = false;
    while (lock === undefined) {
      try {
        lock = create(file, store.name, options);
        if (lock !== undefined) break;
      } catch (error) {
        if (!ensured) {
          // The state directory is made with its first lock; a directory that cannot be made
          // (or a file in its place) is named by ensureDir's own error.
          ensured = true;
          await store.ensureDir(true);
          continue;
        }
        throw new MemoriError(
          "lock-failed",
          `stage "${store.name}": cannot lock its state in ${store.dir} (${messageOf(error)}). Is the directory writable?`,
          { stage: store.name, cause: error },
        );
      }
      if (options.signal?.aborted) throw options.signal.reason as Error;
      const stale = staleness(file, store.name);
      if (stale !== undefined) {
        options.onWait?.(stale.why);
        removeStale(file, stale.ino);
        continue;
      }
      if (!waited) {
        waited = true;
        options.onWait?.(
          `stage "${store.name}": waiting for another run of it to finish (lock ${file})`,
        );
      }
      await pause(delay, options.signal);
      delay = Math.min(delay * 2, 1000);
    }
    const mine = lock;
    return {
      release: async () => {
        held.delete(mine);
        closeOf(mine);
        // Never remove the next holder's lock: only the file this process created.
        if (mine.moved !== true && ownerOf(mine)) {
          try {
            unlinkSync(mine.file);
          } catch {
            // already gone
          }
        }
      },
      carrier: carrierOf(mine),
    };
  },
};

/**
 * The lock as the carrier of its call's commit record: the record, which names its writer's
 * host and pid as a lock's owner does, replaces the lock file's content, and the file is then
 * renamed over `<name>.stage`. Killed in between, the lock is judged as any other: its owner
 * is gone. Written only while the file is still this process's, by the same test the refresh
 * makes ({@link ownerOf}).
 */
function carrierOf(lock: Held): CarrierFile {
  return {
    path: lock.file,
    fill(data) {
      const fd = lock.fd;
      if (fd === undefined || !held.has(lock) || !ownerOf(lock)) return false;
      const bytes = Buffer.from(data);
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, done);
      // The lock held its owner only: a record at least as long covers it all.
      if (bytes.length < OWNER.length) ftruncateSync(fd, bytes.length);
      // Still this process's lock, with a new time: kept so until it is renamed (or released).
      lock.stamp = stampFrom(fstatSync(fd, { bigint: true }));
      return true;
    },
    moved() {
      lock.moved = true;
      held.delete(lock);
      // No longer a lock but a record: aged as the files it stamps are (state-index.ts).
      let renamed: Stats | undefined;
      try {
        if (lock.fd !== undefined) renamed = agedStats(lock.fd);
      } catch {
        // only the index's knowing it is lost
      }
      closeOf(lock);
      return renamed;
    },
  };
}

/** Run `body` holding the lock of `store`. */
export async function withLock<T>(
  store: StateStore,
  body: (lock: HeldLock) => Promise<T>,
  options: LockOptions = {},
  locker: Locker = fileLocker,
): Promise<T> {
  const lock = await locker.acquire(store, options);
  try {
    return await body(lock);
  } finally {
    await lock.release();
  }
}
