/**
 * Every pipeline run writes a record (records/pipeline-record.ts): a known history of three
 * runs (everything ran; everything cached; one element failed and what needs it was blocked),
 * read back as memori log reads it.
 */
import { mkdir, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { MappedStage, Pipeline, Stage, type MemoriEvent } from "../../src/index.js";
import { runsDir } from "../../src/records/run-history.js";
import { readHistory } from "../util/run-records.js";
import type { RunRecord, TaskRecord } from "../../src/records/run-record.js";
import { knownRuns } from "../util/run-records.js";
import { recordingLogger, tempDir } from "../util/tmp.js";

const onLinux = process.platform === "linux";

function byName(record: RunRecord): Record<string, TaskRecord> {
  return Object.fromEntries(
    record.tasks.map((t) => [t.element === undefined ? t.stage : `${t.stage}[${t.element}]`, t]),
  );
}

describe("a pipeline's run records", () => {
  it("say what every call of every run did, and why", async () => {
    const dir = await tempDir();
    await knownRuns(dir);
    const { records, problems } = readHistory(dir);
    expect(problems).toEqual([]);
    expect(records.map((r) => [r.outcome, r.counts])).toEqual([
      ["ok", { ran: 5, cached: 0, failed: 0, blocked: 0, cancelled: 0, excluded: 0 }],
      ["ok", { ran: 0, cached: 5, failed: 0, blocked: 0, cancelled: 0, excluded: 0 }],
      ["failed", { ran: 1, cached: 3, failed: 1, blocked: 1, cancelled: 0, excluded: 0 }],
    ]);
    const [first, second, third] = records as [RunRecord, RunRecord, RunRecord];
    expect(first.graph).toEqual({
      nodes: [
        { id: "s0", name: "list", mapped: false, state: "ran", hashOutput: dir },
        { id: "s1", name: "convert", mapped: true, state: "ran", hashOutput: dir },
        { id: "s2", name: "group", mapped: false, state: "ran", hashOutput: dir },
      ],
      edges: [
        { from: "start", to: "s0", label: "subjects" },
        { from: "s0", to: "s1", label: "subject" },
        { from: "s1", to: "s2", label: "converted" },
      ],
    });
    expect(first.command.via).toBe("api");
    expect(first.tasks.map((t) => t.id)).toEqual([1, 2, 3, 4, 5]);
    const ran = byName(first);
    expect(Object.keys(ran).sort()).toEqual([
      "convert[a]",
      "convert[b]",
      "convert[c]",
      "group",
      "list",
    ]);
    for (const task of first.tasks) {
      expect(task).toMatchObject({ decision: "ran", reason: { kind: "first-run" } });
      expect(task.ms).toBe(task.end! - task.start!);
    }
    const a = ran["convert[a]"]!;
    expect(a).toMatchObject({ node: "s1", element: "a", exit: 0 });
    expect(a.processes).toHaveLength(1);
    if (onLinux) expect(a.usage!.peakRss).toBeGreaterThan(50 * 1024 * 1024);
    expect(ran.list!.processes).toBeUndefined();

    for (const task of second.tasks) {
      expect(task).toMatchObject({ decision: "cached", reason: { kind: "cached" } });
      expect(task.processes).toBeUndefined();
    }

    const failed = byName(third);
    expect(failed.list).toMatchObject({
      decision: "ran",
      reason: { kind: "input-changed", name: "subjects" },
    });
    expect(failed["convert[b]"]).toMatchObject({ decision: "cached" });
    expect(failed["convert[bad]"]).toMatchObject({
      decision: "failed",
      reason: { kind: "first-run" },
      exit: 3,
      error: { reason: "process-failed", stderrTail: expect.stringContaining("boom") as string },
    });
    expect(failed.group).toMatchObject({ decision: "blocked" });
    expect(failed.group!.start).toBeUndefined();
    expect(third.tasks[third.tasks.length - 1]!.stage).toBe("group"); // never started: last
    expect(third.graph.nodes.map((n) => n.state)).toEqual(["ran", "failed", "blocked"]);
    expect(third.error).toMatch(/^pipeline: stage "convert" element bad failed.*status 3/);
  });

  it("say what never started when a run stops at a failure (cancelled) or what it needs failed (blocked)", async () => {
    const dir = await tempDir();
    const quiet = recordingLogger().logger;
    const fail = new Stage(
      (x: number) => {
        throw new Error(`no ${x}`);
      },
      { name: "fail", outputs: "y", hashOutput: dir, logger: quiet },
    );
    const after = new Stage((y: number) => y, { name: "after", hashOutput: dir, logger: quiet });
    const other = new Stage((x: number) => x, { name: "other", hashOutput: dir, logger: quiet });
    const pipeline = new Pipeline(
      [
        ["start", fail],
        [fail, after],
        ["start", other],
      ],
      { concurrency: 1 },
    );
    await expect(pipeline.run(1)).rejects.toThrow(/no 1/);
    const [record] = readHistory(dir).records;
    expect(record!.outcome).toBe("failed");
    expect(record!.tasks.map((t) => [t.stage, t.decision])).toEqual([
      ["fail", "failed"],
      ["after", "blocked"],
      ["other", "cancelled"],
    ]);
    expect(record!.tasks[0]!.error).toMatchObject({
      message: expect.stringMatching(/no 1/) as string,
    });
  });

  it("record a cache hit heard by no one just as one a listener heard (the report gives its times)", async () => {
    const dir = await tempDir();
    const logger = recordingLogger().logger;
    const make = (onEvent?: (e: MemoriEvent) => void) => {
      const add = new Stage((x: number) => x + 1, {
        name: "add",
        outputs: "y",
        hashOutput: dir,
        logger,
      });
      const each = new MappedStage(
        new Stage((y: number, k: number) => y * k, {
          name: "each",
          outputs: "z",
          hashOutput: dir,
          logger,
        }),
        ["k"],
      );
      return new Pipeline(
        [
          ["start", add],
          ["start", each],
          [add, each],
        ],
        onEvent === undefined ? {} : { onEvent },
      );
    };
    await make().runNamed({ x: 1, k: [1, 2, 3] });
    const before = Date.now();
    await make().runNamed({ x: 1, k: [1, 2, 3] }); // cached, no listener: the recorder hears no hit
    const heard: string[] = [];
    await make((e) => heard.push(e.type)).runNamed({ x: 1, k: [1, 2, 3] });
    expect(heard.filter((t) => t === "stage:cached")).toHaveLength(4);
    const [, quiet, told] = readHistory(dir).records as [RunRecord, RunRecord, RunRecord];
    // The same tasks, the same fields in the same order, but for their times.
    const shape = (r: RunRecord) =>
      r.tasks.map((t) => JSON.stringify({ ...t, start: 0, end: 0, ms: 0 }));
    expect(shape(quiet)).toEqual(shape(told));
    expect(quiet.tasks.map((t) => Object.keys(t))).toEqual(told.tasks.map((t) => Object.keys(t)));
    expect(quiet.counts.cached).toBe(4);
    for (const task of quiet.tasks) {
      expect(task).toMatchObject({ decision: "cached", reason: { kind: "cached" } });
      expect(task.start).toBeGreaterThanOrEqual(before);
      expect(task.start).toBeGreaterThanOrEqual(quiet.start);
      expect(task.end).toBeLessThanOrEqual(quiet.end);
      expect(task.ms).toBe(task.end! - task.start!);
    }
    expect(quiet.tasks.map((t) => t.id)).toEqual([1, 2, 3, 4]);
  });

  it("keep the newest keepRuns, or MEMORI_KEEP_RUNS, and none with 0", async () => {
    const dir = await tempDir();
    const stage = new Stage((x: number) => x, {
      name: "s",
      hashOutput: dir,
      logger: recordingLogger().logger,
    });
    const runs = async () => (await readdir(runsDir(dir))).filter((n) => n.endsWith(".json"));
    const pipeline = new Pipeline([["start", stage]], { keepRuns: 2 });
    for (let i = 0; i < 4; i++) await pipeline.run(i);
    const kept = await runs();
    expect(kept).toHaveLength(2);
    const values = readHistory(dir).records.map((r) => r.tasks[0]!.reason);
    expect(values).toEqual([
      { kind: "input-changed", name: "x", old: "1", new: "2" },
      { kind: "input-changed", name: "x", old: "2", new: "3" },
    ]);
    const previous = process.env.MEMORI_KEEP_RUNS;
    try {
      process.env.MEMORI_KEEP_RUNS = "3";
      for (let i = 0; i < 3; i++) await new Pipeline([["start", stage]]).run(i);
      expect(await runs()).toHaveLength(3);
      process.env.MEMORI_KEEP_RUNS = "0";
      await new Pipeline([["start", stage]]).run(9);
      expect(await runs()).toHaveLength(3);
    } finally {
      if (previous === undefined) delete process.env.MEMORI_KEEP_RUNS;
      else process.env.MEMORI_KEEP_RUNS = previous;
    }
    expect(() => new Pipeline([["start", stage]], { keepRuns: -1 })).toThrow(
      /expected `keepRuns` to be a whole number of runs >= 0, got -1/,
    );
  });

  it("are never needed: one that cannot be written is a warning, said once, and the run goes on", async () => {
    const dir = await tempDir();
    await mkdir(dir, { recursive: true });
    await writeFile(runsDir(dir), "a file where the folder goes");
    const stage = new Stage((x: number) => x * 2, {
      name: "s",
      outputs: "y",
      hashOutput: dir,
      logger: recordingLogger().logger,
    });
    const warnings: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((text: string) => (warnings.push(String(text)), true)) as never;
    try {
      expect(await new Pipeline([["start", stage]]).run(1)).toEqual({ y: 2 });
      expect(await new Pipeline([["start", stage]]).run(2)).toEqual({ y: 4 });
    } finally {
      process.stderr.write = write;
    }
    const said = warnings.filter((w) => w.includes("run record"));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/a run record could not be written to .*\.memori-runs/);
  });

  it("are written under the state directory most stages use, and not without one", async () => {
    const dir = await tempDir();
    const other = path.join(dir, "other");
    const main = path.join(dir, "main");
    const quiet = recordingLogger().logger;
    const a = new Stage((x: number) => x, {
      name: "a",
      outputs: "y",
      hashOutput: other,
      logger: quiet,
    });
    const b = new Stage((y: number) => y, {
      name: "b",
      outputs: "z",
      hashOutput: main,
      logger: quiet,
    });
    const c = new Stage((z: number) => z, { name: "c", hashOutput: main, logger: quiet });
    await new Pipeline([
      ["start", a],
      [a, b],
      [b, c],
    ]).run(1);
    expect(readHistory(main).records).toHaveLength(1);
    expect(readHistory(other).records).toHaveLength(0);
    const free = new Stage((x: number) => x, { name: "free", logger: quiet });
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      await new Pipeline([["start", free]]).run(1);
    } finally {
      process.chdir(cwd);
    }
    expect(readHistory(dir).records).toHaveLength(0);
  });

  it("keep apart stages of the same name in different state directories: their events name their node", async () => {
    const dir = await tempDir();
    const quiet = recordingLogger().logger;
    const make = (onEvent?: (e: MemoriEvent) => void) => {
      const first = new Stage((x: number) => x + 1, {
        name: "prep",
        outputs: "y",
        hashOutput: path.join(dir, "t1"),
        logger: quiet,
      });
      const second = new Stage((y: number) => y * 2, {
        name: "prep",
        outputs: "z",
        hashOutput: path.join(dir, "t2"),
        logger: quiet,
      });
      const third = new Stage((z: number) => z - 1, {
        name: "prep",
        outputs: "w",
        hashOutput: path.join(dir, "t2", "more"),
        logger: quiet,
      });
      return new Pipeline(
        [
          ["start", first],
          [first, second],
          [second, third],
        ],
        onEvent === undefined ? {} : { onEvent },
      );
    };
    const heard: MemoriEvent[] = [];
    expect(await make((event) => heard.push(event)).run(1)).toMatchObject({ w: 3 });
    const starts = heard.filter((e) => e.type === "stage:start");
    expect(starts.map((e) => "node" in e && e.node)).toEqual(["s0", "s1", "s2"]);
    await make().run(1); // cached, heard by the recorder alone
    const runs = [dir, path.join(dir, "t1"), path.join(dir, "t2"), path.join(dir, "t2", "more")]
      .flatMap((d) => readHistory(d).records)
      .sort((a, b) => a.start - b.start);
    expect(runs).toHaveLength(2);
    for (const [record, decision] of [
      [runs[0]!, "ran"],
      [runs[1]!, "cached"],
    ] as const) {
      expect(record.tasks.map((t) => [t.id, t.stage, t.node, t.decision])).toEqual([
        [1, "prep", "s0", decision],
        [2, "prep", "s1", decision],
        [3, "prep", "s2", decision],
      ]);
      expect(record.counts[decision]).toBe(3);
    }
    // A stage run alone names no node.
    const alone: MemoriEvent[] = [];
    const solo = new Stage((x: number) => x, {
      name: "solo",
      logger: quiet,
      onEvent: (event) => alone.push(event),
    });
    await solo.run(1);
    expect(alone.length).toBeGreaterThan(0);
    expect(alone.some((e) => "node" in e)).toBe(false);
  });
});
