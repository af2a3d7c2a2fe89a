import { mkdir, readFile, rm, stat, truncate, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { MappedStage, Stage } from "../../src/index.js";
import { absentPaths } from "../../src/engine/commit.js";
import { recordingLogger, tempDir } from "../util/tmp.js";

const quiet = recordingLogger().logger;

describe("committing a run (commit.ts)", () => {
  // Proves an input file changed by someone else while the stage ran is recorded as changed:
  // changed back to its original content before the next run, the stage runs again, and the
  // result computed from the content it held meanwhile is never served for the original.
  it("an input file changed during the run and changed back re-runs the stage (input-changed)", async () => {
    const dir = await tempDir();
    const input = path.join(dir, "in.txt");
    await writeFile(input, "original");
    const log = recordingLogger();
    const gate: { started?: () => void; release?: Promise<void> } = {};
    const started = new Promise<void>((resolve) => (gate.started = resolve));
    let release!: () => void;
    gate.release = new Promise<void>((resolve) => (release = resolve));
    let runs = 0;
    const make = () =>
      new Stage(
        async function shout(inFile: string) {
          runs++;
          gate.started?.();
          await gate.release;
          return (await readFile(inFile, "utf8")).toUpperCase();
        },
        { hashOutput: path.join(dir, "state"), logger: log.logger },
      );

    const first = make();
    const running = first.run(input);
    await started;
    await writeFile(input, "changed by someone else"); // while the stage runs
    release();
    expect(await running).toEqual({ output: "CHANGED BY SOMEONE ELSE" });
    const warned = [...log.warn];

    await writeFile(input, "original"); // changed back before the next run
    const next = make();
    expect(await next.run(input)).toEqual({ output: "ORIGINAL" });
    expect(next.lastDecision).toMatchObject({ action: "run", reason: { kind: "input-changed" } });
    expect(runs).toBe(2);
    // The run that saw the change said so.
    expect(warned.some((m) => m.includes("changed while it ran"))).toBe(true);
    expect(warned.join("\n")).toContain(input);

    // Nothing changed during that run: the one after it is cached.
    const third = make();
    expect(await third.run(input)).toEqual({ output: "ORIGINAL" });
    expect(third.lastDecision?.reason).toEqual({ kind: "cached" });
    expect(runs).toBe(2);
  });
});

describe("an input file written again with the same bytes while the stage ran (commit.ts)", () => {
  // A copy of the same data over an input (`cp`: truncated, then written; here its times set
  // back too) while the stage reads it: the content after the run is what was hashed before,
  // but what the stage read may have been the file half-written. Recorded as changed: the next
  // run runs again; the run after that, nothing having changed, is cached.
  it.each([
    ["read in this process", true],
    ["with trackReads off", false],
  ])("re-runs the stage next time, %s", async (_, trackReads) => {
    const dir = await tempDir();
    const input = path.join(dir, "in.txt");
    await writeFile(input, "AAAA");
    const { mtime } = await stat(input);
    const log = recordingLogger();
    let runs = 0;
    // The copy is another process's doing: the test's, between the steps of the call.
    const step = { read: Promise.resolve(), done: Promise.resolve() };
    let readNow!: () => void;
    let finish!: () => void;
    let reading!: () => void;
    let begun!: () => void;
    const make = () =>
      new Stage(
        async function readMidway(inFile: string) {
          runs++;
          begun();
          await step.read;
          const read = await readFile(inFile, "utf8");
          reading();
          await step.done;
          return read;
        },
        // The version stands for the code: what it captures to meet the test changes.
        { hashOutput: path.join(dir, "state"), logger: log.logger, trackReads, codeVersion: "1" },
      );
    step.read = new Promise((resolve) => (readNow = resolve));
    step.done = new Promise((resolve) => (finish = resolve));
    const hasRead = new Promise<void>((resolve) => (reading = resolve));
    const hasBegun = new Promise<void>((resolve) => (begun = resolve));
    const first = make().run(input);
    await hasBegun; // its inputs hashed
    await truncate(input); // the copy has begun
    readNow();
    await hasRead;
    await writeFile(input, "AAAA"); // the copy ends: the same bytes...
    await utimes(input, mtime, mtime); // ... and times, as `cp -p` leaves them
    finish();
    expect(await first).toEqual({ output: "" }); // what it read, half-written
    expect(log.warn.join("\n")).toContain(`${input} changed while it ran`);
    reading = begun = () => undefined;
    const next = make();
    expect(await next.run(input)).toEqual({ output: "AAAA" });
    expect(next.lastDecision).toMatchObject({ action: "run", reason: { kind: "input-changed" } });
    const third = make();
    expect(await third.run(input)).toEqual({ output: "AAAA" });
    expect(third.lastDecision?.reason).toEqual({ kind: "cached" });
    expect(runs).toBe(2);
  });
});

describe("a file the code found, changed while the stage ran (commit.ts)", () => {
  // A config file the stage reads without being given it (a `read:` input), edited while it
  // runs: hashed only after the run, its new content must not pass for what the stage read.
  it("is recorded as changed: the next run runs again, and says so at once", async () => {
    const dir = await tempDir();
    const config = path.join(dir, "config.json");
    await writeFile(config, '{"threshold": 1}');
    const log = recordingLogger();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const began = new Promise<void>((resolve) => (started = resolve));
    let runs = 0;
    const make = () =>
      new Stage(
        async function threshold() {
          runs++;
          const read = JSON.parse(await readFile(config, "utf8")) as { threshold: number };
          started();
          await released; // the first run waits; the others find it released
          return read.threshold;
        },
        { hashOutput: path.join(dir, "state"), logger: log.logger },
      );
    const running = make().run();
    await began;
    await new Promise((resolve) => setTimeout(resolve, 20)); // past the clock's tick
    await writeFile(config, '{"threshold": 2}'); // while the stage runs, after it read
    release();
    expect(await running).toEqual({ output: 1 });
    expect(log.warn.join("\n")).toContain(`${config} changed while it ran`);
    const next = make();
    expect(await next.run()).toEqual({ output: 2 });
    expect(next.lastDecision?.reason).toMatchObject({
      kind: "input-changed",
      name: `read:${config}`,
    });
    const third = make();
    expect(await third.run()).toEqual({ output: 2 });
    expect(third.fromCache).toBe(true);
    expect(runs).toBe(2);
  });
});

describe("an output file that existed before the first memoized run (commit.ts)", () => {
  // A gzip header or an FSL .nii.gz differs on every write: such a file, written through a
  // path argument that already existed, used to be taken as an input and re-run forever.
  it("is the stage's output when the stage wrote it: the next run is cached", async () => {
    const dir = await tempDir();
    const out = path.join(dir, "brain.nii.gz");
    await writeFile(out, "from an earlier, unmemoized run");
    let runs = 0;
    const log = recordingLogger();
    const stage = new Stage(
      async function strip(outFile: string) {
        runs++;
        await writeFile(outFile, `brain ${Date.now()} ${Math.random()}`);
        return "ok";
      },
      { outputs: "status", hashOutput: path.join(dir, "state"), logger: log.logger },
    );
    await stage.run(out);
    await stage.run(out);
    expect(runs).toBe(1);
    expect(stage.lastDecision?.reason).toEqual({ kind: "cached" });
    expect(log.warn).toEqual([]);
    // Still its own: a hand edit re-runs it.
    await writeFile(out, "edited");
    await stage.run(out);
    expect(runs).toBe(2);
  });

  it("is taken as changed by someone else when the stage did not write it", async () => {
    const dir = await tempDir();
    const input = path.join(dir, "in.txt");
    await writeFile(input, "one");
    let runs = 0;
    const log = recordingLogger();
    const stage = new Stage(
      async function reads(inFile: string) {
        runs++;
        const text = await readFile(inFile, "utf8");
        await new Promise((resolve) => setTimeout(resolve, 300));
        return text;
      },
      { outputs: "text", hashOutput: path.join(dir, "state"), logger: log.logger },
    );
    // Another writer, outside the call, while it runs.
    setTimeout(() => void writeFile(input, "changed meanwhile"), 100);
    await stage.run(input);
    expect(log.warn.join("\n")).toMatch(/in\.txt changed while it ran/);
    await stage.run(input);
    expect(runs).toBe(2); // what it read is not what the file holds now
  });
});

describe("a named input another process rewrites while the stage runs, run after run (commit.ts)", () => {
  // A file kept up to date by someone else (a sync, an instrument appending) that changes
  // during two runs in a row is not the stage's output when the stage's writes are seen and it
  // wrote nothing there: each such run is recorded as changed, and the next one runs again.
  // (It was taken as the stage's own after the second, and the third served the second's
  // result, computed from content the file no longer held.)
  it("stays changed: the third run runs again and reads what the file holds", async () => {
    const dir = await tempDir();
    const input = path.join(dir, "x.txt");
    await writeFile(input, "V1");
    let runs = 0;
    const log = recordingLogger();
    const stage = new Stage(
      async function copy(inFile: string) {
        runs++;
        const text = await readFile(inFile, "utf8");
        await new Promise((resolve) => setTimeout(resolve, 200));
        return text;
      },
      { outputs: "text", hashOutput: path.join(dir, "state"), logger: log.logger },
    );
    const rewriteDuringRun = async (text: string) => {
      const running = stage.run(input);
      await new Promise((resolve) => setTimeout(resolve, 80));
      await writeFile(input, text); // by someone else: outside the call
      return running;
    };
    expect(await rewriteDuringRun("V2")).toEqual({ text: "V1" });
    expect(await rewriteDuringRun("V3")).toEqual({ text: "V2" });
    expect(log.warn.filter((m) => m.includes("changed while it ran"))).toHaveLength(2);
    expect(await stage.run(input)).toEqual({ text: "V3" });
    expect(stage.lastDecision?.action).toBe("run");
    expect(await stage.run(input)).toEqual({ text: "V3" });
    expect(stage.fromCache).toBe(true);
    expect(runs).toBe(3);
  });
});

describe("an output directory the calls of a map make together (commit.ts)", () => {
  // Four elements start at once; each makes the shared output directory (absent when they
  // began) and writes its own file there, at different times. Each records the file it wrote,
  // not the directory as a whole, which holds its siblings' files too and changes after it
  // ends: so the next run finds all four cached, and a change to one file re-runs its call alone.
  it("records each call's own files, not the directory: nothing runs again for nothing", async () => {
    const dir = await tempDir();
    const out = path.join(dir, "derivatives");
    const delays: Record<string, number> = { a: 10, b: 120, c: 240, d: 360 };
    const stage = new MappedStage(
      new Stage(
        async function write(subject: string, out: string) {
          await new Promise((resolve) => setTimeout(resolve, 10));
          await mkdir(out, { recursive: true });
          await new Promise((resolve) => setTimeout(resolve, delays[subject]));
          const file = path.join(out, `${subject}.txt`);
          await writeFile(file, subject);
          return file;
        },
        { name: "write", outputs: "file", hashOutput: path.join(dir, "state"), logger: quiet },
      ),
      ["subject"],
      { concurrency: 4 },
    );
    const decisions = async () => {
      await stage.run({ subject: ["a", "b", "c", "d"], out });
      return stage.elementDecisions.map((d) => `${d.element} ${d.action} ${d.reason.kind}`);
    };
    expect(await decisions()).toEqual([
      "a run first-run",
      "b run first-run",
      "c run first-run",
      "d run first-run",
    ]);
    expect(await decisions()).toEqual([
      "a skip cached",
      "b skip cached",
      "c skip cached",
      "d skip cached",
    ]);
    await writeFile(path.join(out, "b.txt"), "changed");
    expect(await decisions()).toEqual([
      "a skip cached",
      "b run output-modified",
      "c skip cached",
      "d skip cached",
    ]);
    await rm(path.join(out, "c.txt"));
    expect(await decisions()).toEqual([
      "a skip cached",
      "b skip cached",
      "c run output-missing",
      "d skip cached",
    ]);
  });
});

describe("a stage that changes its input in place (commit.ts)", () => {
  // Proves the loop it causes is said, once: the stage that made the file finds its output
  // modified, runs again, and the editing stage after it, on every run.
  it("warns, once, that the stage which made the file will run again every time", async () => {
    const { Pipeline } = await import("../../src/index.js");
    const dir = await tempDir();
    const state = path.join(dir, "state");
    const file = path.join(dir, "a.txt");
    const log = recordingLogger();
    const make = new Stage(
      async function make(out: string) {
        await writeFile(out, "made\n");
        return out;
      },
      { hashOutput: state, outputs: "made", logger: quiet },
    );
    const refit = new Stage(
      async function refit(made: string) {
        await writeFile(made, (await readFile(made, "utf8")) + "refit\n"); // in place
        return "done";
      },
      { hashOutput: state, outputs: "refitted", logger: log.logger },
    );
    const pipeline = new Pipeline([
      ["start", make],
      [make, refit],
    ]);
    await pipeline.run(file);
    const warned = log.warn.filter((m) => m.includes("in place"));
    expect(warned).toEqual([
      `stage "refit" changed its input ${file} in place: if another stage made that file, that stage will find its output modified and run again on every run, and this one after it. Write the result to a new file instead.`,
    ]);
    await pipeline.run(file); // the loop the warning names: both run again
    expect(pipeline.decisions.map((d) => d.action)).toEqual(["run", "run"]);
    expect(log.warn.filter((m) => m.includes("in place"))).toHaveLength(1); // said once
  });
});

describe("the strings among a call's inputs that may name files (commit.ts)", () => {
  // The working directory (`cwd:`) and listings (`list:`) are inputs a call's code found, not
  // paths it was given: taken for one, the working directory was hashed whole after every run
  // (the project, node_modules and all).
  it("are the arguments' strings, never the working directory or a listing", () => {
    expect(
      absentPaths({
        "cwd:": process.cwd(),
        [`list:${process.cwd()}`]: "listing:ab12",
        out: "/tmp/not-there-yet.txt",
      }),
    ).toEqual(new Set(["/tmp/not-there-yet.txt"]));
  });
});
