/**
 * Invariants 3, 4 and 6: corrupt, foreign or tampered state is a cache miss with a warning,
 * never a crash and never a hit; tampered outputs are detected; loading state never runs code.
 */
import { chmod, mkdir, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Stage } from "../../src/index.js";
import { recordingLogger, tempDir } from "../util/tmp.js";

function makeStage(dir: string, calls: { n: number }, logger = recordingLogger().logger) {
  return new Stage(
    async function produce(x: number, dest: string) {
      calls.n++;
      await rm(dest, { recursive: true, force: true });
      await writeFile(dest, `content ${x}`);
      return { value: { x, list: [x, String(x)] }, file: dest };
    },
    { outputs: ["value", "file"], hashOutput: dir, logger },
  );
}

type Corruption = [string, (text: string) => string];
const corruptions: Corruption[] = [
  ["truncated", (t) => t.slice(0, Math.floor(t.length / 2))],
  ["empty", () => ""],
  ["not JSON", () => "this is not json {"],
  ["a JSON array", () => "[1, 2, 3]"],
  ["JSON null", () => "null"],
  ["wrong shape", (t) => JSON.stringify({ ...JSON.parse(t), inputs: 5, outputs: "x", code: null })],
  [
    "no version",
    (t) => {
      const o = JSON.parse(t);
      delete o.memori;
      return JSON.stringify(o);
    },
  ],
  ["old version", (t) => JSON.stringify({ ...JSON.parse(t), memori: 0 })],
  [
    "future version",
    (t) => JSON.stringify({ ...JSON.parse(t), memori: 99, futureField: { anything: true } }),
  ],
  ["edited value", (t) => t.replace(/"x": 1/, '"x": 2')],
  [
    "other run id",
    (t) => JSON.stringify({ ...JSON.parse(t), run: "00000000-0000-0000-0000-000000000000" }),
  ],
  [
    "unknown value tag",
    (t) =>
      t.replace(/"list": \[/, '"list": [{"$memori": "function", "source": "process.exit(9)"}, '),
  ],
  ["binary garbage", () => "\u0000\u00ff\u0001{"],
];

describe("corrupt or foreign state", () => {
  it("is a cache miss with a warning, never a crash or a hit, then repaired", async () => {
    let tried = 0;
    let hits = 0;
    for (const file of ["inputs", "outputs", "stage"]) {
      for (const [label, corrupt] of corruptions) {
        const dir = await tempDir();
        const calls = { n: 0 };
        const dest = path.join(dir, "out.txt");
        await makeStage(dir, calls).run(1, dest);
        const target = path.join(dir, `produce.${file}`);
        const original = await readFile(target, "utf8");
        const changed = corrupt(original);
        if (changed === original) continue; // this corruption does not apply to this file
        await writeFile(target, changed);
        tried++;
        const log = recordingLogger();
        const stage = makeStage(dir, calls, log.logger);
        const result = await stage.run(1, dest).catch((error: unknown) => {
          throw new Error(`.${file} ${label} made the stage throw`, { cause: error });
        });
        expect(result).toEqual({ value: { x: 1, list: [1, "1"] }, file: dest });
        if (stage.fromCache) hits++;
        expect(stage.lastDecision?.reason.kind, `.${file} ${label}`).toBe("state-unreadable");
        expect(log.warn.join("\n"), `.${file} ${label}`).toMatch(
          /treating it as a cache miss|running again/,
        );
        // repaired: the next run is a hit
        const after = makeStage(dir, calls);
        await after.run(1, dest);
        expect(after.fromCache).toBe(true);
      }
    }
    console.log(
      `corruption: ${tried} corruptions of .inputs/.outputs/.stage tried, ${hits} hits, 0 crashes`,
    );
    expect(tried).toBeGreaterThanOrEqual(30);
    expect(hits).toBe(0);
  });

  it("never evaluates code or pollutes prototypes when loading state", async () => {
    const dir = await tempDir();
    const calls = { n: 0 };
    await makeStage(dir, calls).run(1, path.join(dir, "out.txt"));
    const outputs = JSON.parse(await readFile(path.join(dir, "produce.outputs"), "utf8"));
    outputs.outputs.value = JSON.parse(
      '{"__proto__": {"polluted": "yes"}, "constructor": {"prototype": {"polluted": "yes"}}}',
    );
    await writeFile(path.join(dir, "produce.outputs"), JSON.stringify(outputs));
    await makeStage(dir, calls).run(1, path.join(dir, "out.txt"));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty("polluted");
    const source = await readdir(path.resolve(import.meta.dirname, "..", "..", "src"), {
      recursive: true,
    });
    for (const file of source.filter((f) => f.endsWith(".ts"))) {
      const text = await readFile(
        path.resolve(import.meta.dirname, "..", "..", "src", file),
        "utf8",
      );
      // (The mutation runner's instrumentation finds the global object with a Function call
      // of its own; that is not memori's code.)
      const ours = text.replaceAll('|| new Function("return this")()', "");
      expect(ours, file).not.toMatch(/\beval\s*\(|new Function\s*\(|\bFunction\s*\(\s*["'`]/);
    }
  });
});

describe("tampered outputs", () => {
  const tamperings: [string, (file: string) => Promise<void>, string][] = [
    ["modified", (f) => writeFile(f, "modified"), "output-modified"],
    ["same size, different bytes", (f) => writeFile(f, "content 9"), "output-modified"],
    [
      "replaced by a directory",
      async (f) => {
        await rm(f);
        await mkdir(f);
      },
      "output-modified", // a directory has a content too (its entries): not the file's
    ],
    ["deleted", (f) => rm(f), "output-missing"],
    [
      "replaced by a dangling symlink",
      async (f) => {
        await rm(f);
        await symlink(`${f}.nowhere`, f);
      },
      "output-missing",
    ],
    [
      "replaced by a symlink loop (unreadable)",
      async (f) => {
        await rm(f);
        await symlink(f, f);
      },
      "output-missing",
    ],
    [
      "replaced by a FIFO (not readable as a file)",
      async (f) => {
        await rm(f);
        execFileSync("mkfifo", [f]);
      },
      "output-missing",
    ],
  ];
  for (const [label, tamper, reason] of tamperings) {
    it(`detects an output ${label} and re-runs`, async () => {
      const dir = await tempDir();
      const calls = { n: 0 };
      const dest = path.join(dir, "out.txt");
      await makeStage(dir, calls).run(1, dest);
      await tamper(dest);
      const stage = makeStage(dir, calls);
      await stage.run(1, dest);
      expect(stage.hasRun).toBe(true);
      expect(stage.lastDecision?.reason).toEqual({ kind: reason, path: dest });
      expect(await readFile(dest, "utf8")).toBe("content 1");
    });
  }

  it.skipIf(process.getuid?.() === 0)(
    "detects an output whose read permission was removed (not as root)",
    async () => {
      const dir = await tempDir();
      const calls = { n: 0 };
      const dest = path.join(dir, "out.txt");
      await makeStage(dir, calls).run(1, dest);
      await chmod(dest, 0o000);
      const stage = makeStage(dir, calls);
      await stage.run(1, dest);
      expect(stage.lastDecision?.reason).toEqual({ kind: "output-missing", path: dest });
    },
  );

  it("with forceSkip, warns that an output was tampered with", async () => {
    const dir = await tempDir();
    const calls = { n: 0 };
    const dest = path.join(dir, "out.txt");
    await makeStage(dir, calls).run(1, dest);
    await writeFile(dest, "tampered");
    const log = recordingLogger();
    await makeStage(dir, calls, log.logger).runNamed({ x: 1, dest }, { forceSkip: true });
    expect(calls.n).toBe(1);
    expect(log.warn.join("\n")).toMatch(
      /forceSkip loads stored results although output modified: .*out\.txt/,
    );
  });

  it("hashes a symlinked input by the content it points to", async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, "a.nii"), "A");
    await writeFile(path.join(dir, "b.nii"), "B");
    const link = path.join(dir, "input.nii");
    await symlink(path.join(dir, "a.nii"), link);
    const calls = { n: 0 };
    const stage = new Stage(
      async function readIt(file: string) {
        calls.n++;
        return readFile(file, "utf8");
      },
      { hashOutput: path.join(dir, "state"), logger: recordingLogger().logger },
    );
    expect(await stage.run(link)).toEqual({ output: "A" });
    expect(await stage.run(link)).toEqual({ output: "A" });
    expect(calls.n).toBe(1);
    await rm(link);
    await symlink(path.join(dir, "b.nii"), link);
    expect(await stage.run(link)).toEqual({ output: "B" });
    expect(calls.n).toBe(2);
  });
});
