/**
 * Typed stage inputs (src/stage-inputs.ts). Most checks here are made by the compiler
 * (`npx tsc --noEmit` covers test/): an `expectTypeOf` that does not hold, or a
 * `@ts-expect-error` line that compiles, fails the type check. The runs prove that what the
 * types accept runs, and that `inputs` is checked against the function's source.
 */
import { describe, expect, expectTypeOf, it } from "vitest";
import { MemoriError, Stage, type NamedArgs, type PositionalArgs } from "../src/index.js";
import { recordingLogger } from "./util/tmp.js";

/** Checks made by the compiler only: `check` is never called. */
function compileOnly(check: () => unknown): void {
  void check;
}

const quiet = recordingLogger().logger;

describe("run(...args): typed from the function's parameters", () => {
  it("rejects wrong arity and types at compile time; defaults and optional ones may be left out", async () => {
    const stage = new Stage(
      (inFile: string, fwhm: number = 6, mask: string = "none") => `${inFile}:${fwhm}:${mask}`,
      {
        name: "smooth",
        logger: quiet,
      },
    );
    expectTypeOf(stage.run).parameters.toEqualTypeOf<
      [inFile: string, fwhm?: number, mask?: string]
    >();
    expect(await stage.run("t1")).toEqual({ output: "t1:6:none" });
    expect(await stage.run("t1", 4, "m")).toEqual({ output: "t1:4:m" });
    // @ts-expect-error -- a missing argument
    await expect(stage.run()).rejects.toMatchObject({ reason: "missing-argument" });
    // @ts-expect-error -- too many arguments
    await expect(stage.run("t1", 4, "m", "extra")).rejects.toMatchObject({
      reason: "invalid-argument",
    });
    // @ts-expect-error -- a number where a string is expected
    compileOnly(() => stage.explain(1));
  });

  it("types rest parameters and a destructured object", async () => {
    const join = new Stage((sep: string, ...parts: string[]) => parts.join(sep), {
      name: "join",
      logger: quiet,
    });
    expect(await join.run("-", "a", "b")).toEqual({ output: "a-b" });
    // @ts-expect-error -- a number among the rest
    compileOnly(() => join.explain("-", "a", 1));
    const destructured = new Stage(
      ({ inFile, voxel = 1 }: { inFile: string; voxel?: number }) => `${inFile}@${voxel}`,
      {
        name: "d",
        logger: quiet,
      },
    );
    expect(await destructured.run({ inFile: "x" })).toEqual({ output: "x@1" });
    // @ts-expect-error -- a misspelt key of the object
    compileOnly(() => destructured.explain({ infile: "x" }));
  });

  it("lets static arguments (the args option) be left out", async () => {
    // Without `inputs`, which position a static argument fills is unknown: any trailing ones may go.
    const sub = new Stage((a: number, b: number) => a - b, {
      name: "sub",
      args: { b: 1 },
      logger: quiet,
    });
    expectTypeOf(sub.run).parameters.toEqualTypeOf<[a?: number, b?: number]>();
    expect(await sub.run(10)).toEqual({ output: 9 });
    // With `inputs`, only the trailing parameters they cover.
    const named = new Stage((a: number, b: number, c: number) => a + b + c, {
      name: "named",
      inputs: ["a", "b", "c"],
      args: { a: 100, c: 1 },
      logger: quiet,
    });
    expectTypeOf<Parameters<typeof named.run>>().toEqualTypeOf<
      [number, number, (number | undefined)?]
    >();
    expect(await named.run(0, 10)).toEqual({ output: 111 });
    // @ts-expect-error -- b is not covered by a static argument
    compileOnly(() => named.explain(0));
    // A destructured object: its keys given static arguments may be left out.
    const object = new Stage(({ x, y }: { x: number; y: number }) => x * y, {
      name: "object",
      args: { y: 3 },
      logger: quiet,
    });
    expect(await object.run({ x: 2 })).toEqual({ output: 6 });
  });

  it("cannot tell an optional parameter from one with a default: memori requires the former (a known limit)", async () => {
    // Both are optional in the function's type; only a default lets the argument be left out
    // at run time (memori reads the defaults from the source, and `b?` has none there).
    const stage = new Stage((a: string, b?: string) => a + (b ?? ""), {
      name: "opt",
      logger: quiet,
    });
    expectTypeOf(stage.run).parameters.toEqualTypeOf<[a: string, b?: string]>();
    await expect(stage.run("x")).rejects.toMatchObject({ reason: "missing-argument" });
    expect(await stage.run("x", undefined)).toEqual({ output: "x" });
  });

  it("accepts anything for a function whose parameters are untyped", async () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const loose = new Stage((...args: any[]) => args.length, { name: "loose", logger: quiet });
    expectTypeOf<
      PositionalArgs<(...args: never[]) => unknown, readonly string[], object>
    >().toEqualTypeOf<never[]>();
    expect(await loose.run(1, "two", [3])).toEqual({ output: 3 });
  });
});

describe("runNamed({...}): checked where the stage names its parameters (inputs)", () => {
  it("checks keys and types with inputs; defaults, optional ones and static arguments may be left out", async () => {
    const stage = new Stage(
      (inFile: string, fwhm: number = 6, mask: string = "none") => `${inFile}:${fwhm}:${mask}`,
      {
        name: "smooth",
        inputs: ["inFile", "fwhm", "mask"],
        logger: quiet,
      },
    );
    expectTypeOf<
      NamedArgs<typeof stage.fn, readonly ["inFile", "fwhm", "mask"], Record<never, never>>
    >().toEqualTypeOf<{
      inFile: string;
      fwhm?: number;
      mask?: string;
    }>();
    expect(await stage.runNamed({ inFile: "t1", mask: "m" })).toEqual({ output: "t1:6:m" });
    // @ts-expect-error -- a misspelt name
    await expect(stage.runNamed({ infile: "t1" })).rejects.toMatchObject({
      reason: "unknown-argument",
    });
    // @ts-expect-error -- a required parameter left out
    await expect(stage.runNamed({ fwhm: 2 })).rejects.toMatchObject({ reason: "missing-argument" });
    // @ts-expect-error -- a wrong type
    compileOnly(() => stage.explainNamed({ inFile: "t1", fwhm: "6" }));
    // setArg too
    // @ts-expect-error -- no such parameter
    expect(() => stage.setArg("fhwm", 2)).toThrow(/no parameter "fhwm"/);
    stage.setArg("fwhm", 2);
    expect(await stage.runNamed({ inFile: "t1" })).toEqual({ output: "t1:2:none" });

    const withStatic = new Stage((a: number, b: number) => a - b, {
      name: "sub",
      inputs: ["a", "b"],
      args: { b: 1 },
      logger: quiet,
    });
    expect(await withStatic.runNamed({ a: 10 })).toEqual({ output: 9 });
    // map: lists by parameter name, elements typed
    expect(await withStatic.map({ a: [10, 20] })).toEqual({ output: [9, 19] });
    // @ts-expect-error -- a list of strings for a number parameter
    compileOnly(() => withStatic.map({ a: ["10"] }));
  });

  it("types a destructured object's keys from the object", async () => {
    const stage = new Stage(
      ({ inFile, voxel = 1 }: { inFile: string; voxel?: number }) => `${inFile}@${voxel}`,
      {
        name: "d",
        inputs: ["inFile", "voxel"],
        logger: quiet,
      },
    );
    expect(await stage.runNamed({ inFile: "x" })).toEqual({ output: "x@1" });
    // @ts-expect-error -- not a key of the object
    compileOnly(() => stage.explainNamed({ inFile: "x", voxels: 2 }));
  });

  it("accepts any object without inputs (names are not in function types), and checks them when it runs", async () => {
    const stage = new Stage((a: number, b: number) => a + b, { name: "add", logger: quiet });
    expectTypeOf(stage.runNamed).parameter(0).toEqualTypeOf<Record<string, unknown>>();
    await expect(stage.runNamed({ a: 1, c: 2 })).rejects.toThrow(/no parameter "c"/);
  });

  it("checks inputs against the function's source when the stage is made", () => {
    const make = (inputs: readonly string[]) =>
      new Stage((inFile: string, fwhm: number = 6) => inFile + fwhm, {
        name: "smooth",
        inputs,
        logger: quiet,
      });
    expect(make(["inFile", "fwhm"]).inputs).toEqual(["inFile", "fwhm"]);
    for (const wrong of [
      ["inFile"],
      ["fwhm", "inFile"],
      ["inFile", "fwhm", "mask"],
      ["inFile", "fhwm"],
    ]) {
      const error = (() => {
        try {
          make(wrong);
        } catch (e: unknown) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(MemoriError);
      expect(error).toMatchObject({ reason: "invalid-option", stage: "smooth" });
      expect((error as Error).message).toContain(
        `the function's parameters, read from its source, are "inFile", "fwhm"`,
      );
    }
    expect(() => make(["inFile", ""])).toThrow(
      /expected `inputs` to be an array of non-empty strings/,
    );
  });
});
