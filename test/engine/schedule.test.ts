import { spawn } from "node:child_process";
import { readFile, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import {
  MappedStage,
  MemoriError,
  Pipeline,
  PipelineError,
  Stage,
  runProcess,
  terminalReporter,
  type MemoriEvent,
} from "../../src/index.js";
import { commits, processesNamed, waitGone } from "../util/procs.js";
import { recordingLogger, tempDir } from "../util/tmp.js";

const quiet = recordingLogger().logger;
/** Any node a pipeline definition takes. */
type Node = ConstructorParameters<typeof Pipeline>[0][number][1];

/** A chain: the first node is fed by "start", each next one by the one before. */
const linear = (...nodes: Node[]) =>
  nodes.map((n, i) => [i === 0 ? "start" : nodes[i - 1]!, n] as const);

/** A stage mapped over `over`. */
const mapped = (
  stage: ConstructorParameters<typeof MappedStage>[0],
  over: string[],
  options?: ConstructorParameters<typeof MappedStage>[2],
) => new MappedStage(stage, over, options);

/** What a promise rejected with (or what it resolved to, which the assertions then reject). */
const rejection = (p: Promise<unknown>) => p.catch((e: unknown) => e);

describe("scheduling (streaming, concurrency, keepGoing, labels)", () => {
  // Proves maps stream: step2's element for subject 1 starts while step1 still runs the others.
  it("streams a map element downstream as soon as its upstream element is done", async () => {
    const dir = await tempDir();
    const times: { stage: string; subject: string; start: number; end: number }[] = [];
    const list = new Stage(() => ["s1", "s2", "s3", "s4"], {
      name: "list",
      outputs: "subject",
      hashOutput: dir,
      logger: quiet,
    });
    const step1 = new Stage(
      async function step1(subject: string) {
        const start = Date.now();
        await runProcess(["sleep", subject === "s1" ? "0.1" : "2"]);
        times.push({ stage: "step1", subject, start, end: Date.now() });
        return `${subject}-a`;
      },
      { outputs: "a", hashOutput: dir, logger: quiet },
    );
    const step2 = new Stage(
      async function step2(a: string) {
        const start = Date.now();
        await runProcess(["sleep", "0.1"]);
        times.push({ stage: "step2", subject: a.split("-")[0]!, start, end: Date.now() });
        return `${a}-b`;
      },
      { outputs: "b", hashOutput: dir, logger: quiet },
    );
    const definition = linear(list, mapped(step1, ["subject"]), mapped(step2, ["a"]));
    const results = await new Pipeline(definition, { concurrency: 4 }).run();
    expect(results.b).toEqual(["s1-a-b", "s2-a-b", "s3-a-b", "s4-a-b"]);
    const first = times.find((t) => t.stage === "step2" && t.subject === "s1")!;
    const others = times.filter((t) => t.stage === "step1" && t.subject !== "s1");
    expect(others).toHaveLength(3);
    for (const other of others) expect(first.start).toBeLessThan(other.end);
  });

  // Proves one bound for stages and elements alike, and a map's own `concurrency` inside it.
  // Pins priority after a cache hit that ends at once: what the hit makes ready (D, defined
  // right after A) waits with what was ready before (B, C) and starts by definition order, not
  // behind them; the chain A -> D -> E is not held up by B and C.
  it("starts what a hit makes ready by definition order, with what was ready before", async () => {
    const dir = await tempDir();
    const started: string[] = [];
    const make = (name: string, salt: number) =>
      new Stage(
        async (x: number, salt: number) => {
          started.push(name);
          await new Promise((resolve) => setTimeout(resolve, 30));
          return x + salt;
        },
        { name, outputs: "x", hashOutput: dir, logger: quiet, args: { salt } },
      );
    const [a, d, e, b, c] = ["a", "d", "e", "b", "c"].map((name) => make(name, 0));
    const pipeline = new Pipeline(
      [
        ["start", a!],
        [a!, d!],
        [d!, e!],
        ["start", b!],
        ["start", c!],
      ],
      { concurrency: 2, keepRuns: 0 },
    );
    await pipeline.run(1);
    await pipeline.run(1); // every call a hit: its stage was run in this process
    started.length = 0;
    for (const stage of [d!, b!, c!]) stage.setArg("salt", 1);
    await pipeline.run(1);
    expect(started).toHaveLength(4);
    expect(a!.fromCache).toBe(true);
    expect(started.indexOf("d")).toBeLessThan(started.indexOf("c"));
    expect(started.indexOf("e")).toBeGreaterThan(started.indexOf("d"));
  });

  it("shares the pipeline's concurrency across stages and elements, and honours a map's own limit", async () => {
    let running = 0;
    let max = 0;
    const tracked = async (_value?: number) => {
      running++;
      max = Math.max(max, running);
      await runProcess(["sleep", "0.3"]);
      running--;
      return 1;
    };
    const a = mapped(new Stage(async (x: number) => tracked(x), { name: "a" }), ["x"]);
    const b = mapped(new Stage(async (y: number) => tracked(y), { name: "b" }), ["y"]);
    const plain = new Stage(async () => tracked(), { name: "plain" });
    const definition = [a, b, plain].map((n) => ["start", n] as const);
    await new Pipeline(definition, { concurrency: 3 }).runNamed({
      x: [1, 2, 3, 4],
      y: [1, 2, 3, 4],
    });
    expect(max).toBe(3);

    // A map limited to 1 element at a time, beside an unlimited one, at pipeline concurrency 4.
    const now = { limited: 0, free: 0 };
    const most = { limited: 0, free: 0 };
    const counted = async (which: "limited" | "free", _value: number) => {
      now[which]++;
      most[which] = Math.max(most[which], now[which]);
      await runProcess(["sleep", "0.3"]);
      now[which]--;
      return 1;
    };
    const limited = new Stage(async (v: number) => counted("limited", v), { name: "limited" });
    const free = new Stage(async (v: number) => counted("free", v), { name: "free" });
    const nodes = [mapped(limited, ["v"], { concurrency: 1 }), mapped(free, ["v"])];
    const pair = nodes.map((n) => ["start", n] as const);
    await new Pipeline(pair, { concurrency: 4 }).runNamed({ v: [1, 2, 3, 4] });
    expect(most.limited).toBe(1);
    expect(most.free).toBeGreaterThanOrEqual(2); // the other slots were used meanwhile
  });

  // Proves keepGoing works per element: one failed element blocks only what depends on it.
  it("keeps going per element, reports the failure by label, and resumes exactly the rest", async () => {
    const dir = await tempDir();
    const subjects = [1, 2, 3, 4, 5, 6].map((i) => `/data/sub-0${i}_T1w.nii.gz`);
    const calls = { list: 0, step1: 0, step2: 0, group: 0 };
    // A transient failure outside the code (a global: captured values are code identity).
    const world = globalThis as { scannerBroken?: boolean };
    world.scannerBroken = true;
    const build = (keepGoing: boolean, hashOutput = dir) => {
      const list = new Stage(
        function list() {
          calls.list++;
          return subjects;
        },
        { outputs: "subject", hashOutput, logger: quiet },
      );
      const step1 = new Stage(
        async function step1(subject: string) {
          calls.step1++;
          if (
            (globalThis as { scannerBroken?: boolean }).scannerBroken &&
            subject.includes("sub-04")
          ) {
            throw new Error("scanner exploded");
          }
          return `${subject}:a`;
        },
        { outputs: "a", hashOutput, logger: quiet },
      );
      const step2 = new Stage(
        function step2(a: string) {
          calls.step2++;
          return `${a}:b`;
        },
        { outputs: "b", hashOutput, logger: quiet },
      );
      const group = new Stage(
        function group(b: string[]) {
          calls.group++;
          return b.length;
        },
        { outputs: "n", hashOutput, logger: quiet },
      );
      const label = ({ subject }: Record<string, unknown>) =>
        path.basename(subject as string).split("_")[0]!;
      const stages = [list, mapped(step1, ["subject"], { label }), mapped(step2, ["a"]), group];
      return new Pipeline(linear(...stages), { keepGoing, concurrency: 3 });
    };

    const error = await rejection(build(true).run());
    expect(error).toBeInstanceOf(PipelineError);
    const pe = error as PipelineError;
    expect(pe.failures).toHaveLength(1);
    expect(pe.failures[0]!.stage).toBe("step1");
    expect(pe.failures[0]!.element).toBe("sub-04");
    expect(pe.blocked).toEqual(["step2[sub-04]", "group"]);
    expect(pe.message).toContain("step1[sub-04]");
    expect(await commits(path.join(dir, "step2.map"))).toHaveLength(5);
    expect(calls).toEqual({ list: 1, step1: 6, step2: 5, group: 0 });

    world.scannerBroken = false;
    Object.assign(calls, { list: 0, step1: 0, step2: 0, group: 0 });
    expect(await build(true).run()).toMatchObject({ n: 6 });
    expect(calls).toEqual({ list: 0, step1: 1, step2: 1, group: 1 });

    // Without keepGoing, the first failure is thrown as it is, named by its label.
    const dir2 = await tempDir();
    world.scannerBroken = true;
    const first = await rejection(build(false, dir2).run());
    expect(first).toBeInstanceOf(MemoriError);
    expect(first).not.toBeInstanceOf(PipelineError);
    expect(first).toMatchObject({ reason: "stage-failed", stage: "step1", element: "sub-04" });
    expect((first as Error).message).toContain("sub-04");
  });

  // Proves labels reach logs, events and the reporter, and that the summary counts elements.
  it("names elements by label in logs, events and the summary, counting ran and cached calls", async () => {
    const dir = await tempDir();
    const files = ["sub-01", "sub-02", "sub-03"].map((s) => path.join(dir, `${s}_bold.txt`));
    for (const f of files) await writeFile(f, `data of ${path.basename(f)}`);
    const log = recordingLogger();
    let calls = 0;
    const measure = new Stage(
      async function measure(file: string) {
        calls++;
        return (await readFile(file, "utf8")).length;
      },
      { outputs: "size", hashOutput: path.join(dir, "state"), logger: log.logger },
    );
    const total = new Stage(
      function total(size: number[]) {
        calls++;
        return size.reduce((x, y) => x + y, 0);
      },
      { outputs: "sum", hashOutput: path.join(dir, "state"), logger: log.logger },
    );
    const events: MemoriEvent[] = [];
    const stream = new PassThrough();
    let printed = "";
    stream.on("data", (d: Buffer) => (printed += d.toString()));
    const reporter = terminalReporter({ live: false, stream });
    const label = ({ file }: Record<string, unknown>) =>
      path.basename(file as string).split("_")[0]!;
    const pipeline = new Pipeline(linear(mapped(measure, ["file"], { label }), total), {
      concurrency: 2,
      onEvent: (e) => (events.push(e), reporter(e)),
    });
    await pipeline.runNamed({ file: files });
    expect(log.info.some((l) => l.includes('stage "measure[sub-02]": running'))).toBe(true);
    const run = events.find((e) => e.type === "stage:run" && e.stage === "measure[sub-02]");
    expect(run).toMatchObject({ element: "sub-02" });
    expect(printed).toContain("measure[sub-02]: running (first run)");
    expect(printed).toMatch(/pipeline done in .*: 4 ran, 0 cached, 0 failed/);

    // Change one input file: its element and the stage downstream run; the rest is cached.
    await writeFile(files[1]!, "changed, and longer than before");
    events.length = 0;
    printed = "";
    calls = 0;
    await pipeline.runNamed({ file: files });
    expect(calls).toBe(2);
    const done = events.find((e) => e.type === "pipeline:done");
    expect(done).toMatchObject({ ran: calls, cached: 4 - calls, failed: 0 });
    expect(log.info.some((l) => l.includes('stage "measure[sub-01]": skipped (cached)'))).toBe(
      true,
    );
    expect(printed).toContain("measure[sub-02]: running (input changed: file");
    expect(printed).toMatch(/pipeline done in .*: 2 ran, 2 cached, 0 failed/);
  });

  // Proves `timeout` stops the attempt and its processes, records nothing, and can be retried.
  it("times out an attempt, kills its processes and records nothing", async () => {
    const dir = await tempDir();
    const events: MemoriEvent[] = [];
    const make = (retries: number, seconds: string) =>
      new Stage(
        async function hang() {
          await runProcess(`sleep ${seconds}; echo late`); // a shell, and its child
          return 1;
        },
        { timeout: 400, retries, hashOutput: dir, logger: quiet, onEvent: (e) => events.push(e) },
      );
    // The detector below sees a live `sleep` (so "none left" is not vacuous).
    const probe = spawn("sleep", ["30.19"], { stdio: "ignore" });
    await new Promise((r) => probe.once("spawn", r));
    expect(processesNamed("sleep 30.19")).toHaveLength(1);
    probe.kill();
    const began = Date.now();
    const error = await rejection(make(0, "30.11").run());
    expect(Date.now() - began).toBeLessThan(10_000);
    expect(error).toBeInstanceOf(MemoriError);
    expect(error).toMatchObject({ reason: "timeout", stage: "hang" });
    expect(await waitGone("sleep 30.11")).toEqual([]);
    expect(await commits(dir)).toEqual([]);
    expect(
      (await readdir(dir).catch(() => [])).filter((n) => /\.(inputs|outputs)$/.test(n)),
    ).toEqual([]);

    events.length = 0;
    const again = await rejection(make(1, "30.12").run());
    expect(again).toMatchObject({ reason: "timeout" });
    expect((again as Error).message).toContain("attempt 2 of 2");
    const retries = events.filter((e) => e.type === "stage:retry");
    expect(retries).toHaveLength(1);
    expect(retries[0]).toMatchObject({ attempt: 1, attempts: 2 });
    expect(await waitGone("sleep 30.12")).toEqual([]);
    // The retry says why, in words: the event carries an error, as the reporter shows.
    const retry = retries[0] as Extract<MemoriEvent, { type: "stage:retry" }>;
    expect(retry.error).toBeInstanceOf(MemoriError);
    expect((retry.error as MemoriError).reason).toBe("timeout");
    const stream = new PassThrough();
    let text = "";
    stream.on("data", (d: Buffer) => (text += d.toString()));
    terminalReporter({ stream, live: false })(retry);
    expect(text).toMatch(/hang: attempt 1 of 2 failed \(stage "hang" timed out after 400 ms/);
  });

  // Proves `retries` re-runs a throwing function, records the success once, and skips memori's own errors.
  it("retries a flaky function, records one result, and does not retry memori's own errors", async () => {
    const dir = await tempDir();
    let calls = 0;
    const events: MemoriEvent[] = [];
    const flaky = (retries: number, hashOutput: string) =>
      new Stage(
        function flaky(x: number) {
          calls++;
          if (calls <= 2) throw new Error(`flake ${calls}`);
          return x * 2;
        },
        { retries, hashOutput, logger: quiet, onEvent: (e) => events.push(e) },
      );
    const stage = flaky(2, dir);
    expect(await stage.run(21)).toEqual({ output: 42 });
    expect(stage.lastDecision).toMatchObject({ action: "run", attempt: 3 });
    const seen = events.filter((e) => e.type === "stage:retry" || e.type === "stage:done");
    expect(seen.map((e) => [e.type, "attempt" in e ? e.attempt : undefined])).toEqual([
      ["stage:retry", 1],
      ["stage:retry", 2],
      ["stage:done", 3],
    ]);
    expect(await commits(dir)).toEqual(["flaky.stage"]);
    await stage.run(21);
    expect(calls).toBe(3);
    expect(stage.fromCache).toBe(true);

    // Not enough retries: it fails after 2 calls, and nothing is recorded.
    const dir2 = await tempDir();
    calls = 0;
    await expect(flaky(1, dir2).run(21)).rejects.toThrow(/flake 2/);
    expect(calls).toBe(2);
    expect(await commits(dir2)).toEqual([]);

    // A missing argument is memori's own error: no retry is announced, the function never runs.
    calls = 0;
    events.length = 0;
    const log = recordingLogger();
    const strict = new Stage(
      function strict(x: number) {
        calls++;
        return x;
      },
      { retries: 3, logger: log.logger, onEvent: (e) => events.push(e) },
    );
    // @ts-expect-error -- a missing argument: a compile error, and a run-time one for JavaScript
    await expect(strict.run()).rejects.toMatchObject({ reason: "missing-argument" });
    expect(calls).toBe(0);
    expect(events.filter((e) => e.type === "stage:retry")).toEqual([]);
    expect(events.filter((e) => e.type === "stage:start")).toHaveLength(1);
    expect(log.warn.filter((l) => l.includes("trying again"))).toEqual([]);
  });

  // Proves the scheduler never recurses per stage: 100,000 chained stages build, explain and run.
  it(
    "builds, explains and runs a 100,000-stage linear pipeline",
    { timeout: 120_000 },
    async () => {
      const step = (x: number) => x + 1;
      const stages = Array.from(
        { length: 100_000 },
        (_, i) => new Stage(step, { name: `s${i}`, outputs: "x" }),
      );
      const p = new Pipeline(linear(...stages));
      const explained = await p.explain(0);
      expect(explained).toHaveLength(100_000);
      // Not memoized: each runs whatever its upstream gives it.
      expect(explained[99_999]).toMatchObject({
        stage: "s99999",
        action: "run",
        reason: { kind: "not-memoized" },
      });
      expect(await p.run(0)).toEqual({ x: 100_000 });
    },
  );
});

describe("only some map elements (the pipeline option `only`)", () => {
  // A map over subjects, a map streamed from it, a group stage after it, and a stage that
  // needs no map: with only = [b], element b runs through both maps; the group stage is left
  // out (it would see one subject); the other stage runs; the results hold b's alone.
  it("runs the elements asked for and what needs no map; leaves out what needs all", async () => {
    const dir = await tempDir();
    const calls: string[] = [];
    const opts = { hashOutput: dir, logger: quiet };
    const first = new MappedStage(
      new Stage((s: string) => (calls.push(`first ${s}`), `${s}1`), {
        ...opts,
        name: "first",
        outputs: "a",
      }),
      ["s"],
      { label: ({ s }) => String(s) },
    );
    const second = new MappedStage(
      new Stage((a: string) => (calls.push(`second ${a}`), `${a}2`), {
        ...opts,
        name: "second",
        outputs: "b",
      }),
      ["a"],
    );
    const group = new Stage((b: string[]) => (calls.push("group"), b.join("+")), {
      ...opts,
      name: "group",
      outputs: "all",
    });
    const other = new Stage((s: string[]) => (calls.push("other"), s.length), {
      ...opts,
      name: "other",
      outputs: "n",
    });
    const events: MemoriEvent[] = [];
    const pipeline = new Pipeline([...linear(first, second, group), ["start", other]], {
      only: ["b"],
      onEvent: (e) => events.push(e),
    });
    const results = await pipeline.runNamed({ s: ["a", "b", "c"] });
    expect(calls.sort()).toEqual(["first b", "other", "second b1"]);
    expect(results).toEqual({ a: ["b1"], b: ["b12"], n: 3 });
    expect(events.find((e) => e.type === "pipeline:done")).toMatchObject({
      ran: 3,
      cached: 0,
      excluded: 5, // a, c in each map; the group stage
    });
    // Everything, later: b's elements cached, the rest runs.
    calls.length = 0;
    await pipeline.withOptions({ only: undefined }).runNamed({ s: ["a", "b", "c"] });
    expect(calls.sort()).toEqual(["first a", "first c", "group", "second a1", "second c1"]);
  });

  it("is checked: a list of labels", () => {
    expect(() => new Pipeline([], { only: "sub-01" as unknown as string[] })).toThrow(
      "pipeline: expected `only` to be an array of map element labels, got",
    );
  });
});
