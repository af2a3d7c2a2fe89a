import { spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { appendFile, mkdir, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { MemoriError, Pipeline, Stage } from "../../src/index.js";
import { fileLocker } from "../../src/state/lock.js";
import { StateStore } from "../../src/state/store.js";
import { startChild } from "../util/child.js";
import { recordingLogger, tempDir } from "../util/tmp.js";

const fixture = path.resolve(import.meta.dirname, "..", "fixtures", "square-child.mjs");
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("the lock between processes (lock.ts)", () => {
  // Proves waiting for another process's lock stops on an interrupt: the run rejects with
  // "interrupted" at once, not when the other process lets go of the lock.
  it("a run waiting for another process's lock stops when its signal aborts", async () => {
    const dir = await tempDir();
    const hashOutput = path.join(dir, "state");
    const work = path.join(dir, "work");
    await mkdir(work);
    // The child holds the lock of "square" for about 6 s.
    const child = spawn(process.execPath, [fixture, hashOutput, work, "3", "6000"], {
      stdio: "ignore",
    });
    const closed = new Promise((resolve) => child.on("close", resolve));
    try {
      const lockDir = path.join(hashOutput, "square.lock");
      const end = Date.now() + 10_000;
      while (!existsSync(lockDir)) {
        if (Date.now() > end) throw new Error("the child never took the lock");
        await sleep(20);
      }

      // The same stage as the fixture's (same name and hashOutput: the same lock).
      const square = new Stage(
        async function square(x: number, outFile: string, delay: number) {
          await appendFile(
            path.join(path.dirname(outFile), "executions.log"),
            `${process.pid} ${x}\n`,
          );
          await writeFile(outFile, "");
          for (let i = 0; i < 4; i++) {
            await appendFile(outFile, `value=${x * x + 1}\n`.repeat(2000));
            if (delay) await new Promise((r) => setTimeout(r, delay / 4));
          }
          return { value: x * x + 1, file: outFile };
        },
        { outputs: ["value", "file"], hashOutput, logger: recordingLogger().logger },
      );
      const controller = new AbortController();
      const pipeline = new Pipeline([["start", square]], { signal: controller.signal });
      let abortedAt = 0;
      setTimeout(() => {
        abortedAt = Date.now();
        controller.abort();
      }, 500);
      const error = await pipeline
        .run(3, path.join(work, "out.txt"), 6000)
        .catch((e: unknown) => e);
      const waited = Date.now() - abortedAt;
      expect(abortedAt).toBeGreaterThan(0);
      expect(error).toBeInstanceOf(MemoriError);
      expect((error as MemoriError).reason).toBe("interrupted");
      expect(waited).toBeLessThan(2000); // not the child's 6 s
      expect(child.exitCode).toBeNull(); // the child still held the lock
    } finally {
      child.kill("SIGKILL");
      await closed;
    }
  });
});

describe("the lock file (<name>.lock)", () => {
  const store = async () => {
    const dir = await tempDir();
    return new StateStore(path.join(dir, "state"), "square");
  };
  const lockOf = (s: StateStore) => path.join(s.dir, `${s.name}.lock`);
  /** A lock left by someone else: its owner, its age. */
  const leave = (s: StateStore, owner: object | "dir", ageMs: number) => {
    mkdirSync(s.dir, { recursive: true });
    if (owner === "dir") mkdirSync(lockOf(s));
    else writeFileSync(lockOf(s), JSON.stringify(owner));
    const then = new Date(Date.now() - ageMs);
    utimesSync(lockOf(s), then, then);
  };

  // Taken: the file exists while held, holds this process as owner, and is gone after.
  it("is a file holding its owner while held, made with the state directory", async () => {
    const s = await store();
    const { release } = await fileLocker.acquire(s);
    expect(JSON.parse(readFileSync(lockOf(s), "utf8"))).toEqual({
      host: hostname(),
      pid: process.pid,
    });
    await release();
    expect(existsSync(lockOf(s))).toBe(false);
    expect(readdirSync(s.dir)).toEqual([]); // no owner file, no temp
  });

  // Held by a live process elsewhere and fresh: the taker waits (and says so once).
  it("waits for a fresh lock of another host, and stops waiting when aborted", async () => {
    const s = await store();
    leave(s, { host: "elsewhere", pid: process.pid + 1 }, 0);
    const waits: string[] = [];
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("enough")), 400);
    await expect(
      fileLocker.acquire(s, { onWait: (m) => waits.push(m), signal: controller.signal }),
    ).rejects.toThrow("enough");
    expect(waits).toEqual([
      `stage "square": waiting for another run of it to finish (lock ${lockOf(s)})`,
    ]);
    expect(JSON.parse(readFileSync(lockOf(s), "utf8"))).toEqual({
      host: "elsewhere",
      pid: process.pid + 1,
    });
  });

  // Not refreshed for longer than the stale time (30 s): taken over from any host, also the
  // directory earlier versions made, also one whose owner cannot be read.
  it.each([
    ["another host's", { host: "elsewhere", pid: 1 }],
    ["an earlier version's (a directory)", "dir" as const],
    ["a torn", {}],
  ])("takes over %s lock left unrefreshed", async (_, owner) => {
    const s = await store();
    leave(s, owner, 45_000);
    const waits: string[] = [];
    const { release } = await fileLocker.acquire(s, { onWait: (m) => waits.push(m) });
    expect(waits).toEqual([
      expect.stringMatching(
        /^stage "square": its lock was last refreshed 45 s ago \(stale after 30 s\); taking the lock over$/,
      ),
    ]);
    expect(JSON.parse(readFileSync(lockOf(s), "utf8"))).toMatchObject({ pid: process.pid });
    await release();
    expect(readdirSync(s.dir)).toEqual([]); // the stale lock moved aside is gone too
  });

  // The lock carries its call's commit record: filled, it still holds as the lock (and names
  // its owner: the record has host and pid); renamed over .stage, it is given back, and the
  // release removes nothing.
  it("carries the commit record and is given back by its rename", async () => {
    const s = await store();
    const lock = await fileLocker.acquire(s);
    const record = JSON.stringify({ host: hostname(), pid: process.pid, memori: 3 });
    expect(lock.carrier!.path).toBe(lockOf(s));
    expect(lock.carrier!.fill(record)).toBe(true);
    expect(readFileSync(lockOf(s), "utf8")).toBe(record); // the owner's text replaced whole
    let waited = false;
    const other = fileLocker.acquire(s, { onWait: () => (waited = true) });
    await sleep(100);
    expect(waited).toBe(true); // still the lock: another taker waits
    renameSync(lockOf(s), s.file("stage"));
    lock.carrier!.moved();
    await lock.release();
    expect(readFileSync(s.file("stage"), "utf8")).toBe(record);
    const next = await other; // free again: taken at once
    await next.release();
    expect(readdirSync(s.dir)).toEqual(["square.stage"]);
  });

  // Filled but never renamed (a later write failed): the release removes it as a lock.
  it("is removed by the release when filled but not renamed", async () => {
    const s = await store();
    const lock = await fileLocker.acquire(s);
    expect(lock.carrier!.fill('{"a":1}')).toBe(true);
    await lock.release();
    expect(readdirSync(s.dir)).toEqual([]);
  });

  // A lock that is no longer this process's (another took it over) carries nothing.
  it("refuses to carry a record once the lock is someone else's", async () => {
    const s = await store();
    const lock = await fileLocker.acquire(s);
    rmSync(lockOf(s));
    leave(s, { host: "elsewhere", pid: 1 }, 0);
    expect(lock.carrier!.fill("record")).toBe(false);
    expect(JSON.parse(readFileSync(lockOf(s), "utf8"))).toEqual({ host: "elsewhere", pid: 1 });
    await lock.release();
    expect(existsSync(lockOf(s))).toBe(true); // the new holder's lock stays
  });

  // A lock whose owner is a process of this host that is gone: taken over at once.
  it("takes over at once the fresh lock of a dead process on this host", async () => {
    const s = await store();
    const dead = spawnSync(process.execPath, ["-e", "process.pid"]).pid!;
    leave(s, { host: hostname(), pid: dead }, 0);
    const waits: string[] = [];
    const { release } = await fileLocker.acquire(s, { onWait: (m) => waits.push(m) });
    expect(waits).toEqual([
      `stage "square": the lock's holder (pid ${dead}) is gone; taking the lock over`,
    ]);
    await release();
  });

  // A lock of this very process (another pipeline in it) is never judged by its pid.
  it("waits for its own process's other holder, then takes the lock", async () => {
    const s = await store();
    const { release: first } = await fileLocker.acquire(s);
    let second = false;
    const taking = fileLocker.acquire(s).then(({ release }) => {
      second = true;
      return release;
    });
    await sleep(150);
    expect(second).toBe(false);
    await first();
    await (
      await taking
    )();
    expect(second).toBe(true);
  });

  // A holder keeps its lock fresh while it runs (every sixth of the stale time), and a holder
  // whose lock was taken over says so, and does not remove the new holder's lock.
  it("is refreshed while held; a holder that lost it warns, commits nothing and leaves the new lock", async () => {
    const dir = await tempDir();
    const hashOutput = path.join(dir, "state");
    const work = path.join(dir, "work");
    await mkdir(work);
    const child = startChild(fixture, [hashOutput, work, "3", "4000"], {
      MEMORI_LOCK_STALE_MS: "5000", // refreshed every 833 ms
    });
    const lock = path.join(hashOutput, "square.lock");
    const end = Date.now() + 10_000;
    while (!existsSync(lock)) {
      if (Date.now() > end) throw new Error("the child never took the lock");
      await sleep(20);
    }
    const taken = statSync(lock).mtimeMs;
    await sleep(1500);
    expect(statSync(lock).mtimeMs).toBeGreaterThan(taken + 500); // refreshed since
    // Taken over: another owner's file in its place.
    rmSync(lock);
    writeFileSync(lock, JSON.stringify({ host: "elsewhere", pid: 1 }));
    const result = await child.done;
    // It fails (lock-failed): a commit without the lock could pair its inputs with what the
    // new holder wrote.
    expect(result.status, result.stderr).not.toBe(0);
    expect(result.stderr).toMatch(/stage "square": another process took over its lock/);
    expect(result.stderr).toMatch(/Its result was not recorded/);
    expect(JSON.parse(readFileSync(lock, "utf8"))).toEqual({ host: "elsewhere", pid: 1 });
    expect(existsSync(path.join(hashOutput, "square.stage"))).toBe(false);
  });

  // A process that exits while holding a lock (process.exit in a stage) gives it back.
  it("is given back when the process exits while holding it", async () => {
    const dir = await tempDir();
    const script = path.join(dir, "exits.mjs");
    const index = path.resolve(import.meta.dirname, "..", "..", "dist", "index.js");
    writeFileSync(
      script,
      `import { Stage } from ${JSON.stringify(index)};
       await new Stage(function quits() { process.exit(3); }, { hashOutput: process.argv[2] }).run();`,
    );
    const state = path.join(dir, "state");
    const result = spawnSync(process.execPath, [script, state], { encoding: "utf8" });
    expect(result.status, result.stderr).toBe(3);
    expect(readdirSync(state)).toEqual([]);
  });
});
