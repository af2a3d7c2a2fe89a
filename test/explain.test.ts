import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Pipeline, Stage, describeReason } from "../src/index.js";
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
    expect(fresh.map((e) => [e.stage, e.action, e.reason.kind])).toEqual([
      ["strip", "run", "first-run"],
      ["measure", "run-if-upstream-changes", "upstream-would-run"],
      ["report", "run-if-upstream-changes", "upstream-would-run"],
    ]);
    expect(describeReason(fresh[1]!.reason)).toBe(
      "would run if upstream outputs change (strip would run)",
    );
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
