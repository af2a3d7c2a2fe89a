import { readFile, rename, stat, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Stage } from "../../src/index.js";
import {
  FileHasher,
  HashScope,
  alwaysHasher,
  hashFileContent,
  identityOf,
} from "../../src/hashing/files.js";
import { sha256 } from "../../src/hashing/files.js";
import { runChild } from "../util/child.js";
import { recordingLogger, tempDir } from "../util/tmp.js";

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Make a file old enough for its identity to be trusted (outside the 2 s racy window). */
async function age(file: string): Promise<void> {
  const old = new Date(Date.now() - 60_000);
  await utimes(file, old, old);
  await wait(2100); // ctime moved with utimes: let it age too
}

describe("streamed hashing", () => {
  it("matches a one-shot SHA-256 for sizes around the chunk boundaries", async () => {
    const dir = await tempDir();
    for (const size of [
      0,
      1,
      4 * 1024 * 1024 - 1,
      4 * 1024 * 1024,
      4 * 1024 * 1024 + 1,
      9 * 1024 * 1024 + 7,
    ]) {
      const data = Buffer.alloc(size);
      for (let i = 0; i < size; i += 4093) data[i] = i % 251;
      const file = path.join(dir, `f${size}`);
      await writeFile(file, data);
      expect(await hashFileContent(file)).toBe(sha256(data));
    }
  });

  it("hashes big files in the worker pool of the built package, with the same result", async () => {
    const dir = await tempDir();
    const data = Buffer.alloc(40 * 1024 * 1024, 7);
    const files = [path.join(dir, "big1"), path.join(dir, "big2")];
    for (const file of files) await writeFile(file, data);
    const child = await runChild("pool-child.mjs", files);
    expect(child.status, child.stderr).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual({
      hashes: [sha256(data), sha256(data)],
      workers: true,
    });
    // from the TypeScript sources (no compiled worker) the same hash is computed in-process
    expect(await new FileHasher().hash(files[0]!)).toBe(sha256(data));
  });
});

describe("the hash cache is never wrong", () => {
  it("reuses a trusted hash without reading, and detects a rewrite with the same size and restored mtime", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "t1.nii");
    await writeFile(file, "aaaa");
    await age(file);
    const hasher = new FileHasher();
    expect(await hasher.hash(file)).toBe(sha256("aaaa"));
    expect(await hasher.hash(file)).toBe(sha256("aaaa"));
    expect(hasher.reads).toBe(1);
    const before = await stat(file);
    await writeFile(file, "bbbb");
    await utimes(file, before.atime, before.mtime); // same size, same mtime: only ctime moved
    expect(await hasher.hash(file)).toBe(sha256("bbbb"));
    expect(hasher.reads).toBe(2);
  });

  it("never trusts the identity of a file changed just before it was hashed (racy case)", async () => {
    // A rewrite within the same timestamp tick can keep size, mtime and ctime. Such a rewrite
    // can only follow a change made just before the hash was taken, so the identity of a file
    // changed within the racy window is never trusted: even unchanged, it is read again.
    const dir = await tempDir();
    const file = path.join(dir, "racy.nii");
    let sameIdentity = 0;
    let missed = 0;
    const tries = 50;
    for (let i = 0; i < tries; i++) {
      const hasher = new FileHasher();
      await writeFile(file, `v${i % 10}a`);
      const first = identityOf(await stat(file, { bigint: true }));
      expect(await hasher.hash(file)).toBe(sha256(`v${i % 10}a`));
      expect(hasher.trusted(file)).toBeUndefined();
      expect(await hasher.hash(file)).toBe(sha256(`v${i % 10}a`));
      expect(hasher.reads).toBe(2); // unchanged, but young: read again
      await writeFile(file, `v${i % 10}b`);
      if (identityOf(await stat(file, { bigint: true })) === first) sameIdentity++;
      if ((await hasher.hash(file)) !== sha256(`v${i % 10}b`)) missed++;
    }
    console.log(
      `racy case: ${tries} quick same-size rewrites (${sameIdentity} kept an identical stat identity on this file system), ${missed} missed`,
    );
    expect(missed).toBe(0);
    await age(file);
    const hasher = new FileHasher();
    await hasher.hash(file);
    expect(hasher.trusted(file)).toBeDefined(); // once old enough, the identity is trusted
  });

  it("detects a file replaced by rename", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "mask.nii");
    await writeFile(file, "old!");
    await age(file);
    const hasher = new FileHasher();
    expect(await hasher.hash(file)).toBe(sha256("old!"));
    const other = path.join(dir, "new.tmp");
    await writeFile(other, "new!");
    const old = new Date(Date.now() - 60_000);
    await utimes(other, old, old);
    await rename(other, file);
    expect(await hasher.hash(file)).toBe(sha256("new!"));
  });

  it("with alwaysHash, never trusts an identity", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "x");
    await writeFile(file, "real");
    const identity = identityOf(await stat(file, { bigint: true }));
    const lying = { identity, hash: sha256("a lie") };
    const trusting = new FileHasher(false);
    trusting.seed(file, lying);
    expect(await trusting.hash(file)).toBe(sha256("a lie")); // a seeded identity stands for content
    const always = new FileHasher(true);
    always.seed(file, lying);
    expect(await always.hash(file)).toBe(sha256("real"));
    expect(await always.hash(file)).toBe(sha256("real"));
    expect(always.reads).toBe(2);
  });

  it("reads a young file once per scope, not once per request", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "young");
    await writeFile(file, "fresh");
    const hasher = new FileHasher();
    const scope = new HashScope();
    for (let i = 0; i < 5; i++) expect(await hasher.hash(file, scope)).toBe(sha256("fresh"));
    expect(hasher.reads).toBe(1);
    await hasher.hash(file);
    expect(hasher.reads).toBe(2); // outside the scope, a young file's identity is not trusted
  });
});

describe("the alwaysHash option", () => {
  it("makes a stage read its input files every run, even old unchanged ones", async () => {
    const dir = await tempDir();
    const input = path.join(dir, "old.nii");
    await writeFile(input, "volume");
    await age(input);
    const make = () =>
      new Stage(async (file: string) => (await readFile(file, "utf8")).length, {
        name: "measure",
        alwaysHash: true,
        hashOutput: path.join(dir, "state"),
        logger: recordingLogger().logger,
      });
    await make().run(input);
    const before = alwaysHasher.reads;
    const again = make();
    await again.run(input);
    expect(again.fromCache).toBe(true);
    expect(alwaysHasher.reads).toBe(before + 1);
    expect(() => new Stage(() => 1, { name: "x", alwaysHash: "yes" as never })).toThrow(
      /`alwaysHash` to be a boolean/,
    );
  });
});

describe("the persistent hash cache (<name>.files)", () => {
  it("spares reading an unchanged input in a later process, and never hides a change", async () => {
    const dir = await tempDir();
    const input = path.join(dir, "in.nii");
    await writeFile(input, "x".repeat(1000));
    await age(input);
    const state = path.join(dir, "state");
    const run = async () => JSON.parse((await runChild("hash-child.mjs", [state, input])).stdout);
    expect(await run()).toMatchObject({ output: 1000, fromCache: false, reads: 1 });
    expect(await run()).toMatchObject({ output: 1000, fromCache: true, reads: 0 });
    const known = JSON.parse(await readFile(path.join(state, "measure.files"), "utf8"));
    expect(Object.keys(known.files)).toEqual([input]);
    await writeFile(input, "y".repeat(1000)); // same size
    const changed = await run();
    expect(changed).toMatchObject({ output: 1000, fromCache: false, reads: 1 });
    // MEMORI_ALWAYS_HASH=1: a sidecar claiming the new identity has the old content is ignored
    await age(input);
    await run();
    const files = JSON.parse(await readFile(path.join(state, "measure.files"), "utf8"));
    files.files[input].hash = sha256("x".repeat(1000));
    await writeFile(path.join(state, "measure.files"), JSON.stringify(files));
    const always = JSON.parse(
      (await runChild("hash-child.mjs", [state, input], { env: { MEMORI_ALWAYS_HASH: "1" } }))
        .stdout,
    );
    expect(always).toMatchObject({ fromCache: true, reads: 1 });
  });
});
