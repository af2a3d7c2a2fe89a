import { readFile, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  MapError,
  MappedStage,
  MemoriError,
  Pipeline,
  PipelineError,
  Stage,
  blocks,
  loadResult,
  runProcess,
  saveResult,
  workerFunction,
  type PipelineSource,
} from "../src/index.js";
import { runChild } from "./util/child.js";
import { recordingLogger, tempDir } from "./util/tmp.js";

const quiet = recordingLogger().logger;
/** Any node a pipeline definition takes. */
type Node = ConstructorParameters<typeof Pipeline>[0][number][1];

describe("concurrent pipeline execution", () => {
  it("overlaps independent process stages", async () => {
    const sleepers = Array.from(
      { length: 8 },
      (_, i) =>
        new Stage(
          async function sleeper() {
            const started = Date.now();
            await runProcess(["sleep", "0.3"]);
            return [started, Date.now()];
          },
          { name: `sleep${i}`, outputs: `t${i}` },
        ),
    );
    const definition = sleepers.map((s): [PipelineSource, Stage] => ["start", s as Stage]);
    const started = Date.now();
    const results = await new Pipeline(definition, { concurrency: 8 }).run();
    const took = Date.now() - started;
    const spans = Object.values(results) as [number, number][];
    // Stages whose time running overlaps another's (they may all start in the same ms).
    const overlapping = spans.filter(([s, e], i) =>
      spans.some(([s2, e2], j) => i !== j && s < e2 && s2 < e),
    ).length;
    console.log(
      `concurrency: 8 x 300 ms process stages at concurrency 8 took ${took} ms (serial: >= 2400 ms); ${overlapping} ran while another ran`,
    );
    // Overlap, not speed (speed is measured in `npm run bench`): on a loaded machine the
    // starts spread out, but stages that run at the same time prove they overlap.
    expect(overlapping).toBeGreaterThanOrEqual(2);
  });

  it("gives the same results and state files at concurrency 1 and 8 over random DAGs", async () => {
    let dags = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 9 }).chain((n) =>
          fc.tuple(
            fc.constant(n),
            fc.array(fc.array(fc.nat({ max: n - 1 }), { maxLength: 3 }), {
              minLength: n,
              maxLength: n,
            }),
            fc.array(fc.nat({ max: 20 }), { minLength: n, maxLength: n }),
          ),
        ),
        async ([n, parents, delays]) => {
          dags++;
          const snapshots: unknown[] = [];
          for (const concurrency of [1, 8]) {
            const dir = await tempDir();
            const stages = Array.from(
              { length: n },
              (_, i) =>
                new Stage(
                  async function node(start = 0, ...rest: number[]) {
                    await new Promise((r) => setTimeout(r, delays[i]));
                    return [i, start + rest.reduce((a, b) => a + b, 0) + i];
                  },
                  { name: `n${i}`, outputs: ["id", `v${i}`], hashOutput: dir, logger: quiet },
                ),
            );
            // stage i feeds on lower-numbered stages only: acyclic
            const definition: [PipelineSource, Node][] = [];
            stages.forEach((stage, i) => {
              const from = [...new Set(parents[i]!.filter((p) => p < i))];
              definition.push(
                from.length ? [from.map((p) => stages[p]!), stage] : ["start", stage],
              );
            });
            const pipeline = new Pipeline(definition, { concurrency });
            const results = await pipeline.runNamed({ start: 1 });
            const files: Record<string, string> = {};
            for (const f of (await readdir(dir)).sort()) {
              // run ids and times differ by design; so do run records (.memori-runs/)
              if (f.endsWith(".stage") || f === ".memori-runs") continue;
              files[f] = (await readFile(path.join(dir, f), "utf8")).replace(
                /"run": "[^"]+"/,
                '"run": "<id>"',
              );
            }
            snapshots.push({ results, files, order: pipeline.decisions.map((d) => d.stage) });
          }
          expect(snapshots[1]).toEqual(snapshots[0]);
        },
      ),
      { numRuns: 25, seed: 42 },
    );
    console.log(
      `determinism: ${dags} random DAGs, identical results and state at concurrency 1 and 8`,
    );
  });

  it("stops starting stages on the first failure, letting running ones finish and cache", async () => {
    const dir = await tempDir();
    const log: string[] = [];
    const mk = (name: string, ms: number, fail = false) =>
      new Stage(
        async function work() {
          log.push(`start ${name}`);
          await new Promise((r) => setTimeout(r, ms));
          if (fail) throw new Error(`${name} broke`);
          log.push(`end ${name}`);
          return name;
        },
        { name, outputs: `o_${name}`, hashOutput: dir, logger: quiet },
      );
    const a = mk("a", 10, true);
    const b = mk("b", 100);
    const c = mk("c", 10);
    const error = (await new Pipeline(
      [
        ["start", a],
        ["start", b],
        ["start", c],
      ],
      { concurrency: 2 },
    )
      .run()
      .catch((e: unknown) => e)) as MemoriError;
    expect(error.reason).toBe("stage-failed");
    expect(error.message).toMatch(/stage "a" failed with inputs \{\}: a broke/);
    expect((error.cause as Error).message).toBe("a broke");
    expect([...log].sort()).toEqual(["end b", "start a", "start b"]); // c never started; b finished
    expect((await readdir(dir)).filter((f) => f.startsWith("b."))).toHaveLength(3);
  });

  it("with keepGoing, runs all that does not depend on a failure and reports every failure", async () => {
    const dir = await tempDir();
    // A transient failure outside the code (a global: captured values are code identity).
    const flags = globalThis as { memoriTestFail?: boolean };
    flags.memoriTestFail = true;
    const calls: Record<string, number> = {};
    const mk = (name: string, fail = false) =>
      new Stage(
        async function work() {
          calls[name] = (calls[name] ?? 0) + 1;
          if (fail && (globalThis as { memoriTestFail?: boolean }).memoriTestFail)
            throw new Error(`${name} broke`);
          return name;
        },
        { name, outputs: `o_${name}`, hashOutput: dir, logger: quiet },
      );
    const build = () => {
      const [a, b, c] = [mk("a", true), mk("b"), mk("c", true)];
      const afterA = new Stage((o_a: string) => o_a + "!", {
        name: "afterA",
        hashOutput: dir,
        logger: quiet,
      });
      const afterB = new Stage((o_b: string) => o_b + "!", {
        name: "afterB",
        hashOutput: dir,
        logger: quiet,
      });
      return new Pipeline(
        [
          ["start", a],
          ["start", b],
          ["start", c],
          [a, afterA],
          [b, afterB],
        ],
        { keepGoing: true },
      );
    };
    const error = (await build()
      .run()
      .catch((e: unknown) => e)) as PipelineError;
    expect(error).toBeInstanceOf(PipelineError);
    expect(error.failures.map((f) => f.stage)).toEqual(["a", "c"]);
    expect(error.blocked).toEqual(["afterA"]);
    expect(error.message).toMatch(
      /2 stages failed \("a", "c"\); not run because they depend on them: "afterA"/,
    );
    expect((await readdir(dir)).some((f) => f.startsWith("afterB."))).toBe(true);
    flags.memoriTestFail = false;
    const results = await build().run();
    expect(results.output).toBeDefined();
    expect(calls).toEqual({ a: 2, b: 1, c: 2 }); // the re-run resumed: b was cached
  });

  it("validates pipeline options", () => {
    const s = new Stage(() => 1, { name: "s" });
    expect(() => new Pipeline([["start", s]], { concurrency: 0 })).toThrow(
      /`concurrency` to be a whole number >= 1, got 0 \(number\)/,
    );
    expect(() => new Pipeline([["start", s]], { keepGoing: "yes" as never })).toThrow(
      /`keepGoing` to be a boolean/,
    );
    expect(() => new Pipeline([["start", s]], { bogus: 1 } as never)).toThrow(
      /unknown option `bogus`/,
    );
  });
});

describe("split / map", () => {
  it("memoizes each element: changing one of 20 re-runs exactly one, reordering re-runs none", async () => {
    const dir = await tempDir();
    const files: string[] = [];
    for (let i = 0; i < 20; i++) {
      const file = path.join(dir, `sub-${String(i).padStart(2, "0")}.txt`);
      await writeFile(file, `subject ${i}`);
      files.push(file);
    }
    const calls: string[] = [];
    const stage = new Stage(
      async function measure(inFile: string, scale: number) {
        calls.push(path.basename(inFile));
        return (await readFile(inFile, "utf8")).length * scale;
      },
      { outputs: "size", hashOutput: path.join(dir, "state"), logger: quiet },
    );
    const first = await stage.map({ inFile: files }, { args: { scale: 2 } });
    expect(first.size).toEqual(files.map((_, i) => `subject ${i}`.length * 2));
    expect(calls).toHaveLength(20);
    calls.length = 0;
    await stage.map({ inFile: files }, { args: { scale: 2 } });
    expect(calls).toEqual([]);
    await writeFile(files[7]!, "subject 7, edited");
    const changed = await stage.map({ inFile: files }, { args: { scale: 2 } });
    expect(calls).toEqual(["sub-07.txt"]);
    expect(changed.size[7]).toBe("subject 7, edited".length * 2);
    calls.length = 0;
    const reversed = await stage.map({ inFile: [...files].reverse() }, { args: { scale: 2 } });
    expect(calls).toEqual([]);
    expect(reversed.size).toEqual([...changed.size].reverse());
    const extra = path.join(dir, "sub-20.txt");
    await writeFile(extra, "subject 20");
    await stage.map({ inFile: [...files, extra] }, { args: { scale: 2 } });
    expect(calls).toEqual(["sub-20.txt"]);
  });

  it("zips equal-length lists, crosses lists, and rejects unequal zips", async () => {
    const stage = new Stage((a: number, b: string) => `${a}${b}`, { name: "pair", outputs: "p" });
    expect((await stage.map({ a: [1, 2], b: ["x", "y"] }, { mode: "zip" })).p).toEqual([
      "1x",
      "2y",
    ]);
    expect((await stage.map({ a: [1, 2], b: ["x", "y"] })).p).toEqual(["1x", "1y", "2x", "2y"]);
    await expect(stage.map({ a: [1, 2, 3], b: ["x"] }, { mode: "zip" })).rejects.toThrow(
      /zip needs lists of equal length, got a: 3, b: 1/,
    );
    await expect(stage.map({ a: 5 as never })).rejects.toThrow(
      /mapped parameter "a" needs an array, got 5/,
    );
    expect(() => new MappedStage(stage, ["nope"])).toThrow(/no parameter "nope" to map over/);
  });

  it("is a pipeline node whose downstream stages receive the arrays", async () => {
    const dir = await tempDir();
    const list = new Stage((n: number) => Array.from({ length: n }, (_, i) => i), {
      name: "list",
      outputs: "item",
    });
    const square = new MappedStage(
      new Stage((item: number) => item * item, {
        name: "square",
        outputs: "sq",
        hashOutput: dir,
        logger: quiet,
      }),
      ["item"],
    );
    const total = new Stage((sq: number[]) => sq.reduce((a, b) => a + b, 0), {
      name: "total",
      outputs: "sum",
    });
    const p = new Pipeline([
      ["start", list],
      [list, square],
      [square, total],
    ]);
    expect(await p.run(5)).toMatchObject({ sq: [0, 1, 4, 9, 16], sum: 30 });
    await p.run(5);
    expect(square.fromCache).toBe(true);
  });
});

describe("blocks", () => {
  it("cuts an N-D extent with edges and nd-multicore keys", () => {
    const b = blocks([10, 1000, 1500], [10, 512, 512]);
    expect(b.map((x) => x.key)).toEqual([
      "0_0_0",
      "0_0_512",
      "0_0_1024",
      "0_512_0",
      "0_512_512",
      "0_512_1024",
    ]);
    expect(b[5]).toEqual({
      key: "0_512_1024",
      index: 5,
      start: [0, 512, 1024],
      stop: [10, 1000, 1500],
      shape: [10, 488, 476],
    });
    expect(blocks([7], [3]).map((x) => x.shape)).toEqual([[3], [3], [1]]);
    expect(() => blocks([10, 10], [5])).toThrow(/one per axis/);
  });

  it("reports a failing block by key while the others complete and are cached", async () => {
    const dir = await tempDir();
    const calls: string[] = [];
    const stage = new Stage(
      function sumBlock(block: { key: string; start: number[]; stop: number[] }) {
        calls.push(block.key);
        if (block.key === "4_4") throw new Error("bad voxels");
        return (block.stop[0]! - block.start[0]!) * (block.stop[1]! - block.start[1]!);
      },
      { outputs: "voxels", hashOutput: dir, logger: quiet },
    );
    const grid = blocks([6, 6], [4, 4]);
    const error = (await stage.map({ block: grid }).catch((e: unknown) => e)) as MapError;
    expect(error).toBeInstanceOf(MapError);
    expect(error.failures.map((f) => f.label)).toEqual(["4_4"]);
    expect(error.message).toMatch(/1 of 4 mapped elements failed: 4_4 \(bad voxels\)/);
    expect(error.results.voxels).toEqual([16, 8, 8, undefined]);
    calls.length = 0;
    await stage.map({ block: grid }).catch(() => undefined);
    expect(calls).toEqual(["4_4"]); // the others were cached
  });
});

describe("read-only caches", () => {
  it("takes a valid result from a read-only cache without running or writing there", async () => {
    const lab = await tempDir();
    const own = await tempDir();
    const input = path.join(lab, "t1.txt");
    await writeFile(input, "anatomy");
    const calls = { n: 0 };
    const make = (hashOutput: string, readonlyCaches: string[] = []) =>
      new Stage(
        async function segment(t1: string) {
          calls.n++;
          return (await readFile(t1, "utf8")).toUpperCase();
        },
        { hashOutput, readonlyCaches, logger: quiet },
      );
    await make(lab).run(input);
    const before = await Promise.all(
      (await readdir(lab)).sort().map(async (f) => [f, await readFile(path.join(lab, f), "utf8")]),
    );
    const borrowing = make(own, [lab]);
    expect(await borrowing.run(input)).toEqual({ output: "ANATOMY" });
    expect(calls.n).toBe(1);
    expect(borrowing.lastDecision?.reason).toEqual({ kind: "cached", from: lab });
    const after = await Promise.all(
      (await readdir(lab)).sort().map(async (f) => [f, await readFile(path.join(lab, f), "utf8")]),
    );
    expect(after).toEqual(before);
    const local = make(own);
    await local.run(input);
    expect(local.lastDecision?.reason).toEqual({ kind: "cached" }); // recorded in its own state
    await writeFile(input, "changed");
    const stale = make(path.join(own, "fresh"), [lab]);
    expect(await stale.run(input)).toEqual({ output: "CHANGED" });
    expect(calls.n).toBe(2);
  });

  it("works through the pipeline option too", async () => {
    const lab = await tempDir();
    const own = await tempDir();
    const calls = { n: 0 };
    const make = (dir: string) =>
      new Stage(
        function double(x: number) {
          calls.n++;
          return x * 2;
        },
        { hashOutput: dir, logger: quiet },
      );
    await new Pipeline([["start", make(lab)]]).run(21);
    const p = new Pipeline([["start", make(own)]], { readonlyCaches: [lab] });
    expect(await p.run(21)).toEqual({ output: 42 });
    expect(calls.n).toBe(1);
  });
});

describe("worker threads", () => {
  it("runs CPU-bound exported functions on other threads, memoized like in-process stages", async () => {
    const dir = await tempDir();
    const first = await runChild("worker-child.mjs", [dir]);
    expect(first.status, first.stderr).toBe(0);
    const report = JSON.parse(first.stdout) as {
      threads: number[];
      inputs: string[];
      same: boolean;
      cached: boolean[];
    };
    console.log(
      `workers: 4 CPU-bound elements ran on ${new Set(report.threads).size} worker thread(s): ${report.threads.join(", ")}`,
    );
    expect(report.threads).not.toContain(0); // never the main thread
    expect(report.inputs).toEqual(["n", "rounds"]);
    expect(report.same).toBe(true); // results equal the in-process function's
    expect(report.cached).toEqual([false, false, false, false]);
    const second = JSON.parse((await runChild("worker-child.mjs", [dir])).stdout) as {
      cached: boolean[];
    };
    expect(second.cached).toEqual([true, true, true, true]);
  });

  it("says what is wrong when the worker entry cannot be found (TypeScript sources)", async () => {
    const module = path.resolve(import.meta.dirname, "fixtures", "cpu-module.mjs");
    await expect(workerFunction(module, "busySum")).rejects.toThrow(/use memori's built package/);
    await expect(workerFunction(module, "nope")).rejects.toThrow(/has no exported function "nope"/);
  });
});

describe("file-backed results", () => {
  it("keeps large results in native files, verified by hash when the cache is used", async () => {
    const dir = await tempDir();
    const out = path.join(dir, "out");
    const calls = { n: 0 };
    const make = () =>
      new Stage(
        async function analyse(n: number, outDir: string) {
          calls.n++;
          const values = Float32Array.from({ length: n }, (_, i) => i / 2);
          return {
            volume: await saveResult(path.join(outDir, "volume.f32"), values),
            table: await saveResult(path.join(outDir, "table.csv"), [
              ["id", "value"],
              [1, "a,b"],
              [2, 'say "hi"'],
            ]),
            summary: await saveResult(path.join(outDir, "summary.json"), { n, mean: (n - 1) / 4 }),
            bytes: await saveResult(path.join(outDir, "raw.bin"), Buffer.from([1, 2, 3])),
          };
        },
        {
          outputs: ["volume", "table", "summary", "bytes"],
          hashOutput: path.join(dir, "state"),
          logger: quiet,
        },
      );
    const results = await make().run(1000, out);
    const state = await readFile(path.join(dir, "state", "analyse.outputs"), "utf8");
    expect(state.length).toBeLessThan(2000); // slim references, not the data
    expect(JSON.parse(state).outputs.volume).toEqual({
      file: path.join(out, "volume.f32"),
      hash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    const volume = (await loadResult(results.volume as string)) as Float32Array;
    expect(volume).toBeInstanceOf(Float32Array);
    expect(volume[999]).toBe(499.5);
    expect(await loadResult(results.table as string)).toEqual([
      ["id", "value"],
      ["1", "a,b"],
      ["2", 'say "hi"'],
    ]);
    expect(await loadResult(results.summary as string)).toEqual({ n: 1000, mean: 249.75 });
    expect(await loadResult(results.bytes as string)).toEqual(Buffer.from([1, 2, 3]));
    const cached = make();
    await cached.run(1000, out);
    expect(cached.fromCache).toBe(true);
    const bytes = await readFile(path.join(out, "volume.f32"));
    bytes[10] = bytes[10]! ^ 0xff; // tamper with the data file
    await writeFile(path.join(out, "volume.f32"), bytes);
    const verified = make();
    await verified.run(1000, out);
    expect(verified.lastDecision?.reason).toEqual({
      kind: "output-modified",
      path: path.join(out, "volume.f32"),
    });
    expect(((await loadResult(path.join(out, "volume.f32"))) as Float32Array)[2]).toBe(1);
    expect(calls.n).toBe(2);
    await expect(saveResult(path.join(out, "x.f32"), new Float64Array(2))).rejects.toThrow(
      /takes a Float32Array, got an instance of Float64Array/,
    );
    await expect(saveResult(path.join(out, "x.xyz"), 1)).rejects.toThrow(
      /unknown extension ".xyz"/,
    );
  });
});
