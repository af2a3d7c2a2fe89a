// Unit tests of src/hashing/files.ts, written to kill its mutants: the trust rule (racy window
// on max(mtime, ctime)), scopes, shared reads, what is not a regular file, the streamed reader's
// buffer edges and progress, eviction, the env switch. files.pool.test.ts covers big files and
// the worker pool; test/hashing/files.test.ts the end-to-end behaviour.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readdirSync, utimesSync } from "node:fs";
import { mkdtemp, rm, stat, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isUnreadable } from "../../src/hashing/unreadable.js";
import {
  FileHasher,
  HashScope,
  alwaysHashFromEnv,
  alwaysHasher,
  defaultHasher,
  hashFileContent,
  identityOf,
  sha256,
  type Sha256Hex,
} from "../../src/hashing/files.js";
import { MiB, sparse, zerosDigest } from "../util/big-files.js";
import { tempDir } from "../util/tmp.js";

const FAKE = "f".repeat(64) as Sha256Hex;
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
const digest = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
const identity = async (file: string) => identityOf(await stat(file, { bigint: true }));

describe("sha256, identityOf, alwaysHashFromEnv, the shared hashers", () => {
  // pins the algorithm and the hex encoding, for strings and bytes
  it("sha256 gives the standard digests as lowercase hex", () => {
    expect(sha256("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(sha256("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(sha256(new Uint8Array([0x61, 0x62, 0x63]))).toBe(sha256("abc"));
  });

  // pins the identity format dev:ino:size:mtimeNs:ctimeNs
  it("identityOf joins device, inode, size, mtime and ctime in ns with colons", async () => {
    const s = { dev: 1n, ino: 2n, size: 3n, mtimeNs: 4n, ctimeNs: 5n };
    expect(identityOf(s as never)).toBe("1:2:3:4:5");
    const dir = await tempDir();
    const file = path.join(dir, "f");
    await writeFile(file, "12345");
    const b = await stat(file, { bigint: true });
    expect(identityOf(b)).toBe(`${b.dev}:${b.ino}:5:${b.mtimeNs}:${b.ctimeNs}`);
  });

  // pins each literal and the && chain of the MEMORI_ALWAYS_HASH switch
  it("alwaysHashFromEnv: unset, empty, 0 and false are off; anything else is on", () => {
    expect(alwaysHashFromEnv({})).toBe(false);
    for (const off of ["", "0", "false"])
      expect(alwaysHashFromEnv({ MEMORI_ALWAYS_HASH: off })).toBe(false);
    for (const on of ["1", "yes", "true", "no"])
      expect(alwaysHashFromEnv({ MEMORI_ALWAYS_HASH: on })).toBe(true);
    expect(alwaysHashFromEnv()).toBe(alwaysHashFromEnv(process.env));
  });

  // pins the default of the constructor and the two shared instances
  it("a hasher trusts identities by default; alwaysHasher never does", () => {
    expect(new FileHasher().alwaysHash).toBe(false);
    expect(new FileHasher(true).alwaysHash).toBe(true);
    expect(alwaysHasher.alwaysHash).toBe(true);
    expect(defaultHasher.alwaysHash).toBe(alwaysHashFromEnv(process.env));
  });
});

describe("hashFileContent: the streamed reader", () => {
  // pins the two alternating 4 MiB buffers: full chunks, a short last chunk, an empty file
  it("equals a one-shot SHA-256 at the buffer edges", async () => {
    const dir = await tempDir();
    for (const size of [0, 1, 4 * MiB - 1, 4 * MiB, 4 * MiB + 1, 9 * MiB + 7]) {
      const data = Buffer.alloc(size);
      for (let i = 0; i < size; i += 997) data[i] = (i * 7) % 256;
      const file = path.join(dir, `f${size}`);
      await writeFile(file, data);
      expect(await hashFileContent(file), `size ${size}`).toBe(digest(data));
    }
  });

  // pins PROGRESS_EVERY (>=, not >), `reported = done`, `done += bytesRead`
  it("reports progress every 64 MiB with the bytes read so far, and not without a listener", async () => {
    const dir = await tempDir();
    const file = await sparse(dir, "big", 130 * MiB);
    const seen: number[] = [];
    expect(await hashFileContent(file, (bytes) => seen.push(bytes))).toBe(zerosDigest(130 * MiB));
    expect(seen).toEqual([64 * MiB, 128 * MiB]);
    expect(await hashFileContent(file)).toBe(zerosDigest(130 * MiB)); // no listener: none called
  });

  // pins the `finally` that closes the file, on success and on a failed read. (A leaked
  // FileHandle is closed when garbage-collected, which 8 MiB of buffers per call soon causes:
  // so the count is taken around each call, not once around all.)
  it("closes the file afterwards, also when reading fails", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "small");
    await writeFile(file, "x");
    const fds = () => readdirSync("/proc/self/fd").length;
    let grew = 0;
    for (let i = 0; i < 10; i++) {
      const before = fds();
      expect(await hashFileContent(file)).toBe(digest("x"));
      grew += fds() - before;
    }
    for (let i = 0; i < 10; i++) {
      const before = fds();
      await expect(hashFileContent(dir)).rejects.toThrow(/EISDIR/);
      grew += fds() - before;
    }
    expect(grew).toBeLessThanOrEqual(0);
  });
});

describe("FileHasher.hash: what it hashes", () => {
  // pins `stat` failing -> undefined and `!isFile()` -> undefined, without reading
  it("gives undefined, reading nothing, for a missing path, a dangling symlink, a FIFO", async () => {
    const dir = await tempDir();
    const hasher = new FileHasher();
    expect(await hasher.hash(path.join(dir, "missing"))).toBeUndefined();
    await symlink(path.join(dir, "nowhere"), path.join(dir, "dangling"));
    expect(await hasher.hash(path.join(dir, "dangling"))).toBeUndefined();
    expect(hasher.reads).toBe(0);
    execFileSync("mkfifo", [path.join(dir, "fifo")]);
    expect(await hasher.hash(path.join(dir, "fifo"))).toBeUndefined(); // opening it would block
    expect(hasher.reads).toBe(0);
  });

  // pins that stat follows links: the target's content and identity
  it("follows a symlink to a regular file", async () => {
    const dir = await tempDir();
    const target = path.join(dir, "target");
    await writeFile(target, "pointed at");
    await symlink(target, path.join(dir, "link"));
    const hasher = new FileHasher();
    expect(await hasher.hash(path.join(dir, "link"))).toBe(digest("pointed at"));
    expect(hasher.reads).toBe(1);
  });

  // pins the catch around the read: a regular file that cannot be read is undefined, tried again
  // Never undefined (that would make an input a plain string): a hash that never matches.
  it("gives a hash that never matches for a regular file whose read fails, and tries again next time", async () => {
    const hasher = new FileHasher();
    expect((await stat("/proc/self/mem")).isFile()).toBe(true);
    const [a, b] = [await hasher.hash("/proc/self/mem"), await hasher.hash("/proc/self/mem")];
    expect(a).toMatch(/^cannot be read \(EIO\) #/);
    expect(isUnreadable(b!)).toBe(true);
    expect(a).not.toBe(b);
    expect(hasher.reads).toBe(2);
  });
});

describe("FileHasher.hash: reads shared within a run", () => {
  // pins the pending map: concurrent requests share one read, keyed by path and identity
  it("shares one read between concurrent requests for a file, not between files", async () => {
    const dir = await tempDir();
    const [a, b] = [path.join(dir, "a"), path.join(dir, "b")];
    await writeFile(a, "content a");
    await writeFile(b, "content b");
    const hasher = new FileHasher();
    const hashes = await Promise.all([1, 2, 3, 4, 5].map(() => hasher.hash(a)));
    expect(hashes).toEqual(Array(5).fill(digest("content a")));
    expect(hasher.reads).toBe(1);
    expect(await Promise.all([hasher.hash(a), hasher.hash(b)])).toEqual([
      digest("content a"),
      digest("content b"),
    ]);
    expect(hasher.reads).toBe(3); // a young file: read again once the shared read is over
  });

  // pins the scope check (identity equal -> reuse, changed -> read) and what the scope keeps
  it("a scope reuses a young file's hash while its identity holds, and reads it again when it changes", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "young");
    await writeFile(file, "v1");
    const hasher = new FileHasher();
    const scope = new HashScope();
    for (let i = 0; i < 3; i++) expect(await hasher.hash(file, scope)).toBe(digest("v1"));
    expect(hasher.reads).toBe(1);
    expect(scope.seen.get(file)).toMatchObject({
      identity: await identity(file),
      hash: digest("v1"),
    });
    await writeFile(file, "v2-longer");
    expect(await hasher.hash(file, scope)).toBe(digest("v2-longer"));
    expect(hasher.reads).toBe(2);
    expect(await hasher.hash(path.relative(process.cwd(), file), scope)).toBe(digest("v2-longer"));
    expect(hasher.reads).toBe(2); // a relative path names the same file
    expect(hasher.trusted(file)).toBeUndefined(); // young: nothing to record for later runs
  });

  // pins `if (!this.alwaysHash)`: with alwaysHash even the scope is not consulted
  it("with alwaysHash, reads every time, even within a scope", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "f");
    await writeFile(file, "data");
    const hasher = new FileHasher(true);
    const scope = new HashScope();
    for (let i = 0; i < 3; i++) expect(await hasher.hash(file, scope)).toBe(digest("data"));
    expect(hasher.reads).toBe(3);
  });

  // pins `after === identity`: a file changed during its read is kept by no identity
  it("does not remember a file that changed while it was read", async () => {
    const dir = await tempDir();
    const file = await sparse(dir, "moving", 65 * MiB);
    const hasher = new FileHasher();
    const touched = new Date(Date.now() - 3_600_000);
    const scope = new HashScope(() => utimesSync(file, touched, touched));
    expect(await hasher.hash(file, scope)).toBe(zerosDigest(65 * MiB));
    expect(scope.seen.has(file)).toBe(false);
    expect(hasher.trusted(file)).toBeUndefined();
    expect(await hasher.hash(file, new HashScope())).toBe(zerosDigest(65 * MiB));
    expect(hasher.reads).toBe(2);
  });
});

describe("FileHasher: trust across runs (racy window on max(mtime, ctime))", () => {
  let dir: string;
  const old = new Date(Date.now() - 3_600_000);
  const file = (name: string) => path.join(dir, name);

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "memori-aged-"));
    for (const name of ["a", "b", "c", "d"]) {
      await writeFile(file(name), `old ${name}`);
      await utimes(file(name), old, old);
    }
    await writeFile(file("future"), "from the future");
    const later = new Date(Date.now() + 3_600_000);
    await utimes(file("future"), later, later);
    await wait(2100); // ctime, set to now by utimes, leaves the 2 s window too
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  // pins the trusted path (no re-read) and what trusted() returns: identity and hash only
  it("trusts a file old in both mtime and ctime: no second read, trusted() has its identity", async () => {
    const hasher = new FileHasher();
    expect(await hasher.hash(file("a"))).toBe(digest("old a"));
    expect(await hasher.hash(file("a"))).toBe(digest("old a"));
    expect(hasher.reads).toBe(1);
    expect(hasher.trusted(file("a"))).toStrictEqual({
      identity: await identity(file("a")),
      hash: digest("old a"),
    });
    expect(hasher.trusted(file("nothing known"))).toBeUndefined();
  });

  // pins max(mtime, ctime): an old mtime with a recent ctime (cp -p, tar x, rsync -t) is young
  it("does not trust a file whose mtime is old but whose ctime is recent", async () => {
    const young = path.join(await tempDir(), "copied");
    await writeFile(young, "AAAA");
    await utimes(young, old, old); // mtime an hour ago, ctime now
    const hasher = new FileHasher();
    expect(await hasher.hash(young)).toBe(digest("AAAA"));
    expect(hasher.trusted(young)).toBeUndefined();
    expect(await hasher.hash(young)).toBe(digest("AAAA"));
    expect(hasher.reads).toBe(2); // unchanged, but not trusted: read again
    await writeFile(young, "BBBB");
    await utimes(young, old, old); // same size, same mtime
    expect(await hasher.hash(young)).toBe(digest("BBBB"));
    expect(hasher.reads).toBe(3);
  });

  // pins the other side of max(): an mtime in the future keeps a file untrusted
  it("does not trust a file whose mtime is in the future", async () => {
    const hasher = new FileHasher();
    expect(await hasher.hash(file("future"))).toBe(digest("from the future"));
    expect(hasher.trusted(file("future"))).toBeUndefined();
    await hasher.hash(file("future"));
    expect(hasher.reads).toBe(2);
  });

  // pins `current === undefined || !current.trusted` and `trusted: true` in seed()
  it("seed() is used for an unknown or untrusted file, never over a trusted entry", async () => {
    const hasher = new FileHasher();
    hasher.seed(file("b"), { identity: await identity(file("b")), hash: FAKE });
    expect(hasher.trusted(file("b"))).toStrictEqual({
      identity: await identity(file("b")),
      hash: FAKE,
    });
    expect(await hasher.hash(file("b"))).toBe(FAKE); // a seeded identity stands for the content
    expect(hasher.reads).toBe(0);

    expect(await hasher.hash(file("c"))).toBe(digest("old c")); // trusted by reading
    hasher.seed(file("c"), { identity: await identity(file("c")), hash: FAKE });
    expect(await hasher.hash(file("c"))).toBe(digest("old c"));
    expect(hasher.trusted(file("c"))?.hash).toBe(digest("old c"));

    const young = path.join(await tempDir(), "young");
    await writeFile(young, "young");
    expect(await hasher.hash(young)).toBe(digest("young")); // remembered, untrusted
    hasher.seed(young, { identity: await identity(young), hash: FAKE });
    expect(await hasher.hash(young)).toBe(FAKE);

    hasher.seed(file("d"), { identity: "0:0:0:0:0", hash: FAKE }); // another identity: not used
    expect(await hasher.hash(file("d"))).toBe(digest("old d"));
    expect(hasher.reads).toBe(3);
  });

  // pins the early return of seed() with alwaysHash
  it("seed() is ignored with alwaysHash", async () => {
    const hasher = new FileHasher(true);
    hasher.seed(file("b"), { identity: await identity(file("b")), hash: FAKE });
    expect(hasher.trusted(file("b"))).toBeUndefined();
    expect(await hasher.hash(file("b"))).toBe(digest("old b"));
  });

  // pins clear()
  it("clear() forgets trusted hashes", async () => {
    const hasher = new FileHasher();
    await hasher.hash(file("a"));
    expect(hasher.trusted(file("a"))).toBeDefined();
    hasher.clear();
    expect(hasher.trusted(file("a"))).toBeUndefined();
    await hasher.hash(file("a"));
    expect(hasher.reads).toBe(2);
  });
});

describe("FileHasher: how many hashes it remembers (200 000, least recently hashed first out)", () => {
  const LIMIT = 200_000;
  const fakes = (hasher: FileHasher, from: number, count: number) => {
    for (let i = from; i < from + count; i++)
      hasher.seed(`/memori-nowhere/f${i}`, { identity: "x", hash: FAKE });
  };
  const young = async (dir: string, name: string) => {
    const file = path.join(dir, name);
    await writeFile(file, name);
    return file;
  };

  // pins `size > MAX_REMEMBERED` (not >=), the eviction, and that a hash without identity is not kept
  it("forgets the oldest entry once more than 200 000 are kept", async () => {
    const dir = await tempDir();
    const hasher = new FileHasher();
    const first = await young(dir, "first");
    hasher.seed(first, { identity: await identity(first), hash: FAKE }); // 1 entry, first in line
    fakes(hasher, 0, LIMIT - 3); // LIMIT - 2 entries
    const moving = await sparse(dir, "moving", 65 * MiB);
    const now = new Date();
    await hasher.hash(moving, new HashScope(() => utimesSync(moving, now, now))); // not kept
    await hasher.hash(await young(dir, "b")); // LIMIT - 1
    await hasher.hash(await young(dir, "c")); // LIMIT: nothing forgotten yet
    expect(hasher.trusted(first)).toStrictEqual({ identity: await identity(first), hash: FAKE });
    await hasher.hash(await young(dir, "d")); // LIMIT + 1: the first is forgotten
    expect(hasher.trusted(first)).toBeUndefined();
    expect(hasher.trusted("/memori-nowhere/f0")).toBeDefined();
  });

  // pins the delete before re-inserting: a file hashed again moves to the end of the line
  it("a file read again moves behind the others", async () => {
    const dir = await tempDir();
    const hasher = new FileHasher();
    const file = await young(dir, "again");
    await hasher.hash(file); // 1 entry, first in line
    fakes(hasher, 0, LIMIT - 1); // LIMIT entries
    await hasher.hash(file); // young, so read again: now last in line
    await hasher.hash(await young(dir, "one more")); // LIMIT + 1: the first fake goes
    expect(hasher.trusted("/memori-nowhere/f0")).toBeUndefined();
    expect(hasher.trusted("/memori-nowhere/f1")).toBeDefined();
  });
});
