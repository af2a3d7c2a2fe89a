import { readFile, readdir, rm, writeFile, unlink } from "node:fs/promises";
import path from "node:path";
import { describe, expect, expectTypeOf, it } from "vitest";
import { MemoriError, Stage } from "../src/index.js";
import { describeReason } from "../src/decision.js";
import { recordingLogger, tempDir } from "./util/tmp.js";

const quiet = recordingLogger().logger;

describe("calling", () => {
  it("maps positional arguments to the parameters parsed from the source", async () => {
    const stage = new Stage(function f(a: number, b: number, c = 10) {
      return a * 100 + b * 10 + c;
    });
    expect(stage.inputs).toEqual(["a", "b", "c"]);
    expect(await stage.run(1, 2)).toEqual({ output: 130 });
    expect(await stage.run(1, 2, 3)).toEqual({ output: 123 });
    expect(stage.hasRun).toBe(true);
    expect(stage.fromCache).toBe(false);
    expect(stage.inputArgs).toEqual({ a: 1, b: 2, c: 3 });
  });

  it("reads parameters of arrows, async, generators, methods and destructured objects", async () => {
    const obj = {
      method(x: number, y = 2) {
        return x + y;
      },
      async am(p: number) {
        return p;
      },
    };
    expect(new Stage((x: number) => x, { name: "arrow" }).inputs).toEqual(["x"]);
    expect(new Stage(async (x: number, y: number) => x + y, { name: "a" }).inputs).toEqual([
      "x",
      "y",
    ]);
    expect(new Stage(obj.method).inputs).toEqual(["x", "y"]);
    expect(new Stage(obj.am).inputs).toEqual(["p"]);
    expect(
      new Stage(function* gen(n: number) {
        yield n;
      }).inputs,
    ).toEqual(["n"]);
    const destructured = new Stage(
      ({ inFile, voxel = 1 }: { inFile: string; voxel?: number }) => `${inFile}@${voxel}`,
      {
        name: "d",
      },
    );
    expect(destructured.inputs).toEqual(["inFile", "voxel"]);
    expect(await destructured.runNamed({ inFile: "x" })).toEqual({ output: "x@1" });
    expect(await destructured.run({ inFile: "y", voxel: 2 })).toEqual({ output: "y@2" });
  });

  it("lets static arguments override call arguments, and setArg/deleteArg change them", async () => {
    const stage = new Stage((a: number, b: number) => a - b, { name: "sub", args: { b: 1 } });
    expect(await stage.run(10, 5)).toEqual({ output: 9 });
    stage.setArg("a", 100);
    expect(await stage.runNamed({ a: 1, b: 1 })).toEqual({ output: 99 });
    stage.deleteArg("a");
    expect(stage.args).toEqual({ b: 1 });
    expect(() => stage.setArg("zzz", 1)).toThrow(/no parameter "zzz"; its parameters are "a", "b"/);
    expect(() => stage.deleteArg("a")).toThrow(/no static argument "a" to delete/);
  });

  it("accepts sync and async functions and rest parameters", async () => {
    const rest = new Stage(function join(sep: string, ...parts: string[]) {
      return parts.join(sep);
    });
    expect(await rest.run("-", "a", "b", "c")).toEqual({ output: "a-b-c" });
    const slow = new Stage(async function later(x: number) {
      await new Promise((r) => setTimeout(r, 5));
      return x * 2;
    });
    expect(await slow.run(4)).toEqual({ output: 8 });
  });

  it("names the stage, the argument and what was given when an argument is missing", async () => {
    const stage = new Stage(function needs(a: number, b: number) {
      return a + b;
    });
    // @ts-expect-error -- a missing argument: a compile error, and a run-time one for JavaScript
    const error = await stage.run(1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MemoriError);
    expect((error as MemoriError).reason).toBe("missing-argument");
    expect((error as MemoriError).message).toMatch(
      /stage "needs" is missing argument "b"; it was given "a"/,
    );
    // @ts-expect-error -- too many arguments
    await expect(stage.run(1, 2, 3)).rejects.toThrow(/takes 2 argument/);
    await expect(stage.runNamed({ a: 1, c: 2 })).rejects.toThrow(/no parameter "c"/);
  });
});

describe("failures", () => {
  it("reject with a MemoriError naming the stage and its inputs, the function's error as cause", async () => {
    const boom = new Error("negative volume");
    const stage = new Stage(
      function check(v: number) {
        if (v < 0) throw boom;
        return v;
      },
      { hashOutput: await tempDir(), logger: quiet },
    );
    const error = (await stage.run(-1).catch((e: unknown) => e)) as MemoriError;
    expect(error).toBeInstanceOf(MemoriError);
    expect(error.reason).toBe("stage-failed");
    expect(error.stage).toBe("check");
    expect(error.message).toBe(
      'stage "check" failed with inputs {v=-1}: negative volume. Nothing was recorded.',
    );
    expect(error.cause).toBe(boom);
    expect(stage.lastDecision).toBeUndefined(); // a failed run is not a last run
  });
});

describe("outputs", () => {
  it("returns a single output whole, even when it is an array", async () => {
    const stage = new Stage(() => [1, 2, 3], { name: "list", outputs: "values" });
    expect(await stage.run()).toEqual({ values: [1, 2, 3] });
  });

  it("splits an array or picks object keys for several outputs, and adds aliases", async () => {
    const fromArray = new Stage((a: number, b: number) => [a + b, b + 1], {
      name: "arr",
      outputs: ["d", "e"],
      aliases: { d2: "d" },
    });
    expect(await fromArray.run(1, 2)).toEqual({ d: 3, e: 3, d2: 3 });
    const fromObject = new Stage(() => ({ x: 1, y: "two", extra: true }), {
      name: "obj",
      outputs: ["x", "y"],
    });
    expect(await fromObject.run()).toEqual({ x: 1, y: "two" });
    fromObject.aliases.why = "y";
    expect(await fromObject.run()).toEqual({ x: 1, y: "two", why: "two" });
  });

  it("shows in results an alias added after the run, without running again", async () => {
    let runs = 0;
    const stage = new Stage(
      (a: number) => {
        runs++;
        return [a, a * 2];
      },
      { name: "pair", outputs: ["one", "two"] },
    );
    await stage.run(2);
    stage.aliases.double = "two";
    expect(stage.results).toEqual({ one: 2, two: 4, double: 4 });
    stage.aliases = { single: "one" };
    expect(stage.results).toEqual({ one: 2, two: 4, single: 2 });
    expect(runs).toBe(1);
    stage.aliases.wrong = "three";
    expect(() => stage.results).toThrow(
      /alias "wrong" points to "three", which is not one of its outputs/,
    );
  });

  it("reports a missing output by stage and name", async () => {
    const stage = new Stage(() => ({ a: 1 }), { name: "short", outputs: ["a", "b"] });
    await expect(stage.run()).rejects.toThrow(
      /stage "short" declares outputs "a", "b" but its returned object has no "b"/,
    );
    const tooFew = new Stage(() => [1], { name: "few", outputs: ["a", "b"] });
    await expect(tooFew.run()).rejects.toMatchObject({ reason: "missing-output", stage: "few" });
    expect(
      () => new Stage(() => 1, { name: "x", outputs: ["a"], aliases: { b: "c" } as never }),
    ).toThrow(/alias "b" points to "c" \(string\), which is not one of its outputs/);
  });

  it("types results from literal output names", async () => {
    const stage = new Stage((a: number) => ({ z: a, w: "s" }), { name: "t", outputs: ["z", "w"] });
    const result = await stage.run(1);
    expectTypeOf(result.z).toEqualTypeOf<number>();
    expectTypeOf(result.w).toEqualTypeOf<string>();
    const single = new Stage((a: number) => [a], {
      name: "s",
      outputs: "list",
      aliases: { l: "list" },
    });
    const r = await single.run(1);
    expectTypeOf(r.list).toEqualTypeOf<number[]>();
    expectTypeOf(r.l).toEqualTypeOf<number[]>();
    const tuple = new Stage((): [number, string] => [1, "a"], { name: "tu", outputs: ["n", "s"] });
    const t = await tuple.run();
    expectTypeOf(t.n).toEqualTypeOf<number>();
    expectTypeOf(t.s).toEqualTypeOf<string>();
    const array = new Stage((a: number, b: number) => [a + b, a * b], {
      name: "arr2",
      outputs: ["sum", "product"],
    });
    expectTypeOf((await array.run(1, 2)).sum).toEqualTypeOf<number>();
    const dflt = new Stage((a: number) => a * 2, { name: "dflt" });
    expectTypeOf((await dflt.run(1)).output).toEqualTypeOf<number>();
  });
});

describe("memoization", () => {
  it("writes readable state and skips an unchanged re-run", async () => {
    const dir = await tempDir();
    const calls = { n: 0 };
    const make = () =>
      new Stage(
        function test_function(a: number, b: number, c: number) {
          calls.n++;
          return [a + b, b + c];
        },
        { outputs: ["d", "e"], hashOutput: dir, logger: quiet },
      );
    expect(await make().run(1, 2, 3)).toEqual({ d: 3, e: 5 });
    expect((await readdir(dir)).sort()).toEqual([
      "test_function.inputs",
      "test_function.outputs",
      "test_function.stage",
    ]);
    const inputs = JSON.parse(await readFile(path.join(dir, "test_function.inputs"), "utf8"));
    expect(inputs.inputs).toEqual({ a: 1, b: 2, c: 3 });
    expect(await readFile(path.join(dir, "test_function.outputs"), "utf8")).toMatch(
      /\{\n {2}"memori": 3,\n {2}"outputs": \{\n {4}"d": 3,/,
    );
    const again = make();
    expect(await again.run(1, 2, 3)).toEqual({ d: 3, e: 5 });
    expect(calls.n).toBe(1);
    expect(again.fromCache).toBe(true);
    expect(again.hasRun).toBe(false);
    expect(again.lastDecision?.reason).toEqual({ kind: "cached" });
    await again.run(1, 2, 4);
    expect(calls.n).toBe(2);
    expect(again.lastDecision?.reason).toEqual({
      kind: "input-changed",
      name: "c",
      old: "3",
      new: "4",
    });
  });

  // A parameter with a default given `undefined` takes its default: the same call as leaving it
  // out, so the same inputs (they alternated, each run re-running the other's).
  it("takes undefined for a parameter with a default as leaving it out", async () => {
    const dir = await tempDir();
    let calls = 0;
    const stage = new Stage(
      function withDefault(a: number, b = 6) {
        calls++;
        return a + b;
      },
      { hashOutput: dir, logger: quiet },
    );
    expect(await stage.runNamed({ a: 1 })).toEqual({ output: 7 });
    expect(await stage.runNamed({ a: 1, b: undefined })).toEqual({ output: 7 });
    expect(await stage.run(1, undefined)).toEqual({ output: 7 });
    expect(await stage.run(1)).toEqual({ output: 7 });
    expect(calls).toBe(1);
    expect(await stage.run(1, 2)).toEqual({ output: 3 });
    expect(calls).toBe(2);
  });

  it("honours forceRun, forceSkip and forceHashWrite", async () => {
    const dir = await tempDir();
    const calls = { n: 0 };
    const stage = new Stage(
      function twice(x: number) {
        calls.n++;
        return x * 2;
      },
      { hashOutput: dir, logger: quiet },
    );
    await expect(stage.runNamed({ x: 1 }, { forceSkip: true })).rejects.toMatchObject({
      reason: "no-state",
    });
    await stage.runNamed({ x: 1 });
    await stage.runNamed({ x: 1 }, { forceRun: true });
    expect(calls.n).toBe(2);
    expect(stage.lastDecision?.reason.kind).toBe("forced");
    // forceSkip returns stored results although the input changed
    expect(await stage.runNamed({ x: 5 }, { forceSkip: true })).toEqual({ output: 2 });
    expect(calls.n).toBe(2);
    // forceHashWrite records the new inputs: x=5 is now "cached" with output 2
    await stage.runNamed({ x: 5 }, { forceSkip: true, forceHashWrite: true });
    expect(await stage.runNamed({ x: 5 })).toEqual({ output: 2 });
    expect(stage.fromCache).toBe(true);
    expect(calls.n).toBe(2);
    await expect(stage.runNamed({ x: 5 }, { forceRun: true, forceSkip: true })).rejects.toThrow(
      /exclude each other/,
    );
    await expect(stage.runNamed({ x: 5 }, { forceRun: 1 } as never)).rejects.toThrow(
      /expected `forceRun` to be a boolean, got 1 \(number\)/,
    );
  });

  it("re-runs when the output names change, and when hashOutput moves", async () => {
    const dir = await tempDir();
    const calls = { n: 0 };
    const fn = function pair() {
      calls.n++;
      return [1, 2];
    };
    await new Stage(fn, { outputs: ["a", "b"], hashOutput: dir, logger: quiet }).run();
    const renamed = new Stage(fn, { outputs: ["a", "c"], hashOutput: dir, logger: quiet });
    expect(await renamed.run()).toEqual({ a: 1, c: 2 });
    expect(renamed.lastDecision?.reason.kind).toBe("output-names-changed");
    renamed.hashOutput = path.join(dir, "elsewhere");
    await renamed.run();
    expect(renamed.lastDecision?.reason.kind).toBe("first-run");
    expect(calls.n).toBe(3);
  });

  it("says after map() what the map and each element did; a run() clears the elements", async () => {
    const dir = await tempDir();
    const stage = new Stage((x: number) => x * 2, {
      name: "double",
      hashOutput: dir,
      logger: quiet,
    });
    expect(await stage.map({ x: [1, 2] })).toEqual({ output: [2, 4] });
    expect(stage.lastDecision).toMatchObject({ stage: "double", action: "run" });
    expect(stage.hasRun).toBe(true);
    expect(stage.elementDecisions.map((d) => [d.element, d.action])).toEqual([
      ["1", "run"],
      ["2", "run"],
    ]);
    await stage.map({ x: [1, 2, 3] });
    expect(stage.lastDecision?.action).toBe("run"); // one element ran
    expect(stage.elementDecisions.map((d) => d.action)).toEqual(["skip", "skip", "run"]);
    await stage.map({ x: [3, 1] });
    expect([stage.lastDecision?.action, stage.fromCache]).toEqual(["skip", true]);
    await stage.run(5);
    expect(stage.elementDecisions).toEqual([]);
    expect(stage.lastDecision).toMatchObject({ action: "run", reason: { kind: "first-run" } });
  });

  it("does not memoize without hashOutput", async () => {
    const calls = { n: 0 };
    const stage = new Stage(function nm() {
      return ++calls.n;
    });
    await stage.run();
    await stage.run();
    expect(calls.n).toBe(2);
    expect(stage.lastDecision?.reason.kind).toBe("not-memoized");
  });

  it("a function that throws records nothing and keeps the previous state", async () => {
    const dir = await tempDir();
    const stage = new Stage(
      function maybe(x: number) {
        if (x < 0) throw new Error("negative");
        return x;
      },
      { hashOutput: dir, logger: quiet },
    );
    await stage.run(1);
    const before = await readFile(path.join(dir, "maybe.stage"), "utf8");
    await expect(stage.run(-1)).rejects.toThrow("negative");
    expect(await readFile(path.join(dir, "maybe.stage"), "utf8")).toBe(before);
    expect(await stage.run(1)).toEqual({ output: 1 });
    expect(stage.fromCache).toBe(true);
  });
});

describe("files", () => {
  it("records file strings at any depth by content and re-runs when a file changes", async () => {
    const dir = await tempDir();
    const input = path.join(dir, "in.txt");
    const output = path.join(dir, "out.txt");
    await writeFile(input, "hello");
    const calls = { n: 0 };
    const stage = new Stage(
      async function upper(job: { files: string[]; dest: string }) {
        calls.n++;
        const text = await readFile(job.files[0]!, "utf8");
        await writeFile(job.dest, text.toUpperCase());
        return { nested: [job.dest] };
      },
      { hashOutput: path.join(dir, "state"), logger: quiet },
    );
    const job = { files: [input], dest: output };
    expect(await stage.run(job)).toEqual({ output: { nested: [output] } });
    const stored = JSON.parse(await readFile(path.join(dir, "state", "upper.inputs"), "utf8"));
    expect(stored.inputs.job.files[0]).toEqual({
      file: input,
      hash: "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
    });
    const outs = JSON.parse(await readFile(path.join(dir, "state", "upper.outputs"), "utf8"));
    expect(outs.outputs.output.nested[0].file).toBe(output);
    await stage.run(job);
    expect(stage.lastDecision?.reason).toEqual({ kind: "cached" });
    expect(calls.n).toBe(1);

    await writeFile(input, "world");
    await stage.run(job);
    expect(calls.n).toBe(2);
    // the reason names the part of the input that changed, with that part's values
    expect(stage.lastDecision?.reason).toMatchObject({
      kind: "input-changed",
      name: "job",
      part: ".files[0]",
      old: `${input}@2cf24dba5fb0`,
    });
    expect(describeReason(stage.lastDecision!.reason)).toMatch(
      /^input changed: job\.files\[0\] \(.*@2cf24dba5fb0 -> .*@[0-9a-f]{12}\)$/,
    );

    await writeFile(output, "tampered");
    await stage.run(job);
    expect(stage.lastDecision?.reason).toEqual({ kind: "output-modified", path: output });
    await unlink(output);
    await stage.run(job);
    expect(stage.lastDecision?.reason).toEqual({ kind: "output-missing", path: output });
    expect(calls.n).toBe(4);
    expect(await readFile(output, "utf8")).toBe("WORLD");
  });

  it("tracks files the run writes through path arguments, without re-running for them", async () => {
    const dir = await tempDir();
    const out = path.join(dir, "out.txt");
    const calls = { n: 0 };
    const stage = new Stage(
      async function render(text: string, dest: string) {
        calls.n++;
        await writeFile(dest, text);
      },
      { hashOutput: path.join(dir, "state"), logger: quiet },
    );
    await stage.run("x", out); // creates out.txt
    await stage.run("x", out);
    expect(calls.n).toBe(1);
    await stage.run("y", out); // out.txt existed before this run, and the run changes it
    await stage.run("y", out);
    expect(calls.n).toBe(2);
    expect(stage.lastDecision?.reason).toEqual({ kind: "cached" });
    const state = JSON.parse(await readFile(path.join(dir, "state", "render.outputs"), "utf8"));
    expect(state.written).toEqual([{ file: out, hash: expect.stringMatching(/^[0-9a-f]{64}$/) }]);
    await writeFile(out, "edited");
    await stage.run("y", out);
    expect(stage.lastDecision?.reason).toEqual({ kind: "output-modified", path: out });
    expect(await readFile(out, "utf8")).toBe("y");
  });

  it("does not take an input file changed by someone else during the run for its own output", async () => {
    const dir = await tempDir();
    const shared = path.join(dir, "shared.txt");
    await writeFile(shared, "old");
    const calls = { n: 0 };
    const stage = new Stage(
      async function reader(file: string) {
        calls.n++;
        const content = await readFile(file, "utf8");
        await new Promise((resolve) => setTimeout(resolve, 200));
        return content;
      },
      { hashOutput: path.join(dir, "state"), logger: quiet },
    );
    // An unordered stage (not this call: its writes are not the call's) rewrites it meanwhile.
    setTimeout(() => void writeFile(shared, "rewritten by an unordered stage"), 50);
    expect(await stage.run(shared)).toEqual({ output: "old" });
    const state = JSON.parse(await readFile(path.join(dir, "state", "reader.outputs"), "utf8"));
    expect(state.written).toEqual([]);
    // the result belongs to "old"; the file now holds something else: run again
    expect(await stage.run(shared)).toEqual({ output: "rewritten by an unordered stage" });
    expect(stage.lastDecision?.reason).toMatchObject({ kind: "input-changed", name: "file" });
    expect(calls.n).toBe(2);
  });

  it("never confuses a user value shaped like a file entry with a file", async () => {
    const dir = await tempDir();
    const real = path.join(dir, "real.txt");
    await writeFile(real, "x");
    const lookalike = { file: real, hash: "0".repeat(64) };
    const calls = { n: 0 };
    const stage = new Stage(
      function echo(value: unknown) {
        calls.n++;
        return value;
      },
      { hashOutput: path.join(dir, "s"), logger: quiet },
    );
    expect(await stage.run(lookalike)).toEqual({ output: lookalike });
    const again = await stage.run(lookalike);
    expect(calls.n).toBe(1);
    expect(again.output).toStrictEqual(lookalike);
    // the real file's path is a different input from the look-alike object
    await stage.run(real);
    expect(calls.n).toBe(2);
    expect((await stage.run(real)).output).toBe(real);
    expect(calls.n).toBe(2);
  });
});

describe("values round-trip exactly", () => {
  const cases: [string, unknown][] = [
    ["undefined", undefined],
    ["null", null],
    ["nested", { a: [1, "two", { three: 3 }], b: { c: null } }],
    ["array of one array", [[1, 2]]],
    ["special numbers", [NaN, Infinity, -Infinity, -0, 1.5]],
    ["bigint", 12345678901234567890n],
    ["date", new Date("2024-01-02T03:04:05.678Z")],
    [
      "map",
      new Map<unknown, unknown>([
        ["k", 1],
        [2, { v: undefined }],
      ]),
    ],
    ["set", new Set([1, "a", null])],
    ["object with undefined", { a: undefined, b: 1 }],
    ["reserved keys", { $memori: "undefined", file: 1 }],
    ["__proto__ key", JSON.parse('{"__proto__": {"polluted": true}, "x": 1}')],
    ["unicode keys", { ключ: "значение", "🔑": "✓" }],
  ];
  for (const [label, value] of cases) {
    it(label, async () => {
      const dir = await tempDir();
      const make = () =>
        new Stage(
          function give(v: unknown) {
            return v;
          },
          { hashOutput: dir, logger: quiet },
        );
      const fresh = await make().run(value);
      const stage = make();
      const cached = await stage.run(value);
      expect(stage.fromCache).toBe(true);
      expect(cached.output).toStrictEqual(fresh.output);
      if (label === "special numbers")
        expect(Object.is((cached.output as number[])[3], -0)).toBe(true);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });
  }

  it("rejects what cannot round-trip before writing anything, naming stage, path and type", async () => {
    const dir = await tempDir();
    class Volume {
      data = [1];
    }
    const circular: Record<string, unknown> = { a: 1 };
    circular.self = circular;
    const bad: [unknown, RegExp][] = [
      [{ some_key: new Volume() }, /stage "bad": outputs\.b\.some_key is an instance of Volume/],
      [{ f: () => 1 }, /outputs\.b\.f is a function/],
      [circular, /outputs\.b\.self is a circular reference/],
      [
        { buf: new Uint8Array(3) },
        /outputs\.b\.buf is an instance of Uint8Array.*Write binary data to a file/,
      ],
      // eslint-disable-next-line no-sparse-arrays -- the hole is the point
      [[1, , 3], /outputs\.b\[1\] is a hole in a sparse array/],
      [{ s: Symbol("x") }, /outputs\.b\.s is a symbol/],
    ];
    for (const [value, message] of bad) {
      const stage = new Stage(
        function bad() {
          return [1, value];
        },
        { outputs: ["a", "b"], hashOutput: dir, logger: quiet },
      );
      const error = await stage.run().catch((e: unknown) => e);
      expect(error).toMatchObject({ reason: "unserializable", stage: "bad" });
      expect((error as Error).message).toMatch(message);
    }
    expect(await readdir(dir)).toEqual([]);
    const input = new Stage(
      function takes(x: unknown) {
        return x;
      },
      { hashOutput: dir, logger: quiet },
    );
    await expect(input.run(new Volume())).rejects.toThrow(
      /stage "takes": inputs\.x is an instance of Volume/,
    );
    expect(await readdir(dir)).toEqual([]);
  });
});

describe("options", () => {
  it("rejects bad options with the stage and the option named", () => {
    const fn = function named() {
      return 1;
    };
    expect(() => new Stage(fn, { outputs: 5 as never })).toThrow(
      /stage "named": expected `outputs` to be a name or a non-empty array of names, got 5 \(number\)/,
    );
    expect(() => new Stage(fn, { hashOutput: 3 as never })).toThrow(
      /`hashOutput` to be a directory path/,
    );
    expect(() => new Stage(fn, { bogus: 1 } as never)).toThrow(/unknown option `bogus`/);
    expect(() => new Stage(fn, { outputs: ["a", "a"] })).toThrow(/distinct names/);
    expect(() => new Stage(42 as never)).toThrow(/expected a function to wrap, got 42 \(number\)/);
    expect(() => new Stage(() => 1)).toThrow(/stage name "" is empty\. Give the function a name/);
    for (const name of ["../../etc/x", "a/b", "..", "a\0b", ""]) {
      expect(() => new Stage(fn, { name }), name).toThrow(MemoriError);
    }
  });

  it("refuses native and bound functions with advice", () => {
    expect(() => new Stage(Math.max)).toThrow(/native or bound.*Wrap it in a function of your own/);
    const bound = function f(this: unknown, x: number) {
      return x;
    }.bind(null);
    expect(() => new Stage(bound)).toThrow(/source-unavailable|native or bound/);
  });

  it("fails clearly when hashOutput is a file, and writes nothing", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "not-a-dir");
    await writeFile(file, "x");
    const stage = new Stage(
      function f() {
        return 1;
      },
      { hashOutput: file, logger: quiet },
    );
    await expect(stage.run()).rejects.toThrow(
      /stage "f": cannot create the state directory .*not-a-dir|is not a directory/,
    );
    expect(await readFile(file, "utf8")).toBe("x");
  });

  // The state directory is made once per process; removed since, it is made again.
  it("makes the state directory again when it was removed between runs", async () => {
    const dir = await tempDir();
    const hashOutput = path.join(dir, "state", "deep");
    let calls = 0;
    const stage = new Stage(
      function g(x: number) {
        calls++;
        return x + 1;
      },
      { hashOutput, logger: quiet },
    );
    expect(await stage.run(1)).toEqual({ output: 2 });
    await rm(path.join(dir, "state"), { recursive: true });
    expect(await stage.run(1)).toEqual({ output: 2 });
    expect(stage.fromCache).toBe(false);
    expect(await stage.run(1)).toEqual({ output: 2 });
    expect([stage.fromCache, calls]).toEqual([true, 2]);
  });
});
