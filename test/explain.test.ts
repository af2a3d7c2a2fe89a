import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  MappedStage,
  Pipeline,
  Stage,
  describeReason,
  type Explanation,
  type RunOptions,
} from "../src/index.js";
import { recordingLogger, tempDir } from "./util/tmp.js";

const quiet = recordingLogger().logger;

/** Everything under a directory: names, sizes, mtimes and contents. */
async function snapshot(dir: string): Promise<string> {
  const lines: string[] = [];
  for (const name of (await readdir(dir, { recursive: true })).sort()) {
    const file = path.join(dir, name);
    const info = await stat(file);
    lines.push(`${name} ${info.mtimeMs} ${info.isFile() ? await readFile(file, "utf8") : "<dir>"}`);
  }
  return lines.join("\n");
}

function build(dir: string, calls: string[], variant: "v1" | "v2" = "v1") {
  const state = path.join(dir, "state");
  const strip = new Stage(
    async function strip(t1w: string) {
      calls.push("strip");
      const out = t1w.replace(".txt", "_brain.txt");
      await writeFile(out, (await readFile(t1w, "utf8")).toUpperCase());
      return out;
    },
    { outputs: "brain", hashOutput: state, logger: quiet },
  );
  // Two versions of the code (a closure variable would not count: only code is hashed).
  const measureV1 = async function measure(brain: string) {
    calls.push("measure");
    return (await readFile(brain, "utf8")).length + 1;
  };
  const measureV2 = async function measure(brain: string) {
    calls.push("measure");
    return (await readFile(brain, "utf8")).length + 2;
  };
  const measure = new Stage(variant === "v1" ? measureV1 : measureV2, {
    outputs: "volume",
    hashOutput: state,
    logger: quiet,
  });
  const report = new Stage(
    function report(volume: number) {
      calls.push("report");
      return `volume ${volume}`;
    },
    { outputs: "text", hashOutput: state, logger: quiet },
  );
  return new Pipeline([
    ["start", strip],
    [strip, measure],
    [measure, report],
  ]);
}

describe("dry runs", () => {
  it("explains every stage without running or writing anything", async () => {
    const dir = await tempDir();
    const input = path.join(dir, "t1.txt");
    await writeFile(input, "anatomy");
    const calls: string[] = [];
    const before = await snapshot(dir);
    const fresh = await build(dir, calls).explain(input);
    // Nothing has state yet: every stage runs whatever its upstream gives it (H8's finding 11).
    expect(fresh.map((e) => [e.stage, e.action, e.reason.kind])).toEqual([
      ["strip", "run", "first-run"],
      ["measure", "run", "first-run"],
      ["report", "run", "first-run"],
    ]);
    expect(await snapshot(dir)).toBe(before); // not even the state directory was created
    expect(calls).toEqual([]);

    await build(dir, calls).run(input);
    calls.length = 0;
    const afterRun = await snapshot(dir);
    const cached = await build(dir, calls).explain(input);
    expect(cached.map((e) => e.action)).toEqual(["skip", "skip", "skip"]);
    expect(await snapshot(dir)).toBe(afterRun);

    // a change in the middle: the stages before are known to be cached, so the changed one
    // is explained precisely and the one after it depends on its outputs
    const changed = await build(dir, calls, "v2").explain(input);
    expect(changed.map((e) => [e.stage, e.action, e.reason.kind])).toEqual([
      ["strip", "skip", "cached"],
      ["measure", "run", "function-changed"],
      ["report", "run-if-upstream-changes", "upstream-would-run"],
    ]);
    expect(describeReason(changed[2]!.reason)).toBe(
      "would run if upstream outputs change (measure would run)",
    );
    await writeFile(input, "other anatomy");
    const input2 = await build(dir, calls).explain(input);
    expect(input2[0]).toMatchObject({
      stage: "strip",
      action: "run",
      reason: { kind: "input-changed", name: "t1w" },
    });
    expect(calls).toEqual([]);
    expect(await snapshot(dir)).not.toContain("other anatomy".toUpperCase());
  });

  it("says a map or stage with no state runs, whatever its upstream gives it; with state, that it may", async () => {
    const dir = await tempDir();
    const state = path.join(dir, "state");
    const subjects = ["sub-01", "sub-02"].map((s) => path.join(dir, `${s}.txt`));
    for (const file of subjects) await writeFile(file, "scan");
    const make = (version: number, readonlyCaches: string[] = []) => {
      const clean = new MappedStage(
        new Stage((raw: string) => `${raw}.clean${version}`, {
          name: "clean",
          outputs: "cleaned",
          hashOutput: state,
          logger: quiet,
        }),
        ["raw"],
        { label: (v) => path.basename(String(v.raw), ".txt") },
      );
      const count = new MappedStage(
        new Stage((cleaned: string) => cleaned.length, {
          name: "count",
          outputs: "n",
          hashOutput: state,
          logger: quiet,
        }),
        ["cleaned"],
      );
      const total = new Stage((n: number[]) => n.length, {
        name: "total",
        hashOutput: state,
        logger: quiet,
      });
      return new Pipeline(
        [
          ["start", clean],
          [clean, count],
          [count, total],
        ],
        { readonlyCaches },
      );
    };
    const actions = (explained: readonly Explanation[]) =>
      explained
        .flatMap((e) => [e, ...(e.elements ?? [])])
        .map((e) => `${e.stage} ${e.action} ${describeReason(e.reason)}`);
    // H8's finding 11: a first dry run said "would run if upstream outputs change" of stages
    // that, having no state, run whatever upstream does.
    expect(actions(await make(1).explainNamed({ raw: subjects }))).toEqual([
      "clean run first run",
      "clean[sub-01] run first run",
      "clean[sub-02] run first run",
      "count run first run",
      "count[sub-01] run first run",
      "count[sub-02] run first run",
      "total run first run",
    ]);
    // A read-only cache may hold their state: then it depends.
    const shared = await tempDir();
    expect(actions(await make(1, [shared]).explainNamed({ raw: subjects })).slice(3)).toEqual([
      "count run-if-upstream-changes would run if upstream outputs change (clean[sub-01] would run)",
      "count[sub-01] run-if-upstream-changes would run if upstream outputs change (clean[sub-01] would run)",
      "count[sub-02] run-if-upstream-changes would run if upstream outputs change (clean[sub-02] would run)",
      "total run-if-upstream-changes would run if upstream outputs change (count would run)",
    ]);
    await make(1).runNamed({ raw: subjects });
    // With state, a change upstream makes what follows depend on it, as before.
    expect(actions(await make(2).explainNamed({ raw: subjects })).slice(3)).toEqual([
      "count run-if-upstream-changes would run if upstream outputs change (clean[sub-01] would run)",
      "count[sub-01] run-if-upstream-changes would run if upstream outputs change (clean[sub-01] would run)",
      "count[sub-02] run-if-upstream-changes would run if upstream outputs change (clean[sub-02] would run)",
      "total run-if-upstream-changes would run if upstream outputs change (count would run)",
    ]);
  });

  it("follows the lookup's order for a stage after one that would run: forced, forceSkip, only", async () => {
    const dir = await tempDir();
    const state = path.join(dir, "state");
    const make = (own: { readonlyCaches?: string[] } = {}, only?: string[]) => {
      // Not memoized: it always runs, so what follows waits on its outputs.
      const a = new Stage((x: number) => x + 1, { name: "a", outputs: "y", logger: quiet });
      const b = new Stage((y: number) => y * 2, {
        name: "b",
        outputs: "z",
        hashOutput: state,
        logger: quiet,
        ...own,
      });
      return new Pipeline(
        [
          ["start", a],
          [a, b],
        ],
        only === undefined ? {} : { only },
      );
    };
    const b = async (pipeline: Pipeline<never>, options: RunOptions = {}) => {
      const explained = (await pipeline.explainNamed({ x: 1 }, options))[1]!;
      return `${explained.action} ${describeReason(explained.reason)}`;
    };
    const waits = "run-if-upstream-changes would run if upstream outputs change (a would run)";
    expect(await b(make())).toBe("run first run");
    expect(await b(make(), { forceRun: true })).toBe("run forced");
    expect(await b(make(), { forceSkip: true })).toBe(waits); // loads what is stored, or fails
    expect(await b(make({ readonlyCaches: [dir] }))).toBe(waits); // a cache may hold its state
    expect(await b(make({}, ["sub-01"]))).toBe(waits); // only some elements: may be left out
    await make().runNamed({ x: 1 });
    expect(await b(make())).toBe(waits);
    expect(await b(make(), { forceRun: true })).toBe("run forced");
    process.env.MEMORI_REFRESH = "1";
    try {
      expect(await b(make())).toBe("run forced");
      // As the run does: forceSkip wins over MEMORI_REFRESH.
      expect(await b(make(), { forceSkip: true })).toBe(waits);
    } finally {
      delete process.env.MEMORI_REFRESH;
    }
  });

  it("explains a single stage", async () => {
    const dir = await tempDir();
    const stage = new Stage((x: number) => x + 1, { name: "inc", hashOutput: dir, logger: quiet });
    expect(await stage.explain(1)).toEqual({
      stage: "inc",
      action: "run",
      reason: { kind: "first-run" },
    });
    expect(await readdir(dir)).toEqual([]);
    await stage.run(1);
    expect(await stage.explain(1)).toEqual({
      stage: "inc",
      action: "skip",
      reason: { kind: "cached" },
    });
    expect((await stage.explain(2)).reason).toEqual({
      kind: "input-changed",
      name: "x",
      old: "1",
      new: "2",
    });
  });
});
