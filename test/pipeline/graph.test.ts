/**
 * Wiring mistakes are errors of `new Pipeline(...)`, thrown synchronously before anything runs:
 * a required parameter nothing provides, a cycle (named by its path), two nodes writing the same
 * state files. (The 100,000-node case is covered elsewhere.)
 */
import { readdir } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { MappedStage, MemoriError, Pipeline, Stage } from "../../src/index.js";
import { canChdir, recordingLogger, tempDir } from "../util/tmp.js";

const quiet = recordingLogger().logger;
type Definition = ConstructorParameters<typeof Pipeline>[0];

/** The error `new Pipeline(definition)` throws synchronously (a rejected promise would not do). */
function constructionError(definition: Definition): MemoriError {
  let thrown: unknown;
  try {
    new Pipeline(definition);
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(MemoriError);
  return thrown as MemoriError;
}

/** `a` offers the output "z" (and whatever aliases it is given). */
function source(aliases: Record<string, "z"> = {}) {
  return new Stage((x: number) => x + 1, { name: "a", outputs: "z", aliases, logger: quiet });
}

describe("missing arguments are construction errors", () => {
  // b's required "y" is offered by no output, alias or static argument: named, with what was offered.
  it("names the stage, the argument and what its sources offered", () => {
    const a = source({});
    const b = new Stage((y: number) => y * 2, { name: "b", logger: quiet });
    const error = constructionError([
      ["start", a],
      [a, b],
    ]);
    expect(error.reason).toBe("missing-argument");
    expect(error.stage).toBe("b");
    expect(error.message).toMatch(/stage "b" is missing argument "y".*offered/);
    expect(error.message).toContain('offered "z"');
  });

  // Every name offered is listed: outputs and aliases of all sources of a fan-in.
  it("lists the outputs and aliases of every source of a fan-in", () => {
    const a = source({ w: "z" });
    const other = new Stage(() => [1, 2], { name: "other", outputs: ["p", "q"], logger: quiet });
    const b = new Stage((y: number, z: number) => y + z, { name: "b", logger: quiet });
    const error = constructionError([
      ["start", a],
      ["start", other],
      [[a, other], b],
    ]);
    expect(error.message).toMatch(/stage "b" is missing argument "y"/);
    for (const name of ["z", "w", "p", "q"]) expect(error.message).toContain(`"${name}"`);
  });

  // None of the ways of providing a parameter is mistaken for a missing one; each pipeline runs.
  it.each([
    ["it has a default", () => new Stage((y = 5) => y * 2, { name: "b", logger: quiet }), "a"],
    [
      "it is a static argument (args option)",
      () => new Stage((y: number) => y * 2, { name: "b", args: { y: 5 }, logger: quiet }),
      "a",
    ],
    [
      "it is a static argument (setArg before construction)",
      () => {
        const b = new Stage((y: number) => y * 2, { name: "b", logger: quiet });
        b.setArg("y", 5);
        return b;
      },
      "a",
    ],
    [
      "it is an alias of a source's output",
      () => new Stage((y: number) => y * 2, { name: "b", logger: quiet }),
      "alias",
    ],
    [
      "the stage is fed by start",
      () => new Stage((y: number) => y * 2, { name: "b", logger: quiet }),
      "start",
    ],
  ] as const)("no error when %s", async (_, makeB, wiring) => {
    const a = source(wiring === "alias" ? { y: "z" } : {});
    const b = makeB();
    const definition: Definition =
      wiring === "start"
        ? [
            ["start", a],
            ["start", b],
            [a, b],
          ]
        : [
            ["start", a],
            [a, b],
          ];
    const pipeline = new Pipeline(definition);
    const results = await pipeline.runNamed({ x: 4, y: 5 });
    expect(results.output).toBe(10);
  });

  // A MappedStage node's mapped parameter is required like any other.
  it("counts a mapped parameter as required", () => {
    const a = source({});
    const each = new Stage((item: number, scale = 2) => item * scale, {
      name: "each",
      logger: quiet,
    });
    const error = constructionError([
      ["start", a],
      [a, new MappedStage(each, ["item"])],
    ]);
    expect(error.reason).toBe("missing-argument");
    expect(error.stage).toBe("each");
    expect(error.message).toMatch(/stage "each" is missing argument "item".*offered "z"/);
    // a default does not make a mapped parameter optional: the map needs a list
    const withDefault = new Stage((item = 0) => item * 2, { name: "each2", logger: quiet });
    const again = constructionError([
      ["start", a],
      [a, new MappedStage(withDefault, ["item"])],
    ]);
    expect(again.reason).toBe("missing-argument");
    expect(again.message).toMatch(/stage "each2" is missing argument "item"/);
  });

  // ...and is satisfied by a source that offers the list under its name.
  it("accepts a mapped parameter a source provides", async () => {
    const list = new Stage((n: number) => Array.from({ length: n }, (_, i) => i), {
      name: "list",
      outputs: "item",
      logger: quiet,
    });
    const each = new Stage((item: number) => item * 10, { name: "each", logger: quiet });
    const pipeline = new Pipeline([
      ["start", list],
      [list, new MappedStage(each, ["item"])],
    ]);
    expect((await pipeline.run(3)).output).toEqual([0, 10, 20]);
  });
});

// A stage fed by "start" too takes what the run is given, known only at the run: a name there
// that nothing provides fails the run before anything runs, not after its upstream work.
describe("missing arguments of a stage fed by start are found before the run starts", () => {
  it("names what is missing, what its sources offered and the pipeline's arguments", async () => {
    let ran = 0;
    const clean = new Stage(
      (subjects: string[]) => {
        ran++;
        return subjects.map((s) => `${s}-clean`);
      },
      { name: "clean", outputs: "cleanedFile", logger: quiet },
    );
    const count = new Stage((cleaned: string, outDir: string) => `${outDir}/${cleaned}`, {
      name: "count",
      logger: quiet,
    });
    const each = new MappedStage(count, ["cleaned"]);
    const pipeline = new Pipeline([
      ["start", clean],
      ["start", each],
      [clean, each],
    ]);
    const error = (await pipeline
      .runNamed({ subjects: ["sub-01"], outDir: "out" })
      .catch((e: unknown) => e)) as MemoriError;
    expect(error).toBeInstanceOf(MemoriError);
    expect(error).toMatchObject({ reason: "missing-argument", stage: "count" });
    expect(error.message).toBe(
      'pipeline: stage "count" is missing argument "cleaned"; it was given "outDir". The stages feeding it offered "cleanedFile"; rename an output, add an alias, or set a static argument. The pipeline was given "subjects", "outDir". Nothing ran.',
    );
    expect(ran).toBe(0);
    // Provided by the run's arguments, or positional ones (each stage binds them itself): runs.
    expect(
      (await pipeline.runNamed({ subjects: ["a"], outDir: "o", cleaned: ["x"] })).output,
    ).toEqual(["o/x"]);
    expect(ran).toBe(1);
  });
});

describe("cycles and collisions", () => {
  // A cycle behind a non-cyclic start is named by its path, from its earliest-defined stage.
  it("names the path of a cycle", () => {
    const make = (name: string) =>
      new Stage((v: number) => v, { name, outputs: "v", logger: quiet });
    const [s, a, b, c] = [make("s"), make("a"), make("b"), make("c")];
    const error = constructionError([
      ["start", s],
      [s, a],
      [c, a],
      [a, b],
      [b, c],
    ]);
    expect(error.reason).toBe("cycle");
    expect(error.message).toContain('"a" feeds "b" feeds "c" feeds "a"');
    expect(error.message).not.toContain('"s"');
  });

  // Two stages with the same name and hashOutput would write the same files; another dir is fine.
  it("rejects two stages that would write the same state files", async () => {
    const dir = await tempDir();
    const make = (hashOutput: string) =>
      new Stage((x: number) => x, { name: "same", hashOutput, logger: quiet });
    const first = make(dir);
    const error = constructionError([
      ["start", first],
      ["start", make(`${dir}/.`)], // the same directory, spelled differently
    ]);
    expect(error.reason).toBe("state-collision");
    expect(error.stage).toBe("same");
    expect(error.message).toContain('two stages named "same"');
    expect(
      () =>
        new Pipeline([
          ["start", first],
          ["start", make(path.join(dir, "elsewhere"))],
        ]),
    ).not.toThrow();
  });

  // The check is made again at each run, unless nothing it depends on changed: a hashOutput
  // changed after a run, or the working directory a relative one is resolved against.
  it("rejects at run time a collision made after construction, by hashOutput or working directory", async () => {
    const dir = await tempDir();
    const elsewhere = await tempDir();
    const make = (hashOutput: string) =>
      new Stage((x: number) => x, { name: "same", hashOutput, logger: quiet });
    const first = make(dir);
    const second = make(path.join(dir, "other"));
    const pipeline = new Pipeline([
      ["start", first],
      ["start", second],
    ]);
    expect(await pipeline.run(1)).toEqual({ output: 1 });
    second.hashOutput = dir;
    await expect(pipeline.run(1)).rejects.toMatchObject({ reason: "state-collision" });
    await expect(pipeline.run(1)).rejects.toMatchObject({ reason: "state-collision" });
    second.hashOutput = path.join(dir, "other");
    expect(await pipeline.run(1)).toEqual({ output: 1 });
    if (!canChdir) return;
    // "state" relative to the working directory: the same files as elsewhere/state only there
    first.hashOutput = path.join(elsewhere, "state");
    second.hashOutput = "state";
    const before = process.cwd();
    process.chdir(dir);
    try {
      expect(await pipeline.run(1)).toEqual({ output: 1 });
      process.chdir(elsewhere);
      await expect(pipeline.run(1)).rejects.toMatchObject({ reason: "state-collision" });
    } finally {
      process.chdir(before);
    }
  });

  // A Stage and a MappedStage of the same stage write <name>.* and <name>.map/: no collision.
  it("lets a stage and its map share a pipeline: they write different state", async () => {
    const dir = await tempDir();
    const list = new Stage((n: number) => [1, 2, 3].slice(0, n), {
      name: "list",
      outputs: "items",
      hashOutput: dir,
      logger: quiet,
    });
    const double = new Stage((item: number) => item * 2, {
      name: "double",
      outputs: "doubled",
      hashOutput: dir,
      logger: quiet,
    });
    const doubleAll = new MappedStage(double, ["item"]);
    const toItem = new Stage((items: number[]) => items, {
      name: "toItem",
      outputs: "item",
      logger: quiet,
    });
    const build = () =>
      new Pipeline([
        ["start", list],
        ["start", double],
        [list, toItem],
        [toItem, doubleAll],
      ]);
    await build().runNamed({ n: 3, item: 10 });
    expect(double.results).toEqual({ doubled: 20 });
    expect(doubleAll.results).toEqual({ doubled: [2, 4, 6] });
    const files = await readdir(dir);
    expect(files).toEqual(
      expect.arrayContaining(["double.inputs", "double.outputs", "double.stage", "double.map"]),
    );
    expect(
      (await readdir(path.join(dir, "double.map"))).filter((f) => f.endsWith(".stage")),
    ).toHaveLength(3);
    // neither overwrote the other: a second run is served from both states
    const again = build();
    await again.runNamed({ n: 3, item: 10 });
    expect(again.decisions.map((d) => [d.stage, d.action])).toEqual([
      ["list", "skip"],
      ["double", "skip"],
      ["toItem", "run"], // not memoized
      ["double", "skip"], // the map
    ]);
    expect(doubleAll.elementDecisions.map((d) => d.action)).toEqual(["skip", "skip", "skip"]);
  });
});

describe("pipeline.graph", () => {
  // pins the graphlib graph made when first asked for: every stage by index, labelled by name,
  // and every [source, stage] edge, as the definition gives them
  it("is the definition as a graphlib graph, made once", () => {
    const a = new Stage((x: number) => x, { name: "a", outputs: "y" });
    const b = new Stage((y: number) => y, { name: "b", outputs: "z" });
    const c = new Stage((y: number, z: number) => y + z, { name: "c" });
    const pipeline = new Pipeline([
      ["start", a],
      [a, b],
      [[a, b], c],
    ]);
    const graph = pipeline.graph;
    expect(pipeline.graph).toBe(graph);
    expect(graph.isDirected()).toBe(true);
    expect(graph.nodes()).toEqual(["0", "1", "2"]);
    expect(graph.nodes().map((v) => graph.node(v) as unknown)).toEqual(["a", "b", "c"]);
    expect(graph.edges()).toEqual([
      { v: "0", w: "1" },
      { v: "0", w: "2" },
      { v: "1", w: "2" },
    ]);
    expect(graph.predecessors("2")?.sort()).toEqual(["0", "1"]);
  });
});
