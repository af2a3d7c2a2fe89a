// A pipeline's `executor` option: where the calls of stages that name no executor of their own
// run (the SLURM executor of `memori run --executor slurm`). A stage's own option wins; a
// function's own executor (a worker function's) gives way; the state is committed as usual.
import { describe, expect, it } from "vitest";
import { MemoriError, Pipeline, Stage, type Executed, type Executor } from "../../src/index.js";
import { recordingLogger, tempDir } from "../util/tmp.js";

/** An executor that runs calls in this thread and remembers which ones it ran. */
function recording(name: string): Executor & { ran: string[] } {
  const ran: string[] = [];
  return {
    name,
    ran,
    async execute({ stage, element, fn, signature, inputArgs }): Promise<Executed> {
      ran.push(element === undefined ? stage : `${stage}[${element}]`);
      try {
        return { ok: true, returned: await fn(...signature.argumentsFor(inputArgs)) };
      } catch (error) {
        return { ok: false, error };
      }
    },
  };
}

describe("a pipeline's executor", () => {
  it("runs the calls of stages without an executor of their own; a stage's own wins; cached calls run nowhere", async () => {
    const dir = await tempDir();
    const { logger } = recordingLogger();
    const wide = recording("pipeline-wide");
    const own = recording("stage's own");
    const double = new Stage(
      function double(x: number) {
        return x * 2;
      },
      { hashOutput: dir, outputs: "y", logger },
    );
    const add = new Stage(
      function add(y: number) {
        return y + 1;
      },
      { hashOutput: dir, outputs: "z", logger, executor: own },
    );
    const pipeline = new Pipeline([
      ["start", double],
      [double, add],
    ]);
    expect(await pipeline.withOptions({ executor: wide }).run(20)).toMatchObject({ y: 40, z: 41 });
    expect(wide.ran).toEqual(["double"]);
    expect(own.ran).toEqual(["add"]);
    // Committed by the run: the same pipeline without the executor finds both cached.
    expect(await pipeline.run(20)).toMatchObject({ z: 41 });
    expect(pipeline.decisions.map((d) => d.action)).toEqual(["skip", "skip"]);
    expect(wide.ran).toEqual(["double"]);
  });

  it("takes over from a function's own executor", async () => {
    const dir = await tempDir();
    const functionOwn = recording("function's own");
    const wide = recording("pipeline-wide");
    const fn = function square(x: number) {
      return x * x;
    };
    Object.defineProperty(fn, Symbol.for("memori.executor"), { value: functionOwn });
    const square = new Stage(fn, { hashOutput: dir, logger: recordingLogger().logger });
    await new Pipeline([["start", square]], { executor: wide }).run(3);
    expect(wide.ran).toEqual(["square"]);
    expect(functionOwn.ran).toEqual([]);
    await new Pipeline([["start", square]]).run(4);
    expect(functionOwn.ran).toEqual(["square"]);
  });

  it("refuses an executor that is not one", () => {
    const error = (() => {
      try {
        new Pipeline([], { executor: { name: "x" } as unknown as Executor });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(MemoriError);
    expect((error as MemoriError).reason).toBe("invalid-option");
    expect((error as MemoriError).message).toMatch(
      /expected `executor` to be an executor \(an object with an execute\(\) method\), got an object/,
    );
  });
});
