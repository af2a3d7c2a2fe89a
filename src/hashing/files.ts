/**
 * File hashing: streamed SHA-256 at close to raw speed, large files in a worker-thread pool so
 * several files use several cores, and a cache of each file's hash beside its stat identity so
 * an unchanged file is never read again.
 */
import type { BigIntStats } from "node:fs";
import { existsSync, statSync } from "../untracked-fs.js";
import { open, stat } from "node:fs/promises";
import { availableParallelism } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type Tinypool from "tinypool";
import { DirectoryHasher, type DirectoryRule } from "./directories.js";
import { crypto, tinypool, workerThreads } from "../lazy-modules.js";
import { codeOf } from "../errors.js";
import { trustAfterNs } from "./file-systems.js";
import { sha256Hex } from "./sha256.js";
import { unreadableHash } from "./unreadable.js";

export type { DirectoryRule, RecordedTree } from "./directories.js";

/** A SHA-256 digest as 64 lowercase hex characters. */
export type Sha256Hex = string & { readonly __brand: "Sha256Hex" };

/** Read size for streamed hashing: large reads keep the hash close to raw speed. */
const CHUNK = 4 * 1024 * 1024;

/** The smallest read buffer (for small files). */
const SMALL_CHUNK = 16 * 1024;

/** How many files' hashes a process remembers (the least recently hashed are forgotten). */
const MAX_REMEMBERED = 200_000;

/** Long hashes report their progress every this many bytes. */
const PROGRESS_EVERY = 64 * 1024 * 1024;

/** Files at least this large are hashed in the worker pool, off the main thread. */
const WORKER_THRESHOLD = 32 * 1024 * 1024;

/**
 * How long after a file's last change its stat identity is not trusted to stand for its
 * content (git's "racy" problem: a rewrite within the same timestamp tick and of the same size
 * leaves the stat unchanged). 2 s covers the coarsest common timestamps (FAT, some NFS). On a
 * file system other hosts write, longer by the clock skew allowed (file-systems.ts).
 */
const RACY_WINDOW_NS = 2_000_000_000n;

/**
 * Hash a file's content with SHA-256, reading 4 MiB at a time into two alternating buffers so
 * that the next read (on the libuv thread pool) overlaps hashing the current one. Memory stays
 * at 8 MiB whatever the file's size.
 */
export async function hashFileContent(
  file: string,
  onProgress?: (bytes: number) => void,
  sizeHint?: number,
): Promise<Sha256Hex> {
  const handle = await open(file, "r");
  try {
    const hash = crypto().createHash("sha256");
    // A small file gets small buffers: two 4 MiB buffers per file would make hashing 100,000
    // small files (a directory tree) mostly a matter of allocating memory.
    const size =
      sizeHint === undefined ? CHUNK : Math.min(CHUNK, Math.max(SMALL_CHUNK, sizeHint + 1));
    const buffers = [Buffer.allocUnsafe(size), Buffer.allocUnsafe(size)] as const;
    let current = 0;
    let done = 0;
    let reported = 0;
    let pending = handle.read(buffers[0], 0, size, null);
    for (;;) {
      const { bytesRead } = await pending;
      if (bytesRead === 0) break;
      done += bytesRead;
      if (onProgress !== undefined && done - reported >= PROGRESS_EVERY) {
        reported = done;
        onProgress(done);
      }
      const filled = buffers[current]!;
      current = 1 - current;
      pending = handle.read(buffers[current]!, 0, size, null);
      hash.update(bytesRead === size ? filled : filled.subarray(0, bytesRead));
    }
    return hash.digest("hex") as Sha256Hex;
  } finally {
    await handle.close();
  }
}

/** Hash a string or bytes with SHA-256 (small data without loading `node:crypto`: sha256.ts). */
export function sha256(data: string | Uint8Array): Sha256Hex {
  return sha256Hex(data) as Sha256Hex;
}

let pool: Tinypool | undefined;
let poolBroken = false;
/** Rejects when a worker of the pool cannot start; its tasks would never settle otherwise. */
let poolFailed: Promise<never> | undefined;

/**
 * Hash a big file in the worker-thread pool (several big files then hash on several cores).
 * Falls back to hashing here if the worker cannot be loaded (running from TypeScript sources,
 * or tinypool cannot be imported): a file is hashed either way.
 */
async function hashBigFile(file: string, onProgress?: (bytes: number) => void): Promise<Sha256Hex> {
  if (!poolBroken && pool === undefined) {
    const worker = new URL("./hash-worker.js", import.meta.url);
    // Without the worker's file (running from TypeScript sources) or tinypool: hash here.
    const TinypoolClass = existsSync(fileURLToPath(worker))
      ? await tinypool().catch(() => undefined)
      : undefined;
    if (TinypoolClass === undefined) {
      poolBroken = true;
    } else if (pool === undefined) {
      pool = new TinypoolClass({
        filename: worker.href,
        minThreads: 0,
        maxThreads: availableParallelism(),
        idleTimeout: 2000,
      });
      // A worker that cannot start (a process run with `-e` or `--input-type`, whose flags
      // workers inherit) must not take the process down: hash here instead.
      const started = pool;
      poolFailed = new Promise<never>((_, reject) =>
        started.on("error", (error: unknown) => {
          poolBroken = true;
          reject(error as Error);
        }),
      );
      poolFailed.catch(() => undefined);
    }
  }
  if (pool !== undefined && !poolBroken) {
    // The worker reports progress over a port of its own.
    const channel = onProgress === undefined ? undefined : new (workerThreads().MessageChannel)();
    channel?.port1.on("message", (bytes: number) => onProgress?.(bytes));
    try {
      const task = pool.run(
        { file, port: channel?.port2 },
        channel ? { transferList: [channel.port2] } : {},
      ) as Promise<Sha256Hex>;
      return await (poolFailed ? Promise.race([task, poolFailed]) : task);
    } catch (error) {
      // The file went away (the worker's error loses its code on the way back): no hash, and
      // the pool is fine. Anything else: the pool is not, hash here from now on.
      const stillThere = await stat(file).then(
        (s) => s.isFile(),
        () => false,
      );
      if (!stillThere) throw error;
      poolBroken = true;
    } finally {
      channel?.port1.close();
    }
  }
  return hashFileContent(file, onProgress);
}

/** Whether big files are being hashed in worker threads (for tests and benchmarks). */
export function workersInUse(): boolean {
  return pool !== undefined && !poolBroken;
}

/** A file's identity: what changes whenever its content can have changed. */
export function identityOf(s: BigIntStats): string {
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}

/** A file's hash with the stat identity it was computed for. */
export interface KnownHash {
  identity: string;
  hash: Sha256Hex;
}

interface Known extends KnownHash {
  /** The identity may stand for the content: the file had not changed just before hashing. */
  trusted: boolean;
}

/**
 * Hashes remembered for the duration of one run (a pipeline run, or one stage run): a file's
 * hash is reused while its stat identity is unchanged, even when the file is too young for its
 * identity to be trusted across runs, so each file is read at most once per run.
 */
export class HashScope {
  /** The hashes found in this scope, by absolute path, with the stat identity each is for. */
  readonly seen = new Map<string, KnownHash>();
  /** Told how far long hashes have got. */
  constructor(
    /** Called as a large file is hashed: bytes hashed so far of `total`. */
    readonly onProgress?: (file: string, bytes: number, total: number) => void,
  ) {}
}

/** Whether `file` exists (or may: a `stat` that fails otherwise than ENOENT). */
function stillThere(file: string): boolean {
  try {
    return statSync(file, { throwIfNoEntry: false }) !== undefined;
  } catch {
    return true;
  }
}

/** Errors of `stat` that leave a file's existence unknown (a directory on its way barred). */
const BARRED = new Set(["EACCES", "EPERM", "EIO"]);

/**
 * Hashes files, remembering each file's hash beside its stat identity (device, inode, size,
 * mtime and ctime in nanoseconds). An identity is trusted across runs only if the file had not
 * changed within the racy window (`RACY_WINDOW_NS`, 2 s; longer on a file system other hosts
 * write) of being hashed, so a quick rewrite that keeps size and
 * timestamps is never missed. With `alwaysHash`, identities are never trusted and every request
 * reads the file (concurrent requests for one file still share one read).
 *
 * @example
 * ```ts
 * const hasher = new FileHasher();
 * await hasher.hash("sub-01_T1w.nii.gz"); // "3c4636..." (64 hex characters), or undefined
 * await hasher.hash("sub-01_T1w.nii.gz"); // the same; not read again if it was still for 2 s
 * ```
 */
export class FileHasher {
  readonly #known = new Map<string, Known>();
  readonly #pending = new Map<string, Promise<Known>>();
  /** Files read and hashed so far (for tests and benchmarks). */
  reads = 0;
  /** Directories by content. */
  readonly directories: DirectoryHasher;

  constructor(
    /** Never trust a stat identity: read every file asked for (`MEMORI_ALWAYS_HASH=1`). */
    readonly alwaysHash = false,
  ) {
    this.directories = new DirectoryHasher(async (file) => this.hash(file), alwaysHash);
  }

  /**
   * The SHA-256 of a regular file's content (symlinks followed), or of a directory's entries
   * under `rule` (see `directories.ts`); `undefined` when `file` names neither (or nothing);
   * a hash that never matches (`unreadableHash`) when it is there but cannot be read.
   */
  async hash(
    file: string,
    scope?: HashScope,
    rule?: DirectoryRule,
  ): Promise<Sha256Hex | undefined> {
    const absolute = path.resolve(file);
    // Synchronous: a file known by its stat identity is then hashed without any asynchronous
    // call, and a skip that makes none never starts libuv's thread pool (which.ts).
    let before: BigIntStats | undefined;
    try {
      before = statSync(absolute, { bigint: true, throwIfNoEntry: false });
    } catch (error) {
      // Not a path (ENOTDIR, ENAMETOOLONG...); but a file behind a directory memori may not
      // enter may exist: it cannot tell, so it never matches.
      return BARRED.has(codeOf(error) ?? "")
        ? (unreadableHash(codeOf(error)) as Sha256Hex)
        : undefined;
    }
    if (before === undefined) return undefined;
    if (before.isDirectory()) {
      this.#known.delete(absolute);
      return (await this.directories.hash(absolute, rule, scope?.seen)) as Sha256Hex | undefined;
    }
    this.directories.forget(absolute);
    if (!before.isFile()) return undefined;
    const identity = identityOf(before);
    if (!this.alwaysHash) {
      const inScope = scope?.seen.get(absolute);
      if (inScope?.identity === identity) return inScope.hash;
      const known = this.#known.get(absolute);
      if (known?.trusted && known.identity === identity) {
        scope?.seen.set(absolute, known); // as it was hashed in this scope (commit.ts compares)
        return known.hash;
      }
    }
    const key = `${absolute}\0${identity}`;
    let pending = this.#pending.get(key);
    if (pending === undefined) {
      const report = scope?.onProgress;
      const onProgress =
        report === undefined
          ? undefined
          : (bytes: number) => report(absolute, bytes, Number(before.size));
      pending = this.#read(absolute, before, identity, onProgress).finally(() =>
        this.#pending.delete(key),
      );
      this.#pending.set(key, pending);
    }
    try {
      const result = await pending;
      if (result.identity === identity) scope?.seen.set(absolute, result);
      return result.hash;
    } catch (error) {
      // Gone meanwhile: it names nothing now. Still there: its content is unknown. (A worker's
      // error comes back without its code.)
      return stillThere(absolute) ? (unreadableHash(codeOf(error)) as Sha256Hex) : undefined;
    }
  }

  async #read(
    absolute: string,
    before: BigIntStats,
    identity: string,
    onProgress?: (bytes: number) => void,
  ): Promise<Known> {
    const startedNs = BigInt(Date.now()) * 1_000_000n;
    this.reads += 1;
    const hash =
      before.size >= WORKER_THRESHOLD
        ? await hashBigFile(absolute, onProgress)
        : await hashFileContent(absolute, onProgress, Number(before.size));
    const after = identityOf(await stat(absolute, { bigint: true }));
    const lastChange = before.mtimeNs > before.ctimeNs ? before.mtimeNs : before.ctimeNs;
    const known: Known = {
      // Changed while being read: the hash belongs to no identity.
      identity: after === identity ? identity : "",
      hash,
      trusted:
        after === identity && startedNs - lastChange > trustAfterNs(before.dev, RACY_WINDOW_NS),
    };
    this.#known.delete(absolute); // re-inserted last: the map's order is least recently hashed first
    if (known.identity) this.#known.set(absolute, known);
    if (this.#known.size > MAX_REMEMBERED) this.#known.delete(this.#known.keys().next().value!);
    return known;
  }

  /**
   * Learn a hash recorded earlier for a file's identity (from a stage's `.files` record). It is
   * used only while the file keeps that identity, and was recorded only if trusted then.
   */
  seed(file: string, known: KnownHash): void {
    if (this.alwaysHash) return;
    const absolute = path.resolve(file);
    if (known.identity.startsWith("tree:")) {
      this.directories.seed(absolute, known.identity, known.hash);
      return;
    }
    const current = this.#known.get(absolute);
    if (current === undefined || !current.trusted)
      this.#known.set(absolute, { ...known, trusted: true });
  }

  /** The trusted hash of a file, if one is known, to be recorded for later runs. */
  trusted(file: string): KnownHash | undefined {
    const absolute = path.resolve(file);
    const known = this.#known.get(absolute);
    if (known !== undefined)
      return known.trusted ? { identity: known.identity, hash: known.hash } : undefined;
    return this.directories.trusted(absolute) as KnownHash | undefined;
  }

  /** Forget everything remembered. */
  clear(): void {
    this.#known.clear();
    this.directories.clear();
  }
}

/** Whether content must always be hashed, from `MEMORI_ALWAYS_HASH`. */
export function alwaysHashFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.MEMORI_ALWAYS_HASH;
  return value !== undefined && value !== "" && value !== "0" && value !== "false";
}

/** The process-wide hasher, shared by all stages so a shared file is read once per run. */
export const defaultHasher = new FileHasher(alwaysHashFromEnv());

/** The hasher of stages with `alwaysHash`: it never trusts a stat identity. */
export const alwaysHasher = new FileHasher(true);
