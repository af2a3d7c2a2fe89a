/**
 * The library as `import "memori"` loads it: dist/lib/memori.js runs the bundle beside it with
 * its V8 code cache (src/code-cache.ts, scripts/bundle.mjs). Real processes importing the
 * built package, and copies of it in other places, their caches removed or damaged: the same
 * results each time, stack traces naming the files where the package is, and the cache a
 * place lacks written by its first process. (The programs' launcher: test/cli/launch.test.ts.)
 */
import { execFileSync, spawn } from "node:child_process";
import {
  chmod,
  cp,
  readFile,
  readdir,
  rm,
  stat,
  symlink,
  truncate,
  writeFile,
} from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { collect } from "./util/cli.js";
import { tempDir } from "./util/tmp.js";

const root = path.resolve(import.meta.dirname, "..");
const said = (state: string) => `memori library: code cache ${state}\n`;

/** A copy of the built package in another place (its manifest, dist/ and modules). */
async function copyOfPackage(): Promise<string> {
  const dir = await tempDir();
  await cp(path.join(root, "dist"), path.join(dir, "dist"), { recursive: true });
  await cp(path.join(root, "package.json"), path.join(dir, "package.json"));
  await symlink(path.join(root, "node_modules"), path.join(dir, "node_modules"));
  return dir;
}

/**
 * A script that imports the package in `packageDir`, runs a pipeline of two stages (a hit the
 * second time), a stage that fails with memori's own error, and a worker function (which the
 * library imports with the module's `import()`), and prints what it got.
 */
async function script(packageDir: string): Promise<string> {
  const dir = await tempDir();
  const index = pathToFileURL(path.join(packageDir, "dist", "index.js")).href;
  await writeFile(path.join(dir, "double.mjs"), "export const double = (x) => 2 * x;\n");
  const file = path.join(dir, "use.mjs");
  await writeFile(
    file,
    `import { Pipeline, Stage, workerFunction } from ${JSON.stringify(index)};
const hashOutput = ${JSON.stringify(path.join(dir, "state"))};
const add = new Stage(function add(x) { return x + 1; }, { outputs: "y", hashOutput });
const square = new Stage(function square(y) { return y * y; }, { outputs: "z", hashOutput });
const pipeline = new Pipeline([["start", add], [add, square]]);
const { z } = await pipeline.run(2);
let frame;
try { new Stage(() => 1); } catch (error) { frame = /\\((\\/[^():]+):\\d+:\\d+\\)/.exec(error.stack)[1]; }
const double = await workerFunction(${JSON.stringify(path.join(dir, "double.mjs"))}, "double");
console.log(JSON.stringify({ z, cached: pipeline.decisions.filter((d) => d.action === "skip").length, frame, doubled: await double(21) }));
`,
  );
  return file;
}

interface Used {
  z: number;
  cached: number;
  frame: string;
  doubled: number;
  state: string;
}

async function use(file: string, env: NodeJS.ProcessEnv = {}): Promise<Used> {
  const child = spawn(process.execPath, [file], {
    env: { ...process.env, MEMORI_CODE_CACHE_DEBUG: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const ran = await collect(child);
  expect(ran.status, ran.stderr).toBe(0);
  return { ...(JSON.parse(ran.stdout) as Omit<Used, "state">), state: ran.stderr };
}

describe("the library's code cache", () => {
  it("is taken where the package was built, and the library works from it", async () => {
    const file = await script(root);
    const first = await use(file);
    expect(first).toEqual({
      z: 9,
      cached: 0,
      frame: path.join(root, "dist", "lib", "memori.bundle.cjs"),
      doubled: 42,
      state: said("accepted"),
    });
    expect(await use(file)).toEqual({ ...first, cached: 2 });
  });

  it("is not taken in another place: the first process there writes one, and stack traces name the files there", async () => {
    const copy = await copyOfPackage();
    const file = await script(copy);
    const cache = path.join(copy, "dist", "lib", "memori.bundle.cache");
    const frame = path.join(copy, "dist", "lib", "memori.bundle.cjs");
    const first = await use(file);
    expect(first).toEqual({ z: 9, cached: 0, frame, doubled: 42, state: said("foreign") });
    const header = (await readFile(cache, "latin1")).split("\n", 1)[0]!;
    const { dev, ino, size } = await stat(frame);
    expect(header).toContain(` ${JSON.stringify(frame)} ${dev}:${ino}:${size}:`);
    expect(header.endsWith(` ${process.version}`)).toBe(true);
    expect(await use(file)).toEqual({ ...first, cached: 2, state: said("accepted") });
  });

  it("compiles the library when the cache is missing, from another build, cut short or damaged, with the same results", async () => {
    const cases: [string, (cache: string) => Promise<void>, string, string][] = [
      ["missing", (cache) => rm(cache), "missing", "accepted"],
      [
        "from another build",
        async (cache) => {
          const bytes = await readFile(cache);
          bytes[20] = bytes[20] === 0x30 ? 0x31 : 0x30; // a digit of the bundle's SHA-256
          await writeFile(cache, bytes);
        },
        "foreign",
        "accepted",
      ],
      // V8 rejects it: compiled, and a cache written again (by a process with Node's flags).
      ["cut short", (cache) => truncate(cache, 2000), "rejected", "accepted"],
    ];
    for (const [what, damage, state, then] of cases) {
      const copy = await copyOfPackage();
      const file = await script(copy);
      const cache = path.join(copy, "dist", "lib", "memori.bundle.cache");
      expect((await use(file)).state, what).toBe(said("foreign")); // a cache for this place
      await damage(cache);
      const damaged = await use(file);
      expect({ what, ...damaged }).toMatchObject({ what, z: 9, cached: 2, state: said(state) });
      expect({ what, ...(await use(file)) }).toMatchObject({ what, cached: 2, state: said(then) });
    }
  });

  it("holds the parsers of code identity: hashing loads no acorn or eslint-scope from their packages", async () => {
    const dir = await tempDir();
    const script = path.join(dir, "hash.mjs");
    await writeFile(
      script,
      [
        `import { Stage, hashFunction } from ${JSON.stringify(pathToFileURL(path.join(root, "dist", "index.js")).href)};`,
        'import { createRequire } from "node:module";',
        "const SCALE = 2;",
        "const stage = new Stage((x) => x * SCALE, { name: 'scaled' });",
        "const hash = hashFunction((x) => x * SCALE);",
        "const loaded = Object.keys(createRequire(import.meta.url).cache);",
        "console.log(JSON.stringify({ inputs: stage.inputs, hash, loaded }));",
      ].join("\n"),
    );
    const out = JSON.parse(execFileSync(process.execPath, [script], { encoding: "utf8" })) as {
      inputs: string[];
      hash: string;
      loaded: string[];
    };
    expect(out.inputs).toEqual(["x"]);
    expect(out.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(
      out.loaded.filter((file) =>
        /[/\\](acorn|acorn-walk|eslint-scope|estraverse|esrecurse)[/\\]/.test(file),
      ),
    ).toEqual([]);
  });

  it("leaves import() to the module that runs it: the bundle calls none of its own but lazy-modules' fallbacks", async () => {
    // Code V8 took from a code cache cannot import() on Node 20: tinypool, a worker function's
    // module and `memori run`'s are imported through dist/lib/memori.js. (A call names what it
    // imports: acorn's messages say `import()`.)
    const bundle = await readFile(path.join(root, "dist", "lib", "memori.bundle.cjs"), "utf8");
    expect(bundle.match(/\bimport\([^)]+\)/g)).toEqual(['import("tinypool")', "import(url)"]);
  });

  it("is not taken for a bundle edited in place, even to the same length: the edited code runs", async () => {
    // V8 checks only the source's length: the cache names the bundle file's stat identity.
    const copy = await copyOfPackage();
    const file = await script(copy);
    expect((await use(file)).state).toBe(said("foreign")); // a cache for this place
    expect((await use(file)).state).toBe(said("accepted"));
    const bundle = path.join(copy, "dist", "lib", "memori.bundle.cjs");
    const text = await readFile(bundle, "utf8");
    const message = "Give the function a name or pass the `name` option.";
    expect(text).toContain(message);
    await writeFile(bundle, text.replace(message, message.toUpperCase()));
    const child = spawn(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `import { Stage } from ${JSON.stringify(pathToFileURL(path.join(copy, "dist", "index.js")).href)};
try { new Stage(() => 1); } catch (error) { console.log(error.message); }`,
      ],
      { env: { ...process.env, MEMORI_CODE_CACHE_DEBUG: "1" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    const ran = await collect(child);
    expect(ran.stdout).toContain(message.toUpperCase());
    // --input-type is a flag: the cache of the old bundle stays, not taken, until a plain process.
    expect(ran.stderr).toBe(said("foreign"));
    expect(await use(file)).toMatchObject({ z: 9, cached: 2, state: said("foreign") });
    expect((await use(file)).state).toBe(said("accepted"));
  });

  it("is not written by a process under other V8 flags, which would leave one the others reject", async () => {
    const copy = await copyOfPackage();
    const file = await script(copy);
    const cache = path.join(copy, "dist", "lib", "memori.bundle.cache");
    const shipped = await readFile(cache);
    const flags = { NODE_OPTIONS: "--max-old-space-size=300" };
    expect(await use(file, flags)).toMatchObject({ z: 9, state: said("foreign") });
    expect(await readFile(cache)).toEqual(shipped);
    expect((await use(file)).state).toBe(said("foreign"));
    expect((await use(file)).state).toBe(said("accepted"));
  });

  it("leaves a cache made under other V8 flags alone, and runs alike", async () => {
    const copy = await copyOfPackage();
    const file = await script(copy);
    const cache = path.join(copy, "dist", "lib", "memori.bundle.cache");
    await use(file); // a cache for this place
    const made = await readFile(cache);
    const flags = { NODE_OPTIONS: "--max-old-space-size=300" };
    expect(await use(file, flags)).toMatchObject({ z: 9, cached: 2, state: said("rejected") });
    expect(await readFile(cache)).toEqual(made);
    expect((await use(file)).state).toBe(said("accepted"));
  });

  it("is written in the user's cache folder where the package's folder cannot be written", async () => {
    const copy = await copyOfPackage();
    const file = await script(copy);
    const lib = path.join(copy, "dist", "lib");
    const before = (await readdir(lib)).sort();
    const home = await tempDir();
    const env = { HOME: home, XDG_CACHE_HOME: "" };
    // Read-only to this process: for root, which permissions do not stop, immutable (ext4).
    const asRoot = process.getuid?.() === 0;
    try {
      if (asRoot) execFileSync("chattr", ["+i", lib], { stdio: "pipe" });
      else await chmod(lib, 0o555);
    } catch (error) {
      if (process.env.CI === "true") throw error;
      console.warn(`skipped: cannot make ${lib} read-only here (${String(error)})`);
      return;
    }
    try {
      const first = await use(file, env);
      expect(first).toMatchObject({ z: 9, doubled: 42, state: said("foreign") });
      expect(first.frame).toBe(path.join(lib, "memori.bundle.cjs"));
      const caches = path.join(home, ".cache", "memori", "code-cache");
      const [folder, ...others] = await readdir(caches);
      expect(others).toEqual([]);
      expect(await readdir(path.join(caches, folder!))).toEqual(["memori.bundle.cache"]);
      expect(await use(file, env)).toMatchObject({ z: 9, cached: 2, state: said("accepted") });
      expect((await readdir(lib)).sort()).toEqual(before);
      // Without a home to write in: nothing written, compiled each time, the same results.
      const homeless = { HOME: "", XDG_CACHE_HOME: "" };
      for (let i = 0; i < 2; i++) {
        expect(await use(file, homeless)).toMatchObject({ z: 9, state: said("foreign") });
      }
      expect((await readdir(lib)).sort()).toEqual(before);
    } finally {
      if (asRoot) execFileSync("chattr", ["-i", lib]);
      else await chmod(lib, 0o755);
    }
  });
});
