/**
 * The installed programs' launcher (src/cli/launch.cts): it runs the bundle beside it with the
 * V8 code cache made at build time, and without one when the cache cannot be used, with the
 * same results. Real processes, real files: the shipped programs, and copies of them whose
 * cache is removed, cut short, damaged or from another build. `MEMORI_CODE_CACHE_DEBUG=1` has
 * the launcher say at exit what became of the cache.
 */
import { spawn } from "node:child_process";
import { cp, mkdir, readFile, rm, symlink, truncate, writeFile } from "node:fs/promises";
import { open } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { bin, collect, run, type Ran } from "../util/cli.js";
import { MiB, sparse } from "../util/big-files.js";
import { tempDir } from "../util/tmp.js";

const root = path.resolve(import.meta.dirname, "..", "..");
const DEBUG = { MEMORI_CODE_CACHE_DEBUG: "1" };
const said = (state: string) => `memori: code cache ${state}\n`;

/**
 * A copy of the built programs (with the package's manifest and modules), to damage. The
 * copied cache names the place it was made in, so the copy's first start writes its own
 * (`foreign`); with `own`, that start is made here, and the copy has a cache for its place.
 */
async function copyOfPackage(own = true): Promise<{ memori: string; cache: string }> {
  const dir = await tempDir();
  await mkdir(path.join(dir, "dist"));
  await cp(path.join(root, "dist", "cli"), path.join(dir, "dist", "cli"), { recursive: true });
  await cp(path.join(root, "package.json"), path.join(dir, "package.json"));
  await symlink(path.join(root, "node_modules"), path.join(dir, "node_modules"));
  const memori = path.join(dir, "dist", "cli", "memori.cjs");
  if (own) {
    const made = await runFile(memori, ["-d", "state", "echo", "hi"], await tempDir(), DEBUG);
    expect(made).toMatchObject({ status: 0, stdout: "hi\n", stderr: said("foreign") });
  }
  return { memori, cache: path.join(dir, "dist", "cli", "memori.bundle.cache") };
}

function runFile(
  program: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<Ran> {
  const child = spawn(process.execPath, [program, ...args], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return collect(child);
}

/**
 * A call that copies its input, run, skipped, and run again once its input changed; what the
 * launcher said of the cache each time.
 */
async function runSkipChange(
  program: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ states: string[]; runs: number }> {
  const dir = await tempDir();
  const script = path.join(dir, "copy.sh");
  await writeFile(script, `#!/bin/sh\necho run >> runs.log\ncp "$1" "$2"\n`, { mode: 0o755 });
  await writeFile(path.join(dir, "in.txt"), "one");
  const args = ["-d", "state", "-o", "out.txt", "--", script, "in.txt", "out.txt"];
  const states: string[] = [];
  const call = async () => {
    const ran = await runFile(program, args, dir, { ...DEBUG, ...env });
    expect(ran).toMatchObject({ status: 0, stdout: "" });
    states.push(ran.stderr);
  };
  await call();
  await call();
  await writeFile(path.join(dir, "in.txt"), "two");
  await call();
  expect(await readFile(path.join(dir, "out.txt"), "utf8")).toBe("two");
  const runs = (await readFile(path.join(dir, "runs.log"), "utf8")).split("\n").filter(Boolean);
  return { states, runs: runs.length };
}

describe("the launcher", () => {
  it("runs the shipped programs from their code cache", async () => {
    const dir = await tempDir();
    const first = await run("memori", ["-d", "state", "echo", "hi"], dir, DEBUG);
    expect(first).toMatchObject({ status: 0, stdout: "hi\n", stderr: said("accepted") });
    const skipped = await run("memori", ["-d", "state", "echo", "hi"], dir, DEBUG);
    expect(skipped).toMatchObject({ status: 0, stdout: "", stderr: said("accepted") });
    const pathman = await run("pathman", ["/d/sub-01_T1w.nii.gz", "get_prefix"], dir, DEBUG);
    expect(pathman).toMatchObject({ status: 0, stdout: "sub-01_T1w\n", stderr: said("accepted") });
    // Without the variable, nothing is said.
    expect(await run("memori", ["-d", "state", "echo", "hi"], dir)).toMatchObject({ stderr: "" });
  });

  it("compiles the program when its cache is missing, from another build, cut short or damaged, and it runs and skips alike", async () => {
    // The first start compiles the program and writes a cache for the next ones (a start with
    // Node's own flags; one under other flags writes none, below).
    const cases: [string, (cache: string) => Promise<void>, string][] = [
      ["missing", (cache) => rm(cache), "missing"],
      [
        "from another build",
        async (cache) => {
          const bytes = await readFile(cache);
          bytes[20] = bytes[20] === 0x30 ? 0x31 : 0x30; // a digit of the bundle's SHA-256
          await writeFile(cache, bytes);
        },
        "foreign",
      ],
      ["empty", (cache) => writeFile(cache, ""), "foreign"],
      ["cut short", async (cache) => truncate(cache, 1000), "rejected"],
      [
        "its V8 header damaged",
        async (cache) => {
          const bytes = await readFile(cache);
          const start = bytes.indexOf(10) + 1;
          for (let i = start; i < start + 16; i++) bytes[i] = bytes[i]! ^ 0xff;
          await writeFile(cache, bytes);
        },
        "rejected",
      ],
      [
        "other bytes in its place",
        async (cache) => {
          const bytes = await readFile(cache);
          const start = bytes.indexOf(10) + 1;
          await writeFile(cache, Buffer.concat([bytes.subarray(0, start), Buffer.alloc(5000, 7)]));
        },
        "rejected",
      ],
    ];
    for (const [what, damage, state] of cases) {
      const { memori, cache } = await copyOfPackage();
      await damage(cache);
      const result = await runSkipChange(memori);
      const states = [state, "accepted", "accepted"].map(said);
      expect({ what, ...result }).toEqual({ what, states, runs: 2 });
    }
  });

  it("does not take a cache made in another place: the first start there writes one for it", async () => {
    // V8 keeps, in code it takes from a cache, the file name the cache was made under: the
    // package's stack traces would name files where it was built.
    const { memori, cache } = await copyOfPackage(false);
    const result = await runSkipChange(memori);
    expect(result).toEqual({ states: ["foreign", "accepted", "accepted"].map(said), runs: 2 });
    const header = (await readFile(cache, "latin1")).split("\n", 1)[0]!;
    expect(header).toContain(` ${JSON.stringify(memori.replace(/\.cjs$/, ".bundle.cjs"))} `);
    expect(header.endsWith(` ${process.version}`)).toBe(true);
  });

  it("compiles the program when V8 runs with other flags, and it runs and skips alike", async () => {
    const result = await runSkipChange(bin("memori"), { NODE_OPTIONS: "--max-old-space-size=300" });
    expect(result).toEqual({ states: Array(3).fill(said("rejected")), runs: 2 });
  });

  it("writes a cache the next start takes, when told to (how the build makes it)", async () => {
    const { memori, cache } = await copyOfPackage();
    await rm(cache);
    const dir = await tempDir();
    const made = await runFile(memori, ["-d", "state", "echo", "hi"], dir, {
      ...DEBUG,
      MEMORI_CODE_CACHE_WRITE: cache,
    });
    expect(made).toMatchObject({ status: 0, stdout: "hi\n", stderr: said("missing") });
    const skipped = await runFile(memori, ["-d", "state", "echo", "hi"], dir, DEBUG);
    expect(skipped).toMatchObject({ status: 0, stdout: "", stderr: said("accepted") });
  });

  it("lets the program loaded from its cache import what it imports: big files are hashed in worker threads, by content", async () => {
    const dir = await tempDir();
    const big = await sparse(dir, "big.bin", 40 * MiB); // hashed in the worker pool
    const list = path.join(dir, "loaded.txt");
    const preload = path.join(root, "test", "util", "at-exit.cjs");
    const env = {
      ...DEBUG,
      MEMORI_TEST_LOADED: list,
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --require ${preload}`.trim(),
    };
    const args = ["-d", "state", "-o", "copy.bin", "--", "cp", "big.bin", "copy.bin"];
    const call = async () => {
      const ran = await run("memori", ["--verbose", ...args], dir, env);
      expect(ran).toMatchObject({ status: 0 });
      expect(ran.stderr).toContain(said("accepted"));
      expect((await readFile(list, "utf8")).split("\n")).toContain("worker_threads");
      return ran.stderr;
    };
    expect(await call()).toContain("running (first run)");
    // The same size, one byte changed: only its content tells.
    const handle = await open(big, "r+");
    await handle.write(Buffer.from([1]), 0, 1, 20 * MiB);
    await handle.close();
    expect(await call()).toContain("running (input changed");
    // memori cache (fs-extra) and directories (GNU find) from the cache too.
    const cleared = await run("memori", ["cache", "clear", "state"], dir, DEBUG);
    expect(cleared).toMatchObject({ status: 0, stderr: said("accepted") });
    await mkdir(path.join(dir, "tree"));
    await writeFile(path.join(dir, "tree", "a.txt"), "a");
    const tree = ["-d", "state", "--verbose", "--", "ls", "tree"];
    expect((await run("memori", tree, dir, DEBUG)).stderr).toContain("running (first run)");
    await writeFile(path.join(dir, "tree", "a.txt"), "b");
    expect((await run("memori", tree, dir, DEBUG)).stderr).toContain("running (input changed");
  });

  it("leaves import() only to the launcher: the bundles call none of their own but lazy-modules' fallbacks", async () => {
    // Code V8 took from a code cache cannot import() on Node 20 (and memori's hasher would take
    // a file it cannot hash for no file at all). lazy-modules.ts imports tinypool, tsx's loader
    // and `memori run`'s module through the launcher; its own import() stays for when the
    // bundle is loaded otherwise.
    const imports = async (name: string) =>
      (await readFile(path.join(root, "dist", "cli", `${name}.bundle.cjs`), "utf8")).match(
        /\bimport\([^)]*\)/g,
      ) ?? [];
    expect(await imports("memori")).toEqual(['import("tinypool")', "import(url)"]);
    expect(await imports("pathman")).toEqual([]);
  });
});
