/**
 * error-frames.ts: where a stage's code threw, as the run's record, `memori log`, the report
 * and the terminal show it: the user's frames of the innermost error, never memori's nor
 * Node's (H8's finding 12: a failure named the stage and its inputs, not the line).
 */
import { spawnSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { PassThrough } from "node:stream";
import { pathToFileURL } from "node:url";
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

describe("userFrames, odd stacks and places", () => {
  const thrown = (stack: string, message = "boom") => {
    const error = new Error(message);
    error.stack = stack;
    return error;
  };

  it("finds frames in folders with parentheses or spaces, as paths and as URLs", () => {
    const stack = [
      "Error: boom",
      "    at clean (file:///home/u/Dropbox%20(Personal)/study/pipeline.mjs:3:9)",
      "    at clean2 (/home/u/Project (copy)/pipeline.js:3:9)",
      "    at /home/u/my project/pipeline.js:4:1",
      "    at async Promise.all (index 0)",
    ].join("\n");
    expect(userFrames(thrown(stack))).toEqual([
      "at clean (file:///home/u/Dropbox%20(Personal)/study/pipeline.mjs:3:9)",
      "at clean2 (/home/u/Project (copy)/pipeline.js:3:9)",
      "at /home/u/my project/pipeline.js:4:1",
    ]);
  });

  it("prefers the user's frames to an installed package's, which it gives only when alone", () => {
    const library = (n: number) => `    at f${n} (/lab/node_modules/parse/index.js:${n}:1)`;
    const deep = [1, 2, 3, 4, 5, 6].map(library);
    const stack = ["Error: bad token", ...deep, "    at readConfig (/lab/run.mjs:7:3)"].join("\n");
    expect(userFrames(thrown(stack, "bad token"))).toEqual(["at readConfig (/lab/run.mjs:7:3)"]);
    const only = ["Error: bad token", ...deep].join("\n");
    expect(userFrames(thrown(only, "bad token"))).toHaveLength(KEPT_FRAMES);
  });

  it("reads frames after the message only: a message quoting another stack is a log", () => {
    const message =
      "node exited with status 1. Its stderr ended with:\n    at deep (/lab/child.mjs:1:25)";
    const failed = thrown(
      `MemoriError: ${message}\n    at processFailed (${path.join(src, "process.ts")}:9:9)`,
      message,
    );
    expect(userFrames(failed)).toEqual([]);
  });

  it("is empty, not a failure, for a stack or cause that throws when read", () => {
    const error = new Error("bad stack");
    Object.defineProperty(error, "stack", {
      get() {
        throw new Error("stack getter threw");
      },
    });
    expect(userFrames(error)).toEqual([]);
    const wrapper = new MemoriError("stage-failed", "wrapped", { cause: error });
    wrapper.stack = `MemoriError: wrapped\n    at errorOf (${path.join(src, "engine", "failure.ts")}:1:1)`;
    expect(userFrames(wrapper)).toEqual([]);
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    expect(userFrames(proxy)).toEqual([]);
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

  it("leaves out the frames of the installed package (the bundle in dist/lib/)", async () => {
    const dir = await tempDir();
    const dist = pathToFileURL(path.resolve(import.meta.dirname, "..", "dist", "index.js")).href;
    const script = path.join(dir, "pipeline.mjs");
    await writeFile(
      script,
      [
        `import { Pipeline, Stage } from ${JSON.stringify(dist)};`,
        "function checkScan(scan) { throw new Error(`${scan} is corrupt`); }",
        `const check = new Stage(checkScan, { name: "check", hashOutput: ${JSON.stringify(dir)} });`,
        'await new Pipeline([["start", check]]).run("sub-05").catch(() => {});',
      ].join("\n"),
    );
    const child = spawnSync(process.execPath, [script], { encoding: "utf8" });
    expect(child.status, child.stderr).toBe(0);
    const [record] = readHistory(dir).records;
    expect(record!.tasks[0]!.error!.frames).toEqual([
      `at checkScan (${pathToFileURL(script).href}:2:34)`,
    ]);
  });

  it("follows the live terminal's failure line too", () => {
    const stream = new PassThrough();
    let text = "";
    stream.on("data", (d: Buffer) => (text += d.toString()));
    const report = terminalReporter({ stream, live: true });
    report({ type: "pipeline:start", stages: 1, time: 0 });
    report({ type: "stage:error", stage: "check", error: wrapped(), ms: 5, time: 5 });
    report({ type: "pipeline:done", ms: 5, ran: 0, cached: 0, failed: 1, time: 5 });
    expect(text).toMatch(/\u2717 check failed: stage "check" failed\n {6}at checkScan \(/);
  });

  it("does not cost the failure's line or the run's record when the stack cannot be read", async () => {
    const dir = await tempDir();
    const odd = new Stage(
      function odd(x: number): number {
        const error = new Error(`odd ${x}`);
        Object.defineProperty(error, "stack", {
          get() {
            throw new Error("stack getter threw");
          },
        });
        throw error;
      },
      { outputs: "y", hashOutput: dir, logger: recordingLogger().logger },
    );
    const stream = new PassThrough();
    let terminal = "";
    stream.on("data", (d: Buffer) => (terminal += d.toString()));
    const pipeline = new Pipeline([["start", odd]], {
      onEvent: terminalReporter({ stream, live: false }),
    });
    await expect(pipeline.run(1)).rejects.toThrow(/odd 1/);
    expect(terminal).toMatch(/memori: odd: FAILED after .*odd 1/);
    const [record] = readHistory(dir).records;
    expect(record!.tasks[0]!.error).toMatchObject({ message: expect.stringContaining("odd 1") });
    expect(record!.tasks[0]!.error!.frames).toBeUndefined();
  });
});
