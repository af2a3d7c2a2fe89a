/**
 * explain() predicts exactly what the following run does: every reason a stage can give, for a
 * stage run alone, one element of a map, and the downstream node of a pipeline. The dry run and
 * the run are compared call by call (action and reason), and the dry run must write nothing.
 */
import { mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  MappedStage,
  MemoriError,
  Pipeline,
  Stage,
  hashable,
  type Decision,
  type Explanation,
  type RunOptions,
} from "../../src/index.js";
import { recordingLogger, snapshotTree, tempDir } from "../util/tmp.js";

const ENV = "MEMORI_MATRIX_VAR";
const saved = { MEMORI_REFRESH: process.env.MEMORI_REFRESH, [ENV]: process.env[ENV] };
beforeEach(() => {
  delete process.env.MEMORI_REFRESH;
  process.env[ENV] = "one";
});
afterEach(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

// A helper the "callee" variant reaches by binding; editCallee() rebinds it and makes a fresh
// stage function (each run reads bindings again: rebinding alone would do).
let matrixScale: (n: number) => number = (n) => n;

/** Writes `<outDir>/<input's name>.out` from the input's text. Not hashed: the same for all. */
async function writeOut(inFile: string, outDir: string, body: (text: string) => string) {
  const text = await readFile(inFile, "utf8");
  const out = path.join(outDir, `${path.basename(inFile)}.out`);
  await writeFile(out, body(text));
  return { out, size: text.length };
}

/** The stage under test, in three versions of its code. */
const variants = {
  v1: function subject(inFile: string, factor: number, outDir: string) {
    return writeOut(inFile, outDir, (text) => text.repeat(factor));
  },
  v2: function subject(inFile: string, factor: number, outDir: string) {
    return writeOut(inFile, outDir, (text) => `${text.repeat(factor)}\n`);
  },
  callee: makeCallee(),
};

function makeCallee() {
  return function subject(inFile: string, factor: number, outDir: string) {
    return writeOut(inFile, outDir, (text) => text.repeat(matrixScale(factor)));
  };
}

interface World {
  root: string;
  state: string;
  cache: string;
  out: string;
  input(name: string): string;
  output(name: string): string;
}

async function makeWorld(): Promise<World> {
  const root = await tempDir();
  await mkdir(path.join(root, "in"));
  await mkdir(path.join(root, "out"));
  const texts = { a: "alpha", b: "beta", c: "gamma" };
  for (const [n, text] of Object.entries(texts))
    await writeFile(path.join(root, "in", `${n}.txt`), text);
  return {
    root,
    state: path.join(root, "state"),
    cache: path.join(root, "cache"),
    out: path.join(root, "out"),
    input: (n) => path.join(root, "in", `${n}.txt`),
    output: (n) => path.join(root, "out", `${n}.txt.out`),
  };
}

/** The target's `.outputs` state file: the stage's own, or its map element's (matched by `.inputs`). */
async function targetOutputsFile(w: World): Promise<string> {
  const folder = path.join(w.state, "subject.map");
  const names = await readdir(folder).catch(() => undefined);
  if (names === undefined) return path.join(w.state, "subject.outputs");
  for (const name of names.filter((n) => n.endsWith(".inputs"))) {
    if ((await readFile(path.join(folder, name), "utf8")).includes(w.input("b"))) {
      return path.join(folder, name.replace(/\.inputs$/, ".outputs"));
    }
  }
  throw new Error("no element state for b.txt");
}

interface Config {
  variant: keyof typeof variants;
  outputs: string[];
  factor: number;
  /** Where the subject keeps its state. */
  hashOutput: "state" | "cache" | "none";
  /** Use <root>/cache as a read-only cache. */
  readonly: boolean;
  /** Leave the target call out: no run alone, map over a and c only, pipeline node unmemoized. */
  withoutTarget: boolean;
  /** The pipeline's upstream stage is cheap (so a dry run sees past it when it would run). */
  cheapUpstream: boolean;
}
const base: Config = {
  variant: "v1",
  outputs: ["out", "size"],
  factor: 2,
  hashOutput: "state",
  readonly: false,
  withoutTarget: false,
  cheapUpstream: false,
};

function subjectStage(w: World, c: Config, stageCaches: boolean) {
  const dirs = { state: w.state, cache: w.cache, none: undefined };
  return new Stage(variants[c.variant], {
    name: "subject",
    outputs: c.outputs,
    hashOutput: dirs[c.hashOutput],
    env: [ENV],
    readonlyCaches: stageCaches && c.readonly ? [w.cache] : [],
    logger: recordingLogger().logger,
  });
}

interface Handle {
  explain(o: RunOptions): Promise<Explanation[]>;
  run(o: RunOptions): Promise<Decision[]>;
}
interface Shape {
  name: string;
  /** How many calls are compared, and which one the scenario is applied to. */
  calls: number;
  target: number;
  build(w: World, c: Config): Handle;
}

const shapes: Shape[] = [
  {
    name: "stage alone",
    calls: 1,
    target: 0,
    build(w, c) {
      const stage = subjectStage(w, c, true);
      const args = { inFile: w.input("b"), factor: c.factor, outDir: w.out };
      return {
        explain: async (o) => [await stage.explainNamed(args, o)],
        run: async (o) =>
          c.withoutTarget ? [] : [(await stage.runNamed(args, o), stage.lastDecision!)],
      };
    },
  },
  {
    name: "map element",
    calls: 3,
    target: 1, // elements a, b, c: the scenario is applied to b
    build(w, c) {
      const mapped = new MappedStage(subjectStage(w, c, true), ["inFile"]);
      const files = (c.withoutTarget ? ["a", "c"] : ["a", "b", "c"]).map(w.input);
      const args = { inFile: files, factor: c.factor, outDir: w.out };
      return {
        explain: async (o) => (await mapped.explain(args, o)).elements!,
        run: async (o) => (await mapped.run(args, o), mapped.elementDecisions),
      };
    },
  },
  {
    name: "pipeline node",
    calls: 2,
    target: 1, // prepare (cached, unless the scenario covers the whole run), then subject
    build(w, c) {
      const prepare = new Stage((root: string) => `${root}/out`, {
        ...{ name: "prepare", outputs: "outDir", hashOutput: w.state, cheap: c.cheapUpstream },
        byName: ["root", "outDir"], // names of places: the next stage writes there
        logger: recordingLogger().logger,
      });
      const memoized = c.withoutTarget ? "none" : c.hashOutput;
      const subject = subjectStage(w, { ...c, hashOutput: memoized }, false);
      // subject takes inFile and factor from the run's arguments and outDir from prepare; the
      // read-only cache is the pipeline's option here (the stage's own in the other shapes).
      const pipeline = new Pipeline(
        [
          ["start", prepare],
          ["start", subject],
          [prepare, subject],
        ],
        { readonlyCaches: c.readonly ? [w.cache] : [] },
      );
      const args = { root: w.root, inFile: w.input("b"), factor: c.factor };
      return {
        explain: (o) => pipeline.explainNamed(args, o),
        run: async (o) => (await pipeline.runNamed(args, o), pipeline.decisions),
      };
    },
  },
];

type Want = Pick<Explanation, "action"> & { reason: Record<string, unknown> };
/**
 * Who a scenario applies to. "one": the target only (the other elements and the upstream
 * stage stay cached); "all": every element of a map (shared code or arguments); "run": every
 * call, the upstream stage too (run options, MEMORI_REFRESH).
 */
type Scope = "one" | "all" | "run";
interface Scenario {
  name: string;
  scope: Scope;
  /** What the target call does. */
  want: Want | ((w: World) => Want);
  /** Runs before the dry run; default: one ordinary run. */
  prep?: Partial<Config>[];
  /** The configuration of the dry run and of the run that follows. */
  config?: Partial<Config>;
  setup?(w: World): Promise<unknown> | void;
  options?: RunOptions;
}

const run = (kind: string, more = {}): Want => ({ action: "run", reason: { kind, ...more } });
const skip = (kind: string, more = {}): Want => ({ action: "skip", reason: { kind, ...more } });
const row = (name: string, scope: Scope, want: Scenario["want"], more: Partial<Scenario> = {}) =>
  ({ name, scope, want, ...more }) as Scenario;
const edit = (w: World) => writeFile(w.input("b"), "beta, edited");
// Switches matrixScale between two versions of its code: whatever the prep ran with, the
// scenario's run sees the other one.
const scales = [
  hashable(function matrixScale(n: number) {
    return n;
  }),
  hashable(function matrixScale(n: number) {
    return n * 1;
  }),
];
function editCallee() {
  matrixScale = matrixScale === scales[1] ? scales[0]! : scales[1]!;
  variants.callee = makeCallee();
}
const factorChanged = run("input-changed", { name: "factor", old: "2", new: "3" });
const envChanged = run("input-changed", { name: `env:${ENV}`, old: '"one"', new: '"two"' });
const namesChanged = run("output-names-changed", { old: ["out", "size"], new: ["out"] });

// The matrix: every reason of the README, applied to the target call of each shape.
const scenarios: Scenario[] = [
  row("first-run", "one", run("first-run"), { prep: [{ withoutTarget: true }] }),
  row("cached", "one", skip("cached")),
  row("function-changed (the stage)", "all", run("function-changed", { changed: ["subject"] }), {
    config: { variant: "v2" },
  }),
  row("function-changed (hashable)", "all", run("function-changed", { changed: ["matrixScale"] }), {
    prep: [{ variant: "callee" }],
    config: { variant: "callee" },
    setup: editCallee,
  }),
  // A map keys its elements by their mapped values: one element's changed value is a new
  // element (first-run). The value changed here is the argument the elements share.
  row("input-changed (a value)", "all", factorChanged, { config: { factor: 3 } }),
  row("input-changed (a file's content)", "one", run("input-changed", { name: "inFile" }), {
    setup: edit,
  }),
  row("output-missing", "one", (w) => run("output-missing", { path: w.output("b") }), {
    setup: (w) => rm(w.output("b")),
  }),
  row("output-modified", "one", (w) => run("output-modified", { path: w.output("b") }), {
    setup: (w) => writeFile(w.output("b"), "tampered with"),
  }),
  row("output-names-changed", "all", namesChanged, { config: { outputs: ["out"] } }),
  // Pipeline-wide forcing makes the upstream stage run too: it is cheap, so the dry run can
  // see past it (otherwise the node is run-if-upstream-changes: cheap.test.ts).
  row("forced (forceRun)", "run", run("forced"), {
    config: { cheapUpstream: true },
    options: { forceRun: true },
  }),
  row("forced (forceSkip, an input changed)", "run", skip("forced"), {
    setup: edit,
    options: { forceSkip: true },
  }),
  row("forced (MEMORI_REFRESH=1)", "run", run("forced"), {
    config: { cheapUpstream: true },
    setup: () => void (process.env.MEMORI_REFRESH = "1"),
  }),
  row("state-unreadable (corrupt .outputs)", "one", run("state-unreadable"), {
    setup: async (w) => writeFile(await targetOutputsFile(w), "{ not json"),
  }),
  row("cached from a read-only cache", "one", (w) => skip("cached", { from: w.cache }), {
    prep: [{ hashOutput: "cache" }, { withoutTarget: true }],
    config: { readonly: true },
  }),
  row("input-changed (a watched env variable)", "all", envChanged, {
    setup: () => void (process.env[ENV] = "two"),
  }),
  row("not-memoized", "all", run("not-memoized"), { config: { hashOutput: "none" } }),
];

const pick = ({ action, reason }: Explanation | Decision) => ({ action, reason });
let checked = 0;
afterAll(() => {
  console.log(
    `explain matrix: ${checked} of ${scenarios.length * shapes.length} (scenario x shape) pairs checked`,
  );
});

describe.each(shapes)("explain() predicts the run: $name", (shape) => {
  // Each row: after the prep runs and the setup, explain(); it must write nothing, say what the
  // scenario means for the target, and equal, call by call, what the run then does.
  it.each(scenarios)("$name", async (scenario) => {
    const w = await makeWorld();
    for (const prep of scenario.prep ?? [{}]) await shape.build(w, { ...base, ...prep }).run({});
    await scenario.setup?.(w);
    const handle = shape.build(w, { ...base, ...scenario.config });
    const options = scenario.options ?? {};

    const before = await snapshotTree(w.root);
    const explained = await handle.explain(options);
    expect(await snapshotTree(w.root)).toBe(before);

    const want = typeof scenario.want === "function" ? scenario.want(w) : scenario.want;
    expect(explained).toHaveLength(shape.calls);
    explained.forEach((e, i) => {
      if (i === shape.target) expect(pick(e)).toMatchObject(want);
      else if (scenario.scope === "run" || (scenario.scope === "all" && shape.calls === 3))
        expect(pick(e)).toMatchObject({ action: want.action, reason: { kind: want.reason.kind } });
      else expect(pick(e)).toEqual({ action: "skip", reason: { kind: "cached" } });
    });

    const decided = await handle.run(options);
    expect(decided.map(pick)).toEqual(explained.map(pick));
    checked++;
  });
});

describe("forceSkip with nothing stored", () => {
  // explain() and the run both reject with no-state, and neither leaves anything behind.
  it("rejects the dry run and the run alike (stage alone)", async () => {
    const w = await makeWorld();
    const stage = subjectStage(w, base, true);
    const args = { inFile: w.input("b"), factor: 2, outDir: w.out };
    const before = await snapshotTree(w.root);
    const attempts = [
      () => stage.explainNamed(args, { forceSkip: true }),
      () => stage.runNamed(args, { forceSkip: true }),
    ];
    for (const attempt of attempts) {
      const error = await attempt().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(MemoriError);
      expect(error).toMatchObject({ reason: "no-state", stage: "subject" });
    }
    expect(await snapshotTree(w.root)).toBe(before);
  });
});
