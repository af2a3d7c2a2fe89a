/** `pipeline.upTo(...)` (what some stages need) and `pipeline.withOptions(...)`. */
import { readdir } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { MappedStage, MemoriError, Pipeline, PipelineError, Stage } from "../../src/index.js";
import { recordingLogger, tempDir } from "../util/tmp.js";

const logger = recordingLogger().logger;

/** a -> b, a -> c, [b, c] -> d, with each call counted. */
function diamond(dir: string) {
  const calls: string[] = [];
  const a = new Stage(
    (x: number) => {
      calls.push("a");
      return x + 1;
    },
    { name: "a", outputs: "ya", hashOutput: dir, logger },
  );
  const b = new Stage(
    (ya: number) => {
      calls.push("b");
      return ya * 2;
    },
    { name: "b", outputs: "yb", hashOutput: dir, logger },
  );
  const c = new Stage(
    (ya: number) => {
      calls.push("c");
      return ya * 3;
    },
    { name: "c", outputs: "yc", hashOutput: dir, logger },
  );
  const d = new Stage(
    (yb: number, yc: number) => {
      calls.push("d");
      return yb + yc;
    },
    { name: "d", outputs: "yd", hashOutput: dir, logger },
  );
  const definition = [
    ["start", a],
    [a, b],
    [a, c],
    [[b, c], d],
  ] as const;
  return { calls, definition };
}

describe("pipeline.upTo", () => {
  it("runs only the named stage and what it needs, into the same state a full run uses", async () => {
    const dir = await tempDir();
    const { calls, definition } = diamond(dir);
    const pipeline = new Pipeline(definition, { concurrency: 1 });
    const part = pipeline.upTo("b");
    expect(part.stages.map((s) => s.name)).toEqual(["a", "b"]);
    expect(await part.run(1)).toEqual({ ya: 2, yb: 4 });
    expect(calls).toEqual(["a", "b"]);
    expect((await readdir(dir)).filter((f) => f.endsWith(".stage")).sort()).toEqual([
      "a.stage",
      "b.stage",
    ]);
    expect(await pipeline.run(1)).toEqual({ ya: 2, yb: 4, yc: 6, yd: 10 });
    expect(calls).toEqual(["a", "b", "c", "d"]);
    expect(pipeline.decisions.map((d) => `${d.stage}:${d.action}`)).toEqual([
      "a:skip",
      "b:skip",
      "c:run",
      "d:run",
    ]);
  });

  it("takes several stages, and all of a fan-in's sources", async () => {
    const dir = await tempDir();
    const { definition } = diamond(dir);
    const pipeline = new Pipeline(definition);
    expect(pipeline.upTo("b", "c").stages.map((s) => s.name)).toEqual(["a", "b", "c"]);
    expect(pipeline.upTo("d").stages.map((s) => s.name)).toEqual(["a", "b", "c", "d"]);
    expect(pipeline.upTo("a").stages.map((s) => s.name)).toEqual(["a"]);
  });

  it("keeps a map and the stage that lists its elements", async () => {
    const dir = await tempDir();
    const list = new Stage((n: number) => Array.from({ length: n }, (_, i) => i), {
      name: "list",
      outputs: "i",
    });
    const square = new MappedStage(
      new Stage((i: number) => i * i, { name: "square", outputs: "sq", hashOutput: dir, logger }),
      ["i"],
    );
    const sum = new Stage((sq: number[]) => sq.reduce((x, y) => x + y, 0), {
      name: "sum",
      outputs: "total",
    });
    const pipeline = new Pipeline([
      ["start", list],
      [list, square],
      [square, sum],
    ]);
    expect(await pipeline.upTo("square").runNamed({ n: 3 })).toEqual({
      i: [0, 1, 2],
      sq: [0, 1, 4],
    });
  });

  it("throws not-found naming the stages, and keeps the options", async () => {
    const dir = await tempDir();
    const { definition } = diamond(dir);
    const pipeline = new Pipeline(definition, { keepGoing: true });
    let error: unknown;
    try {
      pipeline.upTo("b", "e");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MemoriError);
    expect(error).toMatchObject({
      reason: "not-found",
      message: 'pipeline: no stage named "e"; its stages are "a", "b", "c", "d".',
    });
    const failing = new Stage(
      (ya: number) => {
        throw new Error(`no ${ya}`);
      },
      { name: "b", outputs: "yb", logger },
    );
    const [[, a]] = definition;
    const withFailure = new Pipeline(
      [
        ["start", a],
        [a, failing],
      ],
      { keepGoing: true },
    );
    // keepGoing carried over: the failure comes as a PipelineError, not the stage's own error
    await expect(withFailure.upTo("b").run(1)).rejects.toBeInstanceOf(PipelineError);
  });
});

describe("pipeline.withOptions", () => {
  it("is the same stages with options over the ones given; options shows what was given", async () => {
    const dir = await tempDir();
    const { calls, definition } = diamond(dir);
    const pipeline = new Pipeline(definition, { concurrency: 2 });
    expect(pipeline.options).toEqual({ concurrency: 2 });
    const other = pipeline.withOptions({ keepGoing: true });
    expect(other).not.toBe(pipeline);
    expect(other.options).toEqual({ concurrency: 2, keepGoing: true });
    expect(pipeline.options).toEqual({ concurrency: 2 });
    expect(await other.run(1)).toEqual({ ya: 2, yb: 4, yc: 6, yd: 10 });
    expect(calls.sort()).toEqual(["a", "b", "c", "d"]);
    expect(() => pipeline.withOptions({ concurrency: 0 })).toThrow(
      /expected `concurrency` to be a whole number >= 1, got 0/,
    );
  });
});
