import { createHash } from "node:crypto";
import { createReadStream, type BigIntStats } from "node:fs";
import { stat } from "node:fs/promises";
import path from "node:path";

/** A SHA-256 digest as 64 lowercase hex characters. */
export type Sha256Hex = string & { readonly __brand: "Sha256Hex" };

/** Read size for streamed hashing: large reads keep the hash close to raw speed. */
const CHUNK = 4 * 1024 * 1024;

/**
 * How long after a file's last change its stat identity is not trusted to stand for its
 * content (git's "racy" problem: a rewrite within the same timestamp tick and of the same size
 * leaves the stat unchanged). 2 s covers the coarsest common timestamps (FAT, some NFS).
 */
const RACY_WINDOW_NS = 2_000_000_000n;

/** Hash a file's content with streamed SHA-256; memory stays bounded whatever its size. */
export function hashFileContent(file: string): Promise<Sha256Hex> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    const stream = createReadStream(file, { highWaterMark: CHUNK });
    stream.on("data", (chunk) => hash.update(chunk));
    stream.on("error", reject);
    stream.on("end", () => resolve(hash.digest("hex") as Sha256Hex));
  });
}

/** Hash a string or bytes with SHA-256. */
export function sha256(data: string | Uint8Array): Sha256Hex {
  return createHash("sha256").update(data).digest("hex") as Sha256Hex;
}

interface Known {
  identity: string;
  hash: Sha256Hex;
  /** The stat identity may stand for the content: the file was not changed just before. */
  trusted: boolean;
}

function identityOf(s: BigIntStats): string {
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}

/**
 * Hashes files, remembering each file's hash beside its stat identity (device, inode, size,
 * mtime and ctime in nanoseconds) so that an unchanged file is read once per process. A file
 * changed within {@link RACY_WINDOW_NS} of being hashed is hashed again on every request,
 * so a quick rewrite that keeps size and timestamps is never missed. With `alwaysHash`, the
 * identity is never trusted.
 */
export class FileHasher {
  readonly #known = new Map<string, Known>();
  readonly #pending = new Map<string, Promise<Sha256Hex>>();
  /** Files read and hashed so far (for tests and benchmarks). */
  reads = 0;

  constructor(readonly alwaysHash = false) {}

  /**
   * The SHA-256 of a regular file's content (symlinks followed), or `undefined` when `file`
   * does not name a regular file that can be read.
   */
  async hash(file: string): Promise<Sha256Hex | undefined> {
    const absolute = path.resolve(file);
    let before: BigIntStats;
    try {
      before = await stat(absolute, { bigint: true });
    } catch {
      return undefined;
    }
    if (!before.isFile()) return undefined;
    const identity = identityOf(before);
    const known = this.#known.get(absolute);
    if (!this.alwaysHash && known?.trusted && known.identity === identity) return known.hash;

    const key = `${absolute}\0${identity}`;
    let pending = this.#pending.get(key);
    if (pending === undefined) {
      pending = this.#read(absolute, before, identity).finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    try {
      return await pending;
    } catch {
      return undefined;
    }
  }

  async #read(absolute: string, before: BigIntStats, identity: string): Promise<Sha256Hex> {
    const startedNs = BigInt(Date.now()) * 1_000_000n;
    this.reads += 1;
    const hash = await hashFileContent(absolute);
    const after = await stat(absolute, { bigint: true });
    const unchanged = identityOf(after) === identity;
    const lastChange = before.mtimeNs > before.ctimeNs ? before.mtimeNs : before.ctimeNs;
    const trusted = unchanged && startedNs - lastChange > RACY_WINDOW_NS;
    if (unchanged) this.#known.set(absolute, { identity, hash, trusted });
    else this.#known.delete(absolute);
    return hash;
  }

  /** Forget everything remembered. */
  clear(): void {
    this.#known.clear();
  }
}

/** Whether content must always be hashed, from `MEMORI_ALWAYS_HASH`. */
export function alwaysHashFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.MEMORI_ALWAYS_HASH;
  return value !== undefined && value !== "" && value !== "0" && value !== "false";
}

/** The process-wide hasher, shared by all stages so a shared file is read once per run. */
export const defaultHasher = new FileHasher(alwaysHashFromEnv());
