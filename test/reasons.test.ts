/** One test per reason a stage can give for running or skipping (issue: "Why did it re-run?"). */
import { readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Stage, describeReason, hashable } from "../src/index.js";
import { recordingLogger, tempDir } from "./util/tmp.js";

const quiet = recordingLogger().logger;

afterEach(() => {
  delete process.env.MEMORI_TEST_TOOL_MODE;
  delete process.env.MEMORI_REFRESH;
});

function fileStage(dir: string) {
  return new Stage(
    async function copy(input: string, dest: string) {
      await writeFile(dest, await readFile(input));
      return dest;
    },
    { hashOutput: path.join(dir, "state"), logger: quiet },
  );
}

async function twice(dir: string) {
  const input = path.join(dir, "in.txt");
  const dest = path.join(dir, "out.txt");
  await writeFile(input, "one");
  await fileStage(dir).run(input, dest);
  return { input, dest };
}

describe("reasons", () => {
  it("first run", async () => {
    const dir = await tempDir();
    const stage = fileStage(dir);
    await writeFile(path.join(dir, "in.txt"), "x");
    await stage.run(path.join(dir, "in.txt"), path.join(dir, "out.txt"));
    expect(stage.lastDecision).toEqual({
      stage: "copy",
      action: "run",
      reason: { kind: "first-run" },
    });
    expect(describeReason(stage.lastDecision!.reason)).toBe("first run");
  });

  it("cached", async () => {
    const dir = await tempDir();
    const { input, dest } = await twice(dir);
    const stage = fileStage(dir);
    await stage.run(input, dest);
    expect(stage.lastDecision).toEqual({
      stage: "copy",
      action: "skip",
      reason: { kind: "cached" },
    });
  });

  it("function changed, naming the hashable callee", async () => {
    const dir = await tempDir();
    const scale = hashable(function reasonScale(x: number) {
      return x * 2;
    });
    const make = () =>
      new Stage((x: number) => reasonScale(x) + 1, {
        name: "scaled",
        hashOutput: dir,
        logger: quiet,
      });
    let reasonScale = scale;
    await make().run(1);
    reasonScale = hashable(function reasonScale(x: number) {
      return x * 3;
    });
    const stage = make();
    expect(await stage.run(1)).toEqual({ output: 4 });
    expect(stage.lastDecision?.reason).toEqual({
      kind: "function-changed",
      changed: ["reasonScale"],
    });
    expect(describeReason(stage.lastDecision!.reason)).toBe("function changed: reasonScale");
    const edited = new Stage((x: number) => reasonScale(x) + 2, {
      name: "scaled",
      hashOutput: dir,
      logger: quiet,
    });
    await edited.run(1);
    expect(edited.lastDecision?.reason).toEqual({ kind: "function-changed", changed: ["scaled"] });
  });

  it("input changed, with old and new values shortened (a file by its hash)", async () => {
    const dir = await tempDir();
    const { input, dest } = await twice(dir);
    await writeFile(input, "two");
    const stage = fileStage(dir);
    await stage.run(input, dest);
    const reason = stage.lastDecision?.reason;
    expect(reason).toMatchObject({ kind: "input-changed", name: "input" });
    expect(describeReason(reason!)).toMatch(
      /^input changed: input \(.*in\.txt@[0-9a-f]{12} -> .*in\.txt@[0-9a-f]{12}\)$/,
    );
    const values = new Stage((n: number, label: string) => `${label}${n}`, {
      name: "values",
      hashOutput: dir,
      logger: quiet,
    });
    await values.run(1, "a".repeat(100));
    await values.run(2, "a".repeat(100));
    expect(describeReason(values.lastDecision!.reason)).toBe("input changed: n (1 -> 2)");
    await values.run(2, "b".repeat(100));
    expect(describeReason(values.lastDecision!.reason)).toMatch(
      /^input changed: label \("a{56}\.\.\. -> "b{56}\.\.\.\)$/,
    );
  });

  it("output missing", async () => {
    const dir = await tempDir();
    const { input, dest } = await twice(dir);
    await rm(dest);
    const stage = fileStage(dir);
    await stage.run(input, dest);
    expect(stage.lastDecision?.reason).toEqual({ kind: "output-missing", path: dest });
  });

  it("output modified", async () => {
    const dir = await tempDir();
    const { input, dest } = await twice(dir);
    await writeFile(dest, "edited");
    const stage = fileStage(dir);
    await stage.run(input, dest);
    expect(stage.lastDecision?.reason).toEqual({ kind: "output-modified", path: dest });
  });

  it("output names changed", async () => {
    const dir = await tempDir();
    const fn = function pair() {
      return [1, 2];
    };
    await new Stage(fn, { outputs: ["a", "b"], hashOutput: dir, logger: quiet }).run();
    const stage = new Stage(fn, { outputs: ["a", "c"], hashOutput: dir, logger: quiet });
    await stage.run();
    expect(stage.lastDecision?.reason).toEqual({
      kind: "output-names-changed",
      old: ["a", "b"],
      new: ["a", "c"],
    });
    expect(describeReason(stage.lastDecision!.reason)).toBe("output names changed (a, b -> a, c)");
  });

  it("forced, by forceRun or MEMORI_REFRESH=1", async () => {
    const dir = await tempDir();
    const { input, dest } = await twice(dir);
    const stage = fileStage(dir);
    await stage.runNamed({ input, dest }, { forceRun: true });
    expect(stage.lastDecision).toMatchObject({ action: "run", reason: { kind: "forced" } });
    process.env.MEMORI_REFRESH = "1";
    await stage.run(input, dest);
    expect(stage.lastDecision).toMatchObject({ action: "run", reason: { kind: "forced" } });
  });

  it("state unreadable", async () => {
    const dir = await tempDir();
    const { input, dest } = await twice(dir);
    await writeFile(path.join(dir, "state", "copy.outputs"), "{ torn");
    const stage = fileStage(dir);
    await stage.run(input, dest);
    expect(stage.lastDecision?.reason).toMatchObject({
      kind: "state-unreadable",
      file: path.join(dir, "state", "copy.outputs"),
    });
    expect(describeReason(stage.lastDecision!.reason)).toMatch(
      /^state unreadable: .*copy\.outputs is not valid JSON/,
    );
  });

  it("an environment variable listed in `env` is an input", async () => {
    const dir = await tempDir();
    const make = () =>
      new Stage(() => process.env.MEMORI_TEST_TOOL_MODE ?? "default", {
        name: "tool",
        env: ["MEMORI_TEST_TOOL_MODE"],
        hashOutput: dir,
        logger: quiet,
      });
    expect(await make().run()).toEqual({ output: "default" });
    process.env.MEMORI_TEST_TOOL_MODE = "NIFTI_GZ";
    const stage = make();
    expect(await stage.run()).toEqual({ output: "NIFTI_GZ" });
    expect(describeReason(stage.lastDecision!.reason)).toBe(
      'input changed: env:MEMORI_TEST_TOOL_MODE (undefined -> "NIFTI_GZ")',
    );
    const again = make();
    await again.run();
    expect(again.fromCache).toBe(true);
    expect(() => new Stage(() => 1, { name: "bad", env: ["NOT A NAME"] })).toThrow(
      /`env` to be an array of environment variable names/,
    );
  });
});
