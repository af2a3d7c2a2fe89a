/**
 * Parameter declarations (definePipeline) and one value checked or read from text; where a
 * run's values come from is tested through the command line (test/cli/run.test.ts).
 */
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { describe, expect, expectTypeOf, it } from "vitest";
import { MemoriError, Pipeline, Stage, definePipeline, type ParamValues } from "../src/index.js";
import { checkParamValue, parseParamValue, showParamValue } from "../src/params.js";
import { PIPELINE_MODULE, PIPELINE_MODULE_VERSION } from "../src/pipeline-module.js";
import { tempDir } from "./util/tmp.js";

const stage = new Stage((x: number) => x + 1, { name: "inc" });
const pipeline = new Pipeline([["start", stage]]);

describe("definePipeline", () => {
  it("returns the declarations and a pipeline made from frozen values, marked for memori run", async () => {
    let seen: unknown;
    const module = definePipeline({
      params: { x: { type: "number", default: 1 }, names: { type: "list" } },
      description: "adds one",
      pipeline: (values) => {
        seen = values;
        return pipeline;
      },
    });
    expect(module[PIPELINE_MODULE]).toBe(PIPELINE_MODULE_VERSION);
    expect(
      (module as unknown as Record<symbol, unknown>)[Symbol.for("memori.pipeline-module")],
    ).toBe(1);
    expect(module.description).toBe("adds one");
    expect(Object.keys(module.params)).toEqual(["x", "names"]);
    expect(await module.pipeline({ x: 2, names: ["a"] })).toBe(pipeline);
    expect(seen).toEqual({ x: 2, names: ["a"] });
    expect(Object.isFrozen(seen)).toBe(true);
    const fixed = definePipeline({ pipeline });
    expect(fixed.params).toEqual({});
    expect(await fixed.pipeline({})).toBe(pipeline);
  });

  it("types the values from the declarations", () => {
    const module = definePipeline({
      params: {
        n: { type: "number", default: 6 },
        on: { type: "boolean", default: false },
        dir: { type: "path" },
        subjects: { type: "list", default: ["sub-01"] },
        sizes: { type: "list", items: "number", default: [4, 6] },
        method: { type: "string", choices: ["fast", "accurate"], default: "fast" },
      },
      pipeline: () => pipeline,
    });
    type Values = ParamValues<typeof module.params>;
    expectTypeOf(module.pipeline).parameter(0).toEqualTypeOf<Values>();
    expectTypeOf<Values["n"]>().toEqualTypeOf<number>();
    expectTypeOf<Values["on"]>().toEqualTypeOf<boolean>();
    expectTypeOf<Values["dir"]>().toEqualTypeOf<string>();
    expectTypeOf<Values["subjects"]>().toEqualTypeOf<string[]>();
    expectTypeOf<Values["sizes"]>().toEqualTypeOf<number[]>();
    expectTypeOf<Values["method"]>().toEqualTypeOf<"fast" | "accurate">();
  });

  it.each([
    [{ "2x": { type: "number" } }, /parameter `2x`: a parameter name is an identifier/],
    [
      { x: { type: "integer" } },
      /parameter `x`: expected `type` to be one of string, number, boolean, path, list, got "integer"/,
    ],
    [
      { x: { type: "number", defualt: 1 } },
      /parameter `x`: unknown key `defualt` for a number; the keys are type, default, help/,
    ],
    [
      { x: { type: "number", default: "6" } },
      /parameter `x`: its `default`: expected a number, got "6" \(string\)/,
    ],
    [
      { x: { type: "list", default: [1] } },
      /parameter `x`: its `default`: item 0: expected a string, got 1 \(number\)/,
    ],
    [
      { x: { type: "string", choices: [] } },
      /parameter `x`: expected `choices` to be a non-empty array of strings/,
    ],
    [
      { x: { type: "list", items: "file" } },
      /parameter `x`: expected `items` to be "string", "number" or "path"/,
    ],
    [{ x: 6 }, /parameter `x`: expected a declaration such as/],
    [[1], /expected `params` to be an object of parameter declarations, got an array/],
  ])("rejects a wrong declaration: %j", (params, message) => {
    const call = () => definePipeline({ params: params as never, pipeline });
    expect(call).toThrow(MemoriError);
    expect(call).toThrow(message);
  });

  it("rejects what is not a pipeline or a function, and unknown keys", () => {
    expect(() => definePipeline({ pipeline: 3 as never })).toThrow(
      /expected `pipeline` to be a Pipeline or a function of the parameters that returns one, got 3 \(number\)/,
    );
    expect(() => definePipeline({ pipeline, parms: {} } as never)).toThrow(
      /unknown key `parms`; the keys are params, description, pipeline/,
    );
  });
});

describe("a parameter's value", () => {
  it("is checked by type; paths are made absolute against the base, and may have to exist", async () => {
    const dir = await tempDir();
    await mkdir(path.join(dir, "bids"));
    expect(checkParamValue({ type: "number" }, 6, dir)).toEqual({ ok: true, value: 6 });
    expect(checkParamValue({ type: "number" }, Infinity, dir)).toMatchObject({ ok: false });
    expect(checkParamValue({ type: "boolean" }, "yes", dir)).toEqual({
      ok: false,
      problem: 'expected a boolean, got "yes" (string)',
    });
    expect(checkParamValue({ type: "path" }, "bids", dir)).toEqual({
      ok: true,
      value: path.join(dir, "bids"),
    });
    expect(checkParamValue({ type: "path", mustExist: true }, "nope", dir)).toEqual({
      ok: false,
      problem: `${path.join(dir, "nope")}: no such file or directory`,
    });
    expect(checkParamValue({ type: "path" }, "", dir)).toMatchObject({ ok: false });
    expect(checkParamValue({ type: "list", items: "path" }, ["a", "/b"], dir)).toEqual({
      ok: true,
      value: [path.join(dir, "a"), "/b"],
    });
    expect(checkParamValue({ type: "string", choices: ["a", "b"] }, "c", dir)).toEqual({
      ok: false,
      problem: 'expected one of "a", "b", got "c"',
    });
  });

  it("is read from the command line's text", () => {
    expect(parseParamValue({ type: "number" }, "1e3", "/")).toEqual({ ok: true, value: 1000 });
    expect(parseParamValue({ type: "number" }, "", "/")).toMatchObject({ ok: false });
    expect(parseParamValue({ type: "number" }, "six", "/")).toEqual({
      ok: false,
      problem: 'expected a number, got "six"',
    });
    for (const yes of ["true", "YES", "on", "1"]) {
      expect(parseParamValue({ type: "boolean" }, yes, "/")).toEqual({ ok: true, value: true });
    }
    for (const no of ["false", "No", "off", "0"]) {
      expect(parseParamValue({ type: "boolean" }, no, "/")).toEqual({ ok: true, value: false });
    }
    expect(parseParamValue({ type: "boolean" }, "maybe", "/")).toMatchObject({ ok: false });
    expect(parseParamValue({ type: "list" }, "sub-01, sub-02", "/")).toEqual({
      ok: true,
      value: ["sub-01", "sub-02"],
    });
    expect(parseParamValue({ type: "list" }, "", "/")).toEqual({ ok: true, value: [] });
    expect(parseParamValue({ type: "list" }, '["a,b", "c"]', "/")).toEqual({
      ok: true,
      value: ["a,b", "c"],
    });
    expect(parseParamValue({ type: "list" }, "[1", "/")).toMatchObject({
      ok: false,
      problem: expect.stringMatching(/^not a JSON array/),
    });
    expect(parseParamValue({ type: "list", items: "number" }, "4,6.5", "/")).toEqual({
      ok: true,
      value: [4, 6.5],
    });
    expect(parseParamValue({ type: "list", items: "number" }, "4,,6", "/")).toEqual({
      ok: false,
      problem: 'expected numbers, got ""',
    });
    expect(parseParamValue({ type: "path" }, "x/y", "/base")).toEqual({
      ok: true,
      value: "/base/x/y",
    });
  });

  it("is shown whole when short, shortened with its item count when long", () => {
    expect(showParamValue(["a", "b"])).toBe("a,b");
    expect(showParamValue([])).toBe("(empty list)");
    const many = Array.from({ length: 300 }, (_, i) => `sub-${String(i).padStart(3, "0")}`);
    const shown = showParamValue(many);
    expect(shown.length).toBe(60);
    expect(shown).toMatch(/^sub-000,sub-001,.*… \(300 items\)$/);
  });
});
