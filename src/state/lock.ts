/**
 * The lock between runs of one call's state: of several processes (or pipelines in one
 * process) that would run the same stage at once, one runs it and the others wait, then find
 * its result. The lock prevents duplicate work; the commit record, not the lock, keeps state
 * consistent, so a lock that is lost or taken over can cause a second run, never a wrong result.
 *
 * The engine holds it from the second look at the state to the commit (see ARCHITECTURE.md);
 * anything that can hold a lock for that long implements {@link Locker}.
 */
import { readFile, rm, utimes, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { MemoriError, codeOf, messageOf } from "../errors.js";
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

/** Takes the lock of one state (waiting while another run holds it). */
export interface Locker {
  acquire(store: StateStore, options?: LockOptions): Promise<Release>;
}

/**
 * Signal listeners that proper-lockfile's `signal-exit` installs when it is loaded: they
 * re-raise a signal when they are its only listeners, so they do not stand for a program that
 * handles interrupts itself (see engine/interrupt.ts).
 */
export const lockSignalListeners = new Set<NodeJS.SignalsListener>();

let lockfile: { default: typeof import("proper-lockfile") } | undefined;

async function loadLockfile(): Promise<{ default: typeof import("proper-lockfile") }> {
  if (lockfile !== undefined) return lockfile;
  const signals = ["SIGINT", "SIGTERM"] as const;
  const before = new Set(signals.flatMap((s) => process.listeners(s)));
  const loaded = await import("proper-lockfile");
  for (const signal of signals) {
    for (const listener of process.listeners(signal)) {
      if (!before.has(listener)) lockSignalListeners.add(listener);
    }
  }
  return (lockfile = loaded);
}

/**
 * A lock is stale when its holder has not refreshed it for this long (the holder died):
 * `MEMORI_LOCK_STALE_MS`, at least 5000 (proper-lockfile's minimum). Default 30000.
 */
const LOCK_STALE_MS = Math.max(5000, Number(process.env.MEMORI_LOCK_STALE_MS) || 30_000);

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return codeOf(error) === "EPERM";
  }
}

function ownerFile(store: StateStore): string {
  return path.join(store.dir, `${store.name}.owner`);
}

/**
 * If the lock's holder is a process on this host that no longer exists, mark the lock stale
 * (age its mtime) so it is taken over now rather than after the stale timeout. A lost race
 * here can only cause a duplicate run, never a wrong result.
 */
async function reapDeadOwner(store: StateStore, lockPath: string): Promise<string | undefined> {
  try {
    const text = await readFile(ownerFile(store), "utf8");
    const owner = JSON.parse(text) as { host?: unknown; pid?: unknown };
    if (owner.host !== hostname() || typeof owner.pid !== "number" || owner.pid === process.pid) {
      return undefined;
    }
    if (isAlive(owner.pid)) return undefined;
    if ((await readFile(ownerFile(store), "utf8")) !== text) return undefined;
    await utimes(lockPath, 0, 0);
    return `stage "${store.name}": the lock's holder (pid ${owner.pid}) is gone; taking the lock over`;
  } catch {
    return undefined;
  }
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

/**
 * The lock as a directory beside the state (`<name>.lock`, proper-lockfile), refreshed while
 * held; a lock whose holder died is taken over after {@link LOCK_STALE_MS}, or at once when the
 * holder was a process on this host (recorded in `<name>.owner`).
 */
export const fileLocker: Locker = {
  async acquire(store, options = {}) {
    await store.ensureDir();
    const target = path.join(store.dir, store.name);
    const { default: lockfile } = await loadLockfile(); // only runs that miss lock
    let release: (() => Promise<void>) | undefined;
    let waited = false;
    let delay = 50;
    while (release === undefined) {
      try {
        release = await lockfile.lock(target, {
          realpath: false,
          lockfilePath: `${target}.lock`,
          stale: LOCK_STALE_MS,
          update: LOCK_STALE_MS / 6,
          onCompromised: (error) =>
            options.onCompromised?.(
              `stage "${store.name}": another process took over its lock (${error.message}); state files stay consistent, but the stage may run twice.`,
            ),
        });
      } catch (error) {
        if (codeOf(error) !== "ELOCKED") {
          throw new MemoriError(
            "lock-failed",
            `stage "${store.name}": cannot lock its state in ${store.dir} (${messageOf(error)}). Is the directory writable?`,
            { stage: store.name, cause: error },
          );
        }
        const reaped = await reapDeadOwner(store, `${target}.lock`);
        if (reaped !== undefined) {
          options.onWait?.(reaped);
          continue;
        }
        if (!waited) {
          waited = true;
          options.onWait?.(
            `stage "${store.name}": waiting for another run of it to finish (lock ${target}.lock)`,
          );
        }
        await pause(delay, options.signal);
        delay = Math.min(delay * 2, 1000);
      }
    }
    // Who holds the lock, so a waiter on this host can tell when the holder has died. A torn
    // write only reads as "owner unknown", so a plain write is enough.
    await writeFile(ownerFile(store), JSON.stringify({ host: hostname(), pid: process.pid })).catch(
      () => undefined,
    );
    const held = release;
    return async () => {
      // Remove the owner record before unlocking, so it can never delete the next holder's.
      await rm(ownerFile(store), { force: true }).catch(() => undefined);
      await held().catch(() => undefined);
    };
  },
};

/** Run `body` holding the lock of `store`. */
export async function withLock<T>(
  store: StateStore,
  body: () => Promise<T>,
  options: LockOptions = {},
  locker: Locker = fileLocker,
): Promise<T> {
  const release = await locker.acquire(store, options);
  try {
    return await body();
  } finally {
    await release();
  }
}
