import { readFile, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { MemoriError, Pipeline, Stage, type PipelineSource } from "../src/index.js";
import { canChdir, recordingLogger, tempDir } from "./util/tmp.js";

const quiet = recordingLogger().logger;
/** Any node a pipeline definition takes. */
type Node = ConstructorParameters<typeof Pipeline>[0][number][1];

function counter() {
  return { n: 0 } as { n: number };
}

describe("Pipeline", () => {
  it("runs stages in order, passing results by name, and re-runs only from what changed", async () => {
    const dir = await tempDir();
    const calls = { s0: 0, s1: 0, s2: 0, s3: 0 };
    const build = () => {
      const s0 = new Stage(
        function split(a: number, b: number) {
          calls.s0++;
          return [a + b, a * b];
        },
        { outputs: ["sum", "product"], hashOutput: dir, logger: quiet },
      );
      const s1 = new Stage(
        function double(sum: number) {
          calls.s1++;
          return sum * 2;
        },
        { outputs: "doubled", hashOutput: dir, logger: quiet },
      );
      const s2 = new Stage(
        function square(product: number) {
          calls.s2++;
          return product ** 2;
        },
        { outputs: "squared", hashOutput: dir, logger: quiet },
      );
      const s3 = new Stage(
        function total(doubled: number, squared: number) {
          calls.s3++;
          return doubled + squared;
        },
        { outputs: "total", hashOutput: dir, logger: quiet },
      );
      return new Pipeline([
        ["start", s0],
        [s0, s1],
        [s0, s2],
        [[s1, s2], s3],
      ]);
    };
    const p = build();
    const results = await p.run(2, 3);
    expect(results).toEqual({ sum: 5, product: 6, doubled: 10, squared: 36, total: 46 });
    expect(p.results).toEqual(results);
    expect(p.stages.map((s) => s.name)).toEqual(["split", "double", "square", "total"]);
    expect(calls).toEqual({ s0: 1, s1: 1, s2: 1, s3: 1 });

    const again = build();
    expect(await again.runNamed({ a: 2, b: 3 })).toEqual(results);
    expect(calls).toEqual({ s0: 1, s1: 1, s2: 1, s3: 1 });
    expect(again.decisions.map((d) => d.action)).toEqual(["skip", "skip", "skip", "skip"]);
    expect(again.stages.every((s) => s.fromCache)).toBe(true);

    // a + b stays 5, a * b changes: "double" is skipped, "square" and "total" re-run
    await build().run(1, 4);
    expect(calls).toEqual({ s0: 2, s1: 1, s2: 2, s3: 2 });
  });

  it("uses aliases, and the right-most stage wins a name clash on fan-in", async () => {
    const a = new Stage(() => ({ c: 1, shared: "from-a" }), {
      name: "a",
      outputs: ["c", "shared"],
    });
    const b = new Stage(() => ["from-b"], { name: "b", outputs: ["shared"] });
    const up = new Stage(() => 5, { name: "up", outputs: "c", aliases: { d: "c" } });
    const f2 = new Stage((c: number) => c + 1, { name: "f2", outputs: "e" });
    const f3 = new Stage((d: number) => d + 2, { name: "f3", outputs: "f" });
    const join = new Stage((c: number, shared: string[] | string) => `${c}:${String(shared)}`, {
      name: "join",
      outputs: "joined",
    });
    const p = new Pipeline([
      ["start", up],
      [up, f2],
      [up, f3],
      ["start", a],
      ["start", b],
      [[a, b], join],
    ]);
    const r = await p.run();
    expect(r.e).toBe(6);
    expect(r.f).toBe(7);
    expect(r.joined).toBe("1:from-b");
  });

  it("breaks ties in definition order", async () => {
    const order: string[] = [];
    const mk = (name: string) =>
      new Stage(
        () => {
          order.push(name);
          return name;
        },
        { name, outputs: `o_${name}` },
      );
    const [z, y, x, w] = [mk("z"), mk("y"), mk("x"), mk("w")];
    await new Pipeline([
      ["start", z],
      ["start", y],
      [z, x],
      ["start", w],
    ]).run();
    expect(order).toEqual(["z", "y", "x", "w"]);
  });

  it("validates the definition: non-stages, cycles with their path, state collisions", async () => {
    const dir = await tempDir();
    const s = (name: string) => new Stage((x: number) => x, { name, hashOutput: dir });
    const [a, b, c] = [s("a"), s("b"), s("c")];
    expect(
      () =>
        new Pipeline([
          ["start", a],
          [a, 42 as never],
        ]),
    ).toThrow(
      /pipeline definition entry 1 \(\[source, stage\]\): the second item must be a Stage, got 42 \(number\)/,
    );
    expect(() => new Pipeline([["begin" as never, a]])).toThrow(
      /the source must be a Stage or "start", got "begin"/,
    );
    expect(() => new Pipeline([[[a, {} as never], b]])).toThrow(/source 1 must be a Stage/);
    expect(() => new Pipeline([] as never)).toThrow(/non-empty array/);
    const cycle = () =>
      new Pipeline([
        ["start", a],
        [a, b],
        [b, c],
        [c, a],
      ]);
    expect(cycle).toThrow(MemoriError);
    expect(cycle).toThrow(/cycle: "a" feeds "b" feeds "c" feeds "a"/);
    const twin = new Stage((y: number) => y, { name: "a", hashOutput: dir });
    expect(
      () =>
        new Pipeline([
          ["start", a],
          [a, twin],
        ]),
    ).toThrow(/two stages named "a" would write the same state files/);
  });

  it("names the stage, the argument and the names available when an argument is missing", async () => {
    const a = new Stage(() => 1, { name: "first", outputs: "x" });
    const b = new Stage((y: number) => y, { name: "second" });
    // Knowable from the definition: the constructor says so, before any upstream work.
    const definition: [PipelineSource, Node][] = [
      ["start", a],
      [a, b],
    ];
    let error = (() => {
      try {
        new Pipeline(definition);
      } catch (e: unknown) {
        return e;
      }
    })() as MemoriError;
    expect(error.reason).toBe("missing-argument");
    expect(error.stage).toBe("second");
    expect(error.message).toMatch(/stage "second" is missing argument "y".*offered "x"/);
    // Wiring changed after construction (a static argument deleted): the run says the same.
    b.setArg("y", 2);
    const p = new Pipeline(definition);
    b.deleteArg("y");
    error = (await p.run().catch((e: unknown) => e)) as MemoriError;
    expect(error.reason).toBe("missing-argument");
    expect(error.stage).toBe("second");
    expect(error.message).toMatch(/stage "second" is missing argument "y".*offered "x"/);
  });

  it("keeps earlier stages' state when a stage fails, so a re-run resumes there", async () => {
    const dir = await tempDir();
    const calls = counter();
    const flag = { fail: true };
    const build = () => {
      const ok = new Stage(
        function prepare(n: number) {
          calls.n++;
          return n + 1;
        },
        { outputs: "m", hashOutput: dir, logger: quiet },
      );
      const flaky = new Stage(
        function flaky(m: number) {
          if (flag.fail) throw new Error("scanner offline");
          return m * 10;
        },
        { outputs: "z", hashOutput: dir, logger: quiet },
      );
      return new Pipeline([
        ["start", ok],
        [ok, flaky],
      ]);
    };
    const error = (await build()
      .run(1)
      .catch((e: unknown) => e)) as MemoriError;
    expect(error.reason).toBe("stage-failed");
    expect(error.message).toMatch(/stage "flaky" failed with inputs \{m=2\}: scanner offline/);
    expect((error.cause as Error).message).toBe("scanner offline");
    expect((await readdir(dir)).filter((f) => f.startsWith("flaky."))).toEqual([]);
    flag.fail = false;
    expect(await build().run(1)).toEqual({ m: 2, z: 20 });
    expect(calls.n).toBe(1);
  });

  it.skipIf(!canChdir)("makes file strings in the merged results absolute", async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, "f.txt"), "x");
    const previous = process.cwd();
    process.chdir(dir);
    try {
      const s = new Stage(() => ["f.txt", "not-a-file.txt"], {
        name: "files",
        outputs: ["real", "other"],
      });
      const p = new Pipeline([["start", s]]);
      const r = await p.run();
      expect(r.real).toBe(path.join(process.cwd(), "f.txt"));
      expect(r.other).toBe("not-a-file.txt");
      expect(s.results).toEqual({ real: "f.txt", other: "not-a-file.txt" });
    } finally {
      process.chdir(previous);
    }
  });

  it("passes files between stages and verifies them by content", async () => {
    const dir = await tempDir();
    const state = path.join(dir, "state");
    const input = path.join(dir, "t1.txt");
    await writeFile(input, "raw");
    const calls = { strip: 0, mask: 0 };
    const build = () => {
      const strip = new Stage(
        async function strip(inFile: string) {
          calls.strip++;
          const out = path.join(path.dirname(inFile), "brain.txt");
          await writeFile(out, (await readFile(inFile, "utf8")) + "-stripped");
          return out;
        },
        { outputs: "brain", hashOutput: state, logger: quiet },
      );
      const mask = new Stage(
        async function mask(brain: string) {
          calls.mask++;
          const out = brain.replace("brain", "mask");
          await writeFile(out, (await readFile(brain, "utf8")) + "-mask");
          return out;
        },
        { outputs: "maskFile", hashOutput: state, logger: quiet },
      );
      return new Pipeline([
        ["start", strip],
        [strip, mask],
      ]);
    };
    await build().run(input);
    await build().run(input);
    expect(calls).toEqual({ strip: 1, mask: 1 });
    await writeFile(path.join(dir, "brain.txt"), "edited by hand");
    await build().run(input);
    expect(calls).toEqual({ strip: 2, mask: 1 });
    expect(await readFile(path.join(dir, "mask.txt"), "utf8")).toBe("raw-stripped-mask");
  });
});

describe("Pipeline scale", () => {
  it("validates and orders a 20,000-stage chain without recursion, and finds a cycle at its end", () => {
    const n = 20_000;
    const step = (x: number) => x + 1;
    const stages = Array.from(
      { length: n },
      (_, i) => new Stage(step, { name: `s${i}`, outputs: "x" }),
    );
    const definition: [PipelineSource, Stage<typeof step, "x">][] = [["start", stages[0]!]];
    for (let i = 1; i < n; i++) definition.push([stages[i - 1]!, stages[i]!]);
    expect(new Pipeline(definition).stages).toHaveLength(n);
    definition.push([stages[n - 1]!, stages[n - 3]!]);
    expect(() => new Pipeline(definition)).toThrow(
      `the pipeline has a cycle: "s${n - 3}" feeds "s${n - 2}" feeds "s${n - 1}" feeds "s${n - 3}"`,
    );
  });
});
