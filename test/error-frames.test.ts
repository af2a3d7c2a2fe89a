/**
 * error-frames.ts: where a stage's code threw, as the run's record, `memori log`, the report
 * and the terminal show it: the user's frames of the innermost error, never memori's nor
 * Node's (H8's finding 12: a failure named the stage and its inputs, not the line).
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { MemoriError } from "../src/errors.js";
import { KEPT_FRAMES, userFrames } from "../src/error-frames.js";
import { Pipeline, Stage, terminalReporter } from "../src/index.js";
import { run } from "./util/cli.js";
import { readHistory } from "./util/run-records.js";
import { recordingLogger, tempDir } from "./util/tmp.js";

const src = path.resolve(import.meta.dirname, "..", "src");

function checkScan(scan: string): number {
  if (scan.includes("corrupt")) throw new Error(`${scan} is corrupt`);
  return scan.length;
}

/** A stage failure as the engine wraps it: a MemoriError whose cause is what the code threw. */
function wrapped(): MemoriError {
  try {
    checkScan("sub-05 corrupt");
  } catch (error) {
    return new MemoriError("stage-failed", 'stage "check" failed', { cause: error });
  }
  throw new Error("unreachable");
}

describe("userFrames", () => {
  it("gives where the user's code threw, through the wrapping error, first frame first", () => {
    const frames = userFrames(wrapped());
    expect(frames.length).toBeGreaterThanOrEqual(2);
    expect(frames.length).toBeLessThanOrEqual(KEPT_FRAMES);
    expect(frames[0]).toMatch(/^at checkScan \(.*error-frames\.test\.ts:\d+:\d+\)$/);
    expect(frames[1]).toMatch(/^at wrapped \(.*error-frames\.test\.ts:\d+:\d+\)$/);
  });

  it("leaves out memori's frames, Node's and V8's, and an error with none of the user's", () => {
    const error = new Error("inside memori");
    error.stack = [
      "Error: inside memori",
      `    at execute (${path.join(src, "engine", "execute.ts")}:10:5)`,
      `    at runCall (file://${path.join(src, "engine", "run.ts")}:3:1)`,
      "    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)",
      "    at async Promise.all (index 0)",
      "    at eval (eval at <anonymous> (file:///x.js:1:1), <anonymous>:1:1)",
    ].join("\n");
    expect(userFrames(error)).toEqual([]);
    // The user's frame below memori's, and a frame without a function name, are kept.
    error.stack += "\n    at clean (/lab/pipeline.mjs:19:33)\n    at file:///lab/run.mjs:4:1";
    expect(userFrames(error)).toEqual([
      "at clean (/lab/pipeline.mjs:19:33)",
      "at file:///lab/run.mjs:4:1",
    ]);
    // A process's failure (its error made by memori, no cause): nothing, its log tells.
    const failed = new MemoriError("process-failed", "exit 1");
    failed.stack = `MemoriError: exit 1\n    at processFailed (${path.join(src, "process.ts")}:9:9)`;
    expect(userFrames(failed)).toEqual([]);
    expect(userFrames("a string")).toEqual([]);
  });
});

describe("a failed stage's location", () => {
  it("is in the run's record, memori log, the report and the plain terminal lines", async () => {
    const dir = await tempDir();
    const check = new Stage(checkScan, {
      name: "check",
      outputs: "n",
      hashOutput: dir,
      logger: recordingLogger().logger,
    });
    const stream = new PassThrough();
    let terminal = "";
    stream.on("data", (d: Buffer) => (terminal += d.toString()));
    const pipeline = new Pipeline([["start", check]], {
      onEvent: terminalReporter({ stream, live: false }),
    });
    await expect(pipeline.run("sub-05 corrupt")).rejects.toThrow(/corrupt/);

    const [record] = readHistory(dir).records;
    const frames = record!.tasks[0]!.error!.frames!;
    expect(frames[0]).toMatch(/^at checkScan \(.*error-frames\.test\.ts:\d+:\d+\)$/);

    expect(terminal).toMatch(/\nmemori: check: FAILED after [^\n]*\nmemori: {3}at checkScan \(/);

    const log = await run("memori", ["log", "last", dir], dir);
    expect(log.stdout).toContain(`check failed: `);
    expect(log.stdout).toContain(`\n  ${frames[0]}\n`);

    const report = await run("memori", ["report", "-d", dir, "-o", "r.html"], dir);
    expect(report.status, report.stderr).toBe(0);
    const html = await readFile(path.join(dir, "r.html"), "utf8");
    expect(html).toMatch(/<pre class="frames">at checkScan \(.*error-frames\.test\.ts:\d+:\d+\)/);
  });
});
