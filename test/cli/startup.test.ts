/**
 * What a skipped `memori` call loads: only what deciding the skip needs (issue 13). Starting
 * processes (`child_process`, which brings `net` and `dgram`), worker threads and the inspector
 * each cost a process start-up a few percent, and a skip needs none of them; they are loaded
 * when a command has to run. And a skip whose files are known by their stat identities reads
 * none of them, so it makes no asynchronous file system call: libuv's thread pool is not
 * started. Real processes of the installed program, real files; what each process loaded, and
 * how many threads it had, are written at its exit by a preloaded module.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { run, runsLogged, type Ran } from "../util/cli.js";
import { tempDir } from "../util/tmp.js";

const preload = path.resolve(import.meta.dirname, "..", "util", "at-exit.cjs");
const withPreload = () => `${process.env.NODE_OPTIONS ?? ""} --require ${preload}`.trim();

/** Only what running a command needs. */
const FOR_RUNNING = ["child_process", "worker_threads", "inspector", "net", "dgram"];

/** Run the program: what it did, the built-in modules its process loaded, its threads. */
async function runWatched(
  args: string[],
  dir: string,
): Promise<{ ran: Ran; loaded: Set<string>; threads: number }> {
  const list = path.join(dir, "loaded.txt");
  const count = path.join(dir, "threads.txt");
  const ran = await run("memori", args, dir, {
    NODE_OPTIONS: withPreload(),
    MEMORI_TEST_LOADED: list,
    MEMORI_TEST_THREADS: count,
  });
  const loaded = new Set((await readFile(list, "utf8")).split("\n").filter(Boolean));
  return { ran, loaded, threads: Number(await readFile(count, "utf8")) };
}

/** The threads of a bare `node -e ''` at its exit. */
async function bareThreads(dir: string): Promise<number> {
  const count = path.join(dir, "bare-threads.txt");
  const bare = spawnSync(process.execPath, ["-e", ""], {
    env: { ...process.env, NODE_OPTIONS: withPreload(), MEMORI_TEST_THREADS: count },
  });
  expect(bare.status).toBe(0);
  return Number(await readFile(count, "utf8"));
}

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("a skipped memori call", () => {
  it("loads no module for starting processes, worker threads or the inspector, and still checks everything", async () => {
    const dir = await tempDir();
    const script = path.join(dir, "copy.sh");
    await writeFile(
      script,
      `#!/bin/sh\necho run >> "${path.join(dir, "runs.log")}"\n. ./lib.sh\ncp "$1" "$2"\n`,
    );
    await chmod(script, 0o755);
    await writeFile(path.join(dir, "lib.sh"), "true\n");
    await writeFile(path.join(dir, "in.txt"), "one");
    const args = [
      "-d",
      "cache",
      "-c",
      "./lib.sh",
      "-o",
      "out.txt",
      "--",
      script,
      "in.txt",
      "out.txt",
    ];

    const first = await runWatched(args, dir);
    expect(first.ran).toMatchObject({ status: 0, stderr: "" });
    expect(await runsLogged(dir)).toBe(1);
    // The preload sees what a process loads: running the command loads child_process.
    expect(first.loaded).toContain("child_process");

    const skipped = await runWatched(args, dir);
    expect(skipped.ran).toMatchObject({ status: 0, stdout: "", stderr: "" });
    expect(await runsLogged(dir)).toBe(1);
    expect(skipped.loaded).toContain("crypto"); // its files are new: read and hashed again
    for (const name of FOR_RUNNING) expect(skipped.loaded).not.toContain(name);

    // The skip still looked at everything: a changed input, dependent or output runs again.
    await writeFile(path.join(dir, "in.txt"), "two");
    expect((await runWatched(args, dir)).loaded).toContain("child_process");
    expect(await runsLogged(dir)).toBe(2);
    expect(await readFile(path.join(dir, "out.txt"), "utf8")).toBe("two");
    await writeFile(path.join(dir, "lib.sh"), "true # edited\n");
    await runWatched(args, dir);
    expect(await runsLogged(dir)).toBe(3);
    await writeFile(path.join(dir, "out.txt"), "tampered");
    await runWatched(args, dir);
    expect(await runsLogged(dir)).toBe(4);
    expect(await readFile(path.join(dir, "out.txt"), "utf8")).toBe("two");
    const again = await runWatched(args, dir);
    expect(await runsLogged(dir)).toBe(4);
    for (const name of FOR_RUNNING) expect(again.loaded).not.toContain(name);
  });

  // Linux: threads are counted in /proc/self/task.
  it.runIf(existsSync("/proc/self/task"))(
    "starts no thread pool and loads no node:crypto once its files are known by their stat identities, and still sees a change",
    async () => {
      const dir = await tempDir();
      const script = path.join(dir, "copy.sh");
      await writeFile(script, `#!/bin/sh\necho run >> runs.log\n. ./lib.sh\ncp "$1" "$2"\n`);
      await chmod(script, 0o755);
      await writeFile(path.join(dir, "lib.sh"), "true\n");
      await writeFile(path.join(dir, "in.txt"), "one");
      const args = ["-d", "cache", "-c", "./lib.sh", "-o", "out.txt", "--", script, "in.txt"];
      args.push("out.txt");
      // A small call too: its state (its record) is a kilobyte or so.
      const small = ["-d", "cache", "--", "cat", "in.txt"];
      expect((await runWatched(args, dir)).ran.status).toBe(0);
      expect((await runWatched(small, dir)).ran).toMatchObject({ status: 0, stdout: "one" });
      // Files changed within 2 s of being hashed are read again (files.ts, the racy window):
      // once older, the next skip reads them and records their stat identities (.files).
      await wait(2100);
      expect((await runWatched(args, dir)).ran).toMatchObject({ status: 0, stderr: "" });
      expect((await runWatched(small, dir)).ran).toMatchObject({ status: 0, stdout: "" });
      const known = await runWatched(args, dir);
      expect(known.ran).toMatchObject({ status: 0, stdout: "", stderr: "" });
      expect(await runsLogged(dir)).toBe(1);
      expect(known.threads).toBe(await bareThreads(dir));
      // What a small call hashes is small (sha256.ts): node:crypto is not loaded. (A larger
      // record, over 2.5 KB, loads it.)
      const smallKnown = await runWatched(small, dir);
      expect(smallKnown.ran).toMatchObject({ status: 0, stdout: "", stderr: "" });
      expect(smallKnown.threads).toBe(await bareThreads(dir));
      expect(smallKnown.loaded).not.toContain("crypto");
      // The bundle loads node:fs/promises when one of its functions is first called: never here.
      expect(known.loaded).not.toContain("fs/promises");
      expect(smallKnown.loaded).not.toContain("fs/promises");
      for (const name of FOR_RUNNING) expect(known.loaded).not.toContain(name);

      // Each of the script, its dependent, its input and its output still counts.
      for (const file of ["copy.sh", "lib.sh", "in.txt", "out.txt"]) {
        const before = await runsLogged(dir);
        await writeFile(path.join(dir, file), (await readFile(path.join(dir, file))) + "\n");
        expect((await runWatched(args, dir)).ran.status).toBe(0);
        expect({ file, runs: await runsLogged(dir) }).toEqual({ file, runs: before + 1 });
      }
    },
  );
});
