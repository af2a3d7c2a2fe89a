/**
 * Typed pipeline results (src/pipeline-results.ts). The `expectTypeOf` checks are made by the
 * compiler (`npx tsc --noEmit` covers test/); the runs prove the types describe what a run
 * returns.
 */
import { describe, expect, expectTypeOf, it } from "vitest";
import {
  MappedStage,
  Pipeline,
  Stage,
  type PipelineDefinition,
  type PipelineResults,
} from "../src/index.js";
import { recordingLogger } from "./util/tmp.js";

const quiet = recordingLogger().logger;

function stages() {
  const add = new Stage((a: number, b: number) => [a + b, a * b] as const, {
    name: "add",
    outputs: ["sum", "product"],
    aliases: { total: "sum" },
    logger: quiet,
  });
  const label = new Stage((sum: number) => `sum=${sum}`, {
    name: "label",
    outputs: "text",
    logger: quiet,
  });
  const twice = new Stage((product: number) => product * 2, { name: "twice", logger: quiet });
  return { add, label, twice };
}

describe("pipeline.run(): results typed from the stages' outputs", () => {
  it("merges every stage's outputs and aliases, each with its type", async () => {
    const { add, label, twice } = stages();
    const pipeline = new Pipeline([
      ["start", add],
      [add, label],
      [add, twice],
    ]);
    const results = await pipeline.run(2, 3);
    expectTypeOf(results).toEqualTypeOf<{
      sum: number;
      product: number;
      total: number;
      text: string;
      output: number;
    }>();
    expect(results).toEqual({ sum: 5, product: 6, total: 5, text: "sum=5", output: 12 });
    expectTypeOf(pipeline.results).toEqualTypeOf<typeof results | undefined>();
    // @ts-expect-error -- no stage has an output "missing"
    expect(results.missing).toBeUndefined();
  });

  it("gives a name two stages produce the union of their types", async () => {
    const first = new Stage((x: number) => x, { name: "first", outputs: "value", logger: quiet });
    const second = new Stage((value: number) => `${value}`, {
      name: "second",
      outputs: "value",
      logger: quiet,
    });
    const pipeline = new Pipeline([
      ["start", first],
      [first, second],
    ]);
    const { value } = await pipeline.run(1);
    expectTypeOf(value).toEqualTypeOf<number | string>();
    expect(value).toBe("1"); // the later stage wins
  });

  it("types a mapped stage's outputs as arrays", async () => {
    const list = new Stage((n: number) => Array.from({ length: n }, (_, i) => i), {
      name: "list",
      outputs: "x",
      logger: quiet,
    });
    const square = new Stage((x: number) => x * x, {
      name: "square",
      outputs: "sq",
      logger: quiet,
    });
    const perElement = new MappedStage(square, ["x"]);
    const pipeline = new Pipeline([
      ["start", list],
      [list, perElement],
    ]);
    const results = await pipeline.run(3);
    expectTypeOf(results).toEqualTypeOf<{ x: number[]; sq: number[] }>();
    expect(results).toEqual({ x: [0, 1, 2], sq: [0, 1, 4] });
    expectTypeOf(await perElement.runNamed({ x: [2] })).toEqualTypeOf<{ sq: number[] }>();
  });

  it("makes every result optional where stages may be left out (upTo, only)", async () => {
    const { add, label, twice } = stages();
    const pipeline = new Pipeline([
      ["start", add],
      [add, label],
      [add, twice],
    ]);
    const part = await pipeline.upTo("label").run(2, 3);
    expectTypeOf(part.output).toEqualTypeOf<number | undefined>();
    expect(part).toEqual({ sum: 5, product: 6, total: 5, text: "sum=5" });
    const only = pipeline.withOptions({ only: ["sub-01"] });
    expectTypeOf(only.run).returns.resolves.toEqualTypeOf<typeof part>();
    // Other options keep every result.
    const kept = await pipeline.withOptions({ keepGoing: true }).run(2, 3);
    expectTypeOf(kept.output).toEqualTypeOf<number>();
  });

  it("stays Record<string, unknown> where the definition's stages are not known", async () => {
    const { add, label } = stages();
    const definition: PipelineDefinition = [
      ["start", add],
      [add, label],
    ];
    const results = await new Pipeline(definition).run(1, 1);
    expectTypeOf<PipelineResults<PipelineDefinition>>().toEqualTypeOf<Record<string, unknown>>();
    expectTypeOf(results).toEqualTypeOf<Record<string, unknown>>();
    expect(results.text).toBe("sum=2");
    const outputs: string[] = ["n"];
    const loose = new Stage((x: number) => x, { name: "loose", outputs, logger: quiet });
    const typed = await new Pipeline([["start", loose]]).run(4);
    expectTypeOf(typed).toEqualTypeOf<Record<string, unknown>>();
    expect(typed).toEqual({ n: 4 });
  });
});
