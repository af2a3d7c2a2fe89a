// Big files (>= 32 MiB) in src/hashing/files.ts: in-process from the sources, in the worker
// pool of the built package (dist/, driven by test/fixtures/pool-unit-child.mjs): the size
// threshold, progress over the worker's port, a file gone before a worker reads it, and
// workers that cannot start.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { FileHasher, HashScope, workersInUse } from "../../src/hashing/files.js";
import { MiB, sparse, zerosDigest } from "../util/big-files.js";
import { runChild } from "../util/child.js";
import { tempDir } from "../util/tmp.js";

const tick = () => new Promise((r) => setImmediate(r));

/** Hash a big file in-process, watching whether the pool ever claims to be in use meanwhile. */
async function hashWatchingPool(hasher: FileHasher, file: string, scope?: HashScope) {
  let sawWorkers = workersInUse();
  let done = false;
  const pending = hasher.hash(file, scope).finally(() => (done = true));
  while (!done) {
    sawWorkers ||= workersInUse();
    await tick();
  }
  return { hash: await pending, sawWorkers };
}

describe("big files (>= 32 MiB)", () => {
  // pins the in-process fallback from the sources, and progress through the scope (file, bytes, size)
  it("from the sources, are hashed in-process, with progress as (absolute path, bytes, size)", async () => {
    const dir = await tempDir();
    const file = await sparse(dir, "big", 130 * MiB);
    const calls: [string, number, number][] = [];
    const scope = new HashScope((f, bytes, total) => calls.push([f, bytes, total]));
    const hasher = new FileHasher();
    const run = await hashWatchingPool(hasher, path.relative(process.cwd(), file), scope);
    expect(run).toEqual({ hash: zerosDigest(130 * MiB), sawWorkers: false });
    expect(calls).toEqual([
      [file, 64 * MiB, 130 * MiB],
      [file, 128 * MiB, 130 * MiB],
    ]);
    expect(workersInUse()).toBe(false);
    // a scope without a listener, and no scope at all: no progress callback to call
    expect(await hashWatchingPool(new FileHasher(), file, new HashScope())).toEqual(run);
    expect(await hashWatchingPool(new FileHasher(), file)).toEqual(run);
  });

  // pins WORKER_THRESHOLD (>=) and that workersInUse() is false until the pool exists
  it("in the built package, a file of exactly 32 MiB starts the worker pool, one byte less does not", async () => {
    const dir = await tempDir();
    const below = await sparse(dir, "below", 32 * MiB - 1);
    const exact = await sparse(dir, "exact", 32 * MiB);
    const child = await runChild("pool-unit-child.mjs", ["threshold", below, exact], {
      killAfterMs: 15_000,
    });
    expect(child.status, child.stderr).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual({
      before: false,
      below: zerosDigest(32 * MiB - 1),
      afterBelow: false,
      exact: zerosDigest(32 * MiB),
      afterExact: true,
    });
  });

  // pins the progress port of the pool: the channel, its listener, the transfer list
  it("in the built package, progress comes back from the worker over its port", async () => {
    const dir = await tempDir();
    const file = await sparse(dir, "big", 200 * MiB);
    const child = await runChild("pool-unit-child.mjs", ["progress", file], {
      killAfterMs: 15_000,
    });
    expect(child.status, child.stderr).toBe(0);
    const out = JSON.parse(child.stdout) as { calls: [string, number, number][] };
    expect(out).toMatchObject({ before: false, hash: zerosDigest(200 * MiB), after: true });
    expect(out.calls.length).toBeGreaterThan(0);
    expect(out.calls).toEqual(out.calls.map((_, i) => [file, (i + 1) * 64 * MiB, 200 * MiB]));
  });

  // pins that a file gone before the worker reads it gives undefined (it names nothing now),
  // one no longer a regular file then (it became a directory) a hash that never matches (it is
  // there, its content unknown), and that the pool stays in use for the next big file (the
  // worker's error comes back without its code: whether the file is still there decides)
  it.each([
    ["deleted", "vanish", null],
    ["turned into a directory", "dir", expect.stringMatching(/^cannot be read \(error\) #/)],
  ])(
    "in the built package, a file %s before the worker reads it: %s; the pool stays",
    async (_, mode, hash) => {
      const dir = await tempDir();
      const file = await sparse(dir, "changes", 40 * MiB);
      const other = await sparse(dir, "other", 33 * MiB);
      const child = await runChild("pool-unit-child.mjs", [mode, file, other], {
        killAfterMs: 15_000,
      });
      expect(child.status, child.stderr).toBe(0);
      expect(JSON.parse(child.stdout)).toEqual({
        before: false,
        readsBefore: 1,
        hash,
        after: true,
        other: zerosDigest(33 * MiB),
        afterOther: true,
      });
    },
  );

  /** Hash a big file in a process whose hash workers cannot start (run with --input-type). */
  async function inProcessWithoutWorkers(progress: boolean) {
    const dir = await tempDir();
    const file = await sparse(dir, "big", 40 * MiB);
    const files = path.resolve(import.meta.dirname, "..", "..", "dist", "hashing", "files.js");
    const script = [
      `import { FileHasher, HashScope, workersInUse } from ${JSON.stringify(files)};`,
      `const scope = ${progress ? "new HashScope(() => undefined)" : "undefined"};`,
      `const hash = await new FileHasher().hash(${JSON.stringify(file)}, scope);`,
      `console.log(JSON.stringify({ hash, workers: workersInUse() }));`,
    ].join("\n");
    return spawnSync(process.execPath, ["--input-type=module"], {
      input: script,
      encoding: "utf8",
      timeout: 20_000,
    });
  }

  // pins the fallback when the pool's workers cannot start (a script run with --input-type,
  // whose flags workers inherit): the file is hashed in-process, the process does not crash
  it("in the built package, hashes in-process when the workers cannot start", async () => {
    const child = await inProcessWithoutWorkers(false);
    expect(child.status, child.stderr).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual({ hash: zerosDigest(40 * MiB), workers: false });
  });

  // pins closing our end of the progress port: when the workers cannot start, the worker never
  // takes the other end, and an open port with a listener keeps the process alive for ever
  it("in the built package, a process whose workers cannot start still exits after hashing with progress", async () => {
    const child = await inProcessWithoutWorkers(true);
    expect(child.signal, "the process did not exit by itself").toBeNull();
    expect(child.status, child.stderr).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual({ hash: zerosDigest(40 * MiB), workers: false });
  });
});
