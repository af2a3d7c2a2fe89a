import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { MappedStage, MemoriError, Pipeline, Stage, runProcess } from "../../src/index.js";
import { startChild } from "../util/child.js";
import { commits, processesNamed, waitGone } from "../util/procs.js";
import { recordingLogger, tempDir } from "../util/tmp.js";

const fixture = path.resolve(import.meta.dirname, "..", "fixtures", "interrupt-child.mjs");
const twoFixture = path.resolve(import.meta.dirname, "..", "fixtures", "interrupt-two-child.mjs");
const quiet = recordingLogger().logger;

/** Start the fixture; `output()` is its stdout so far, `done` its end. */
function start(args: string[]) {
  const started = startChild(fixture, args);
  return { child: started.child, output: started.stdout, done: started.done };
}

/** Poll `check` every 50 ms until it holds; throws after `ms`. */
async function until(what: string, check: () => boolean | Promise<boolean>, ms = 10_000) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The items of a map's elements that committed their state in `<dir>/slow.map/`. */
async function committedItems(dir: string): Promise<string[]> {
  const mapDir = path.join(dir, "slow.map");
  const items = [];
  for (const stage of await commits(mapDir)) {
    const inputs = path.join(mapDir, stage.replace(/\.stage$/, ".inputs"));
    items.push(
      (JSON.parse(await readFile(inputs, "utf8")) as { inputs: { item: string } }).inputs.item,
    );
  }
  return items.sort();
}

/**
 * Run the fixture, interrupt it once a and b are committed and c, d, e are running, then check
 * the report, the processes, the state, and that a second run resumes.
 */
async function interruptAndResume(signal: "SIGINT" | "SIGTERM", status: number) {
  const dir = await tempDir();
  const run = start([dir]);
  await until("a and b committed", async () => (await committedItems(dir)).length === 2);
  await until("c, d, e running", () =>
    ["c", "d", "e"].every((x) => run.output().includes(`running slow[${x}]`)),
  );
  const sent = Date.now();
  run.child.kill(signal);
  const ended = await run.done;
  expect(Date.now() - sent).toBeLessThan(10_000); // the 20 s sleeps were stopped, not waited for
  expect(ended.signal === signal || ended.status === status).toBe(true);
  expect(ended.stderr).toContain(`interrupted by ${signal}`);
  expect(ended.stderr).toContain("finished: 3 (3 ran, 0 cached): list, slow[a], slow[b]");
  expect(ended.stderr).toContain("cancelled: 3: slow[c], slow[d], slow[e]");
  expect(ended.stderr).toContain("not started: 1: slow[f]");
  expect(ended.stderr).toContain("run it again to resume");
  expect(await waitGone("sleep 20")).toEqual([]);
  expect(await committedItems(dir)).toEqual(["a", "b"]);

  const again = await start([dir, "short"]).done;
  expect(again.status).toBe(0);
  const summary = JSON.parse(again.stdout.trim().split("\n").at(-1)!) as Record<string, unknown>;
  expect(summary).toEqual({
    upper: ["A", "B", "C", "D", "E", "F"],
    ran: ["slow[c]", "slow[d]", "slow[e]", "slow[f]"],
    cached: ["list", "slow[a]", "slow[b]"],
  });
  expect(await committedItems(dir)).toEqual(["a", "b", "c", "d", "e", "f"]);
}

describe("interrupting a pipeline", () => {
  // Proves Ctrl-C stops the run, kills its processes, keeps finished work, says so, and resumes.
  it("on SIGINT: reports what finished, kills running processes, and a re-run resumes", async () => {
    await interruptAndResume("SIGINT", 130);
  });

  // Proves the same for SIGTERM (kill, a cluster's scancel).
  it("on SIGTERM: the same, ending with SIGTERM", async () => {
    await interruptAndResume("SIGTERM", 143);
  });

  // Proves the `signal` option: aborting rejects with "interrupted", listing what finished and what was cancelled.
  it("with an abort signal: rejects with reason interrupted and kills the running processes", async () => {
    const dir = await tempDir();
    const controller = new AbortController();
    const running = new Set<string>();
    const list = new Stage(() => ["a", "b", "c", "d", "e", "f"], {
      name: "list",
      outputs: "item",
      hashOutput: dir,
      logger: quiet,
    });
    const slow = new MappedStage(
      new Stage(
        async function slow(item: string) {
          const status = await runProcess(["sleep", item === "a" || item === "b" ? "0.1" : "21"]);
          if (status !== 0) throw new Error(`sleep ended with status ${status}`);
          return item;
        },
        { hashOutput: dir, logger: quiet },
      ),
      ["item"],
    );
    let abortedAt = 0;
    const pipeline = new Pipeline(
      [
        ["start", list],
        [list, slow],
      ],
      {
        concurrency: 3,
        signal: controller.signal,
        onEvent: (e) => {
          if (e.type === "stage:run" && e.element !== undefined) running.add(e.element);
          if (["c", "d", "e"].every((x) => running.has(x)) && abortedAt === 0) {
            abortedAt = Date.now();
            setTimeout(() => controller.abort(), 200); // the processes have started by then
          }
        },
      },
    );
    const error = await pipeline.run().catch((e: unknown) => e);
    expect(Date.now() - abortedAt).toBeLessThan(10_000);
    expect(error).toBeInstanceOf(MemoriError);
    const { reason, message } = error as MemoriError;
    expect(reason).toBe("interrupted");
    expect(message).toContain("interrupted (aborted)");
    expect(message).toContain("finished: 3 (3 ran, 0 cached): list, slow[a], slow[b]");
    expect(message).toContain("cancelled: 3: slow[c], slow[d], slow[e]");
    expect(message).toContain("not started: 1: slow[f]");
    expect(await waitGone("sleep 21")).toEqual([]);
    expect(await commits(path.join(dir, "slow.map"))).toHaveLength(2);
  });

  // Proves one signal interrupts every pipeline running in the process (also after another one
  // ended), that a stage's next process never starts once interrupted, and that the process
  // ends with the signal when the last run has said what it did.
  it("interrupts every pipeline of the process, and no process starts after the signal", async () => {
    const dir = await tempDir();
    const { child, stdout, done } = startChild(twoFixture, [dir]);
    await until("both running", () =>
      ["twoTools", "oneTool"].every((x) => stdout().includes(`running ${x}`)),
    );
    await until("their processes started", () => processesNamed("sleep 22.5").length === 1);
    const sent = Date.now();
    child.kill("SIGINT");
    const ended = await done;
    expect(Date.now() - sent).toBeLessThan(10_000);
    expect(ended.signal === "SIGINT" || ended.status === 130).toBe(true);
    expect(ended.stderr.match(/pipeline interrupted by SIGINT/g)).toHaveLength(2);
    expect(ended.stderr).toContain("cancelled: 1: twoTools");
    expect(ended.stderr).toContain("cancelled: 1: oneTool");
    expect(await waitGone("sleep 20.5")).toEqual([]);
    expect(await waitGone("sleep 22.5")).toEqual([]);
    expect(processesNamed("sleep 21.5")).toEqual([]);
    expect(await commits(dir)).toEqual([]);
  });
});

describe("the signals every call in flight listens to", () => {
  // A SLURM job's wait listens to the run's signal: hundreds of calls in flight are not a leak,
  // and Node must not warn about them (MaxListenersExceededWarning).
  it("take any number of listeners without a warning", async () => {
    const { trapInterrupts } = await import("../../src/engine/interrupt.js");
    const { NEVER } = await import("../../src/engine/executor.js");
    // Node's warnings caught where they are emitted, and not printed: the control below warns
    // on purpose.
    const warnings: string[] = [];
    const emitWarning = process.emitWarning;
    process.emitWarning = ((warning: string | Error) => {
      warnings.push(typeof warning === "string" ? warning : warning.name);
    }) as typeof process.emitWarning;
    const trap = trapInterrupts(undefined);
    const withCaller = trapInterrupts(new AbortController().signal);
    const listeners = Array.from({ length: 50 }, () => () => undefined);
    const control = new AbortController().signal; // the test's own check: this one warns
    try {
      for (const signal of [trap.signal, withCaller.signal, NEVER]) {
        for (const listener of listeners) signal.addEventListener("abort", listener);
      }
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).not.toContain("MaxListenersExceededWarning");
      for (const listener of listeners) control.addEventListener("abort", listener);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).toContain("MaxListenersExceededWarning");
    } finally {
      for (const signal of [trap.signal, withCaller.signal, NEVER, control])
        for (const listener of listeners) signal.removeEventListener("abort", listener);
      process.emitWarning = emitWarning;
      trap.release();
      withCaller.release();
    }
  });
});
