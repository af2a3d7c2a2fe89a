// A long-lived process (this test process is one, as a REPL, a notebook kernel or a server is)
// that changes what a stage's code reaches between two runs: the next run (a nested one too)
// sees it, runs the stage again and names what changed; what a stage keeps state in does not
// count.
import { runInThisContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { Pipeline, Stage, hashFunction } from "../../src/index.js";
import { PerReading, currentReading, newReading } from "../../src/hashing/reading.js";
import { tempDir } from "../util/tmp.js";

describe("PerReading", () => {
  it("keeps what was set until a new reading begins", () => {
    const map = new PerReading<object, number>();
    const key = {};
    map.set(key, 1);
    expect(map.get(key)).toBe(1);
    const before = currentReading();
    newReading();
    expect(currentReading()).toBe(before + 1);
    expect(map.get(key)).toBeUndefined();
    map.set(key, 2);
    expect(map.get(key)).toBe(2);
  });
});

// Declared by a script the test runs, as a notebook's cell declares a function: a global.
declare function readingCellHelper(x: number): number;

// Module-level bindings, as a notebook's cells or a REPL's lines make them.
let factor = 2;
let config = { offset: 10, steps: [1, 2] };
let mode = "a";
let helper = (x: number): number => x + 1;
let calls = 0;

describe("a long-lived process", () => {
  it("runs a stage again after a variable it captures is reassigned, naming it", async () => {
    const dir = await tempDir();
    factor = 2;
    const stage = new Stage((x: number) => x * factor, { name: "scaled", hashOutput: dir });
    expect(await stage.run(5)).toEqual({ output: 10 });
    expect(await stage.run(5)).toEqual({ output: 10 });
    expect(stage.lastDecision?.reason).toEqual({ kind: "cached" });

    factor = 3;
    expect((await stage.explain(5)).reason).toEqual({
      kind: "function-changed",
      changed: ["factor"],
    });
    expect(await stage.run(5)).toEqual({ output: 15 });
    expect(stage.lastDecision?.reason).toEqual({ kind: "function-changed", changed: ["factor"] });
    expect(await stage.run(5)).toEqual({ output: 15 });
    expect(stage.lastDecision?.reason).toEqual({ kind: "cached" });

    // Back to the value of the first state: the state now is the second run's.
    factor = 2;
    expect(await stage.run(5)).toEqual({ output: 10 });
    expect(stage.lastDecision?.action).toBe("run");
  });

  it("runs a stage again after a variable is bound to another object, not after one is changed in place", async () => {
    const dir = await tempDir();
    config = { offset: 10, steps: [1, 2] };
    const stage = new Stage((x: number) => x + config.offset + config.steps.length, {
      name: "configured",
      hashOutput: dir,
    });
    expect(await stage.run(1)).toEqual({ output: 13 });
    // A notebook cell run again: a new object.
    config = { offset: 20, steps: [1, 2] };
    expect(await stage.run(1)).toEqual({ output: 23 });
    expect(stage.lastDecision?.reason).toEqual({ kind: "function-changed", changed: ["config"] });
    expect(await stage.run(1)).toEqual({ output: 23 });
    expect(stage.lastDecision?.reason).toEqual({ kind: "cached" });
    // Changed in place: the object keeps the identity it was first read with (README, "Not
    // guaranteed"), as a container code keeps its state in must.
    config.offset = 30;
    expect(await stage.run(1)).toEqual({ output: 23 });
    expect(stage.lastDecision?.reason).toEqual({ kind: "cached" });
  });

  it("keeps a stage cached that keeps state in captured containers, through helpers too", async () => {
    const dir = await tempDir();
    const telemetry = { durations: [] as number[], byInput: new Map<number, number>() };
    const memo = new Map<number, number>();
    const remember = (cache: Map<number, number>, x: number) => {
      if (!cache.has(x)) cache.set(x, x * 2);
      return cache.get(x)!;
    };
    const stage = new Stage(
      (x: number) => {
        telemetry.durations.push(1);
        telemetry.byInput.set(x, (telemetry.byInput.get(x) ?? 0) + 1);
        Object.assign(telemetry, { last: x });
        return remember(memo, x);
      },
      { name: "stateful", hashOutput: dir },
    );
    expect(await stage.run(1)).toEqual({ output: 2 });
    expect(await stage.run(1)).toEqual({ output: 2 });
    expect(stage.lastDecision?.reason).toEqual({ kind: "cached" });
    expect(await stage.run(2)).toEqual({ output: 4 });
    expect(stage.lastDecision?.reason.kind).toBe("input-changed");
    expect(await stage.run(2)).toEqual({ output: 4 });
    expect(stage.lastDecision?.reason).toEqual({ kind: "cached" });
    expect(telemetry.durations).toHaveLength(2);
  });

  it("reads again for a run nested in a stage's call: a sweep over a captured variable", async () => {
    const dir = await tempDir();
    const inner = new Stage((x: number) => `${x}${mode}`, { name: "inner", hashOutput: dir });
    const outer = new Stage(
      async (x: number) => {
        const results: string[] = [];
        for (const each of ["a", "b"]) {
          mode = each;
          results.push((await inner.run(x)).output);
        }
        return results;
      },
      { name: "outer", hashOutput: dir },
    );
    expect(await outer.run(1)).toEqual({ output: ["1a", "1b"] });
    mode = "b";
    expect(await inner.run(1)).toEqual({ output: "1b" });
    expect(inner.lastDecision?.reason).toEqual({ kind: "cached" });
  });

  it("reads again for a run started later by something a stage left behind (a timer)", async () => {
    const dir = await tempDir();
    factor = 3;
    const side = new Stage((x: number) => x * factor, { name: "side", hashOutput: dir });
    let later: Promise<unknown> | undefined;
    const starter = new Stage(
      () => {
        later = new Promise((resolve) => setTimeout(resolve, 50)).then(() => side.run(1));
        return 0;
      },
      { name: "starter" },
    );
    expect(await side.run(1)).toEqual({ output: 3 });
    await starter.run();
    factor = 4;
    expect(await later).toEqual({ output: 4 });
    expect(side.lastDecision?.reason).toEqual({ kind: "function-changed", changed: ["factor"] });
  });

  it("runs a pipeline's stage again after a helper it calls is rebound (and what it feeds)", async () => {
    const dir = await tempDir();
    helper = (x) => x + 1;
    const first = new Stage((x: number) => helper(x), {
      name: "first",
      outputs: "y",
      hashOutput: dir,
    });
    const second = new Stage((y: number) => y * 10, {
      name: "second",
      outputs: "z",
      hashOutput: dir,
    });
    const pipeline = new Pipeline([
      ["start", first],
      [first, second],
    ]);
    expect(await pipeline.run(1)).toMatchObject({ y: 2, z: 20 });
    expect(await pipeline.run(1)).toMatchObject({ y: 2, z: 20 });
    expect(pipeline.decisions.map((d) => d.action)).toEqual(["skip", "skip"]);

    helper = (x) => x + 2;
    const dry = await pipeline.explain(1);
    expect(dry.map((d) => d.action)).toEqual(["run", "run-if-upstream-changes"]);
    expect(await pipeline.run(1)).toMatchObject({ y: 3, z: 30 });
    expect(pipeline.decisions[0]!.reason).toEqual({
      kind: "function-changed",
      changed: ["helper"],
    });
    expect(pipeline.decisions[1]!.reason).toMatchObject({ kind: "input-changed", name: "y" });
  });

  it("keeps a stage cached that counts its calls in a captured variable", async () => {
    const dir = await tempDir();
    calls = 0;
    const stage = new Stage(
      (x: number) => {
        calls++;
        return x;
      },
      { name: "counted", hashOutput: dir },
    );
    await stage.run(1);
    await stage.run(1);
    await stage.run(1);
    expect(calls).toBe(1);
    expect(stage.lastDecision?.reason).toEqual({ kind: "cached" });
  });

  it("counts a function a notebook or the REPL declared at top level (a global) by its code", async () => {
    const dir = await tempDir();
    // As a notebook kernel runs a cell: a script, whose top-level functions are globals.
    runInThisContext("function readingCellHelper(x) { return x * 2; }");
    const stage = new Stage((x: number) => readingCellHelper(x), {
      name: "celled",
      hashOutput: dir,
    });
    expect(await stage.run(4)).toEqual({ output: 8 });
    expect(await stage.run(4)).toEqual({ output: 8 });
    expect(stage.lastDecision?.reason).toEqual({ kind: "cached" });
    runInThisContext("function readingCellHelper(x) { return x * 3; }");
    expect(await stage.run(4)).toEqual({ output: 12 });
    expect(stage.lastDecision?.reason).toEqual({
      kind: "function-changed",
      changed: ["readingCellHelper"],
    });
    // The runtime's globals count for nothing: a stage calling them stays cached.
    const timed = new Stage((x: number) => structuredClone([x, typeof setTimeout])[0], {
      name: "timed",
      hashOutput: dir,
    });
    await timed.run(1);
    await timed.run(1);
    expect(timed.lastDecision?.reason).toEqual({ kind: "cached" });
  });

  it("hashes a function with what it reaches as it is at each call", () => {
    let scale = 2;
    const scaled = (x: number) => x * scale;
    const first = hashFunction(scaled);
    expect(hashFunction(scaled)).toBe(first);
    scale = 4;
    expect(hashFunction(scaled)).not.toBe(first);
    scale = 2;
    expect(hashFunction(scaled)).toBe(first);
  });
});
