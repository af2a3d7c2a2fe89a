import { describe, expect, it } from "vitest";
import { MappedStage, Pipeline, Stage } from "../../src/index.js";
import { recordingLogger, tempDir } from "../util/tmp.js";

const quiet = recordingLogger().logger;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("task priorities (plan.ts)", () => {
  // Proves priorities are depth first: once a subject's first step is done, its second step
  // goes before the next subjects' first steps, instead of after every subject's first step.
  it("a streamed element's next step starts before later elements' first steps", async () => {
    const dir = await tempDir();
    const started: string[] = [];
    const strip = new MappedStage(
      new Stage(
        async function strip(t1w: string) {
          started.push(`strip:${t1w}`);
          await sleep(300);
          return `${t1w}-brain`;
        },
        { outputs: "brain", hashOutput: dir, logger: quiet },
      ),
      ["t1w"],
    );
    const smooth = new MappedStage(
      new Stage(
        async function smooth(brain: string) {
          started.push(`smooth:${brain}`);
          await sleep(50);
          return `${brain}-smooth`;
        },
        { outputs: "smoothed", hashOutput: dir, logger: quiet },
      ),
      ["brain"],
    );
    const subjects = Array.from({ length: 8 }, (_, i) => `sub-0${i + 1}`);
    const pipeline = new Pipeline(
      [
        ["start", strip],
        [strip, smooth],
      ],
      { concurrency: 2 },
    );
    const results = await pipeline.runNamed({ t1w: subjects });
    expect(results.smoothed).toEqual(subjects.map((s) => `${s}-brain-smooth`));
    expect(started).toHaveLength(16);
    const firstSmooth = started.indexOf("smooth:sub-01-brain");
    const fifthStrip = started.indexOf("strip:sub-05");
    expect(firstSmooth).toBeGreaterThanOrEqual(0);
    expect(fifthStrip).toBeGreaterThanOrEqual(0);
    expect(firstSmooth).toBeLessThan(fifthStrip);
  });
});

describe("arguments a node is called with (plan.ts)", () => {
  // Proves a pipeline passes a stage what its parameters name, whatever is done to the array
  // `inputs` returned (the caller's own copy), and that a diamond waits for both its sources.
  it("passes each parameter by name from the sources, not from the array inputs returned", async () => {
    const a = new Stage((x: number) => x + 1, { name: "a", outputs: "y", logger: quiet });
    const b = new Stage((x: number) => x * 10, { name: "b", outputs: "z", logger: quiet });
    const sum = new Stage((y: number, z: number) => y + z, { name: "sum", logger: quiet });
    const inputs = sum.inputs;
    expect(inputs).toEqual(["y", "z"]);
    inputs.length = 0;
    inputs.push("nothing");
    expect(sum.inputs).toEqual(["y", "z"]);
    const pipeline = new Pipeline([
      ["start", a],
      ["start", b],
      [[a, b, a], sum],
    ]);
    expect(await pipeline.run(2)).toMatchObject({ output: 23 });
  });
});
