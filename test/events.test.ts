import { execFileSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { Pipeline, Stage, terminalReporter, type MemoriEvent } from "../src/index.js";
import { runChild } from "./util/child.js";
import { recordingLogger, tempDir } from "./util/tmp.js";

const quiet = recordingLogger().logger;

function small(dir: string, onEvent: (e: MemoriEvent) => void) {
  const a = new Stage((x: number) => x + 1, {
    name: "a",
    outputs: "y",
    hashOutput: dir,
    logger: quiet,
  });
  const b = new Stage(
    (y: number) => {
      if (y > 100) throw new Error("too big");
      return y * 2;
    },
    { name: "b", outputs: "z", hashOutput: dir, logger: quiet },
  );
  return new Pipeline(
    [
      ["start", a],
      [a, b],
    ],
    { onEvent, concurrency: 1 },
  );
}

describe("events", () => {
  it("reports the sequence of a small pipeline, with timings", async () => {
    const dir = await tempDir();
    const events: MemoriEvent[] = [];
    await small(dir, (e) => events.push(e)).run(1);
    expect(events.map((e) => ("stage" in e ? `${e.type} ${e.stage}` : e.type))).toEqual([
      "pipeline:start",
      "stage:start a",
      "stage:run a",
      "stage:done a",
      "stage:start b",
      "stage:run b",
      "stage:done b",
      "pipeline:done",
    ]);
    expect(events.every((e) => typeof e.time === "number")).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: "pipeline:done", ran: 2, cached: 0, failed: 0 });
    events.length = 0;
    await small(dir, (e) => events.push(e)).run(1);
    expect(events.map((e) => ("stage" in e ? `${e.type} ${e.stage}` : e.type))).toEqual([
      "pipeline:start",
      "stage:start a",
      "stage:cached a",
      "stage:start b",
      "stage:cached b",
      "pipeline:done",
    ]);
    events.length = 0;
    await small(dir, (e) => events.push(e))
      .run(200)
      .catch(() => undefined);
    expect(events.find((e) => e.type === "stage:error")).toMatchObject({
      stage: "b",
      error: expect.any(Error),
    });
    expect(events.at(-1)).toMatchObject({ type: "pipeline:done", failed: 1 });
  });

  it("reports the progress of long file hashes", async () => {
    const dir = await tempDir();
    const big = path.join(dir, "big.bin");
    await writeFile(big, Buffer.alloc(150 * 1024 * 1024, 1));
    const events: MemoriEvent[] = [];
    const size = new Stage((file: string) => file.length, {
      name: "size",
      hashOutput: dir,
      logger: quiet,
    });
    await new Pipeline([["start", size]], { onEvent: (e) => events.push(e) }).run(big);
    const progress = events.filter((e) => e.type === "hash:progress");
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress[0]).toMatchObject({ file: big, total: 150 * 1024 * 1024 });
  });

  it("a listener that throws does not fail the pipeline", async () => {
    const dir = await tempDir();
    const results = await small(dir, () => {
      throw new Error("broken reporter");
    }).run(1);
    expect(results).toEqual({ y: 2, z: 4 });
  });
});

describe("terminal reporter", () => {
  it("writes plain lines when not on a terminal (CI, log files)", async () => {
    const dir = await tempDir();
    const child = await runChild("reporter-child.mjs", [dir]);
    expect(child.status, child.stderr).toBe(0);
    const lines = child.stderr.trim().split("\n");
    expect(lines[0]).toBe("memori: pipeline of 3 stages started");
    expect(lines).toContain("memori: align: running (first run)");
    expect(lines.some((l) => /^memori: align: done in \d+ ms$/.test(l))).toBe(true);
    expect(lines.at(-1)).toMatch(/^memori: pipeline done in .*: 3 ran, 0 cached, 0 failed$/);
    expect(child.stderr).not.toContain("\x1b[");
    const again = await runChild("reporter-child.mjs", [dir]);
    expect(again.stderr).toContain("memori: align: cached");
  });

  it("shows live status lines and a progress bar on a terminal (a real pseudo-terminal)", async () => {
    const dir = await tempDir();
    const fixture = path.resolve(import.meta.dirname, "fixtures", "reporter-child.mjs");
    // `script` runs the child on a pseudo-terminal: its stderr is a TTY.
    const output = execFileSync(
      "script",
      ["-qfec", `"${process.execPath}" "${fixture}" "${dir}"`, "/dev/null"],
      {
        encoding: "utf8",
        env: { ...process.env, COLUMNS: "100" },
      },
    );
    expect(output).toContain("\x1b[J"); // the live block is redrawn in place
    const escape = String.fromCharCode(27);
    expect(output).toMatch(new RegExp(`${escape}\\[\\d+A`)); // cursor moved up over the previous block
    expect(output).toMatch(/▸ align {2}running \(first run\)/);
    expect(output).toMatch(/\[#{24}\] 3\/3 stages, 0 cached, 0 failed/);
    expect(output).toMatch(/✓ align ran in \d+ ms \(first run\)/);
    expect(output).not.toContain("memori: pipeline of");
  });

  it("can be forced either way and written to any stream", async () => {
    const stream = new PassThrough();
    let text = "";
    stream.on("data", (d: Buffer) => (text += d.toString()));
    const report = terminalReporter({ stream, live: false });
    report({ type: "stage:cached", stage: "x", reason: { kind: "cached" }, ms: 3, time: 0 });
    expect(text).toBe("memori: x: cached (3 ms)\n");
    report({ type: "pipeline:start", stages: 1, time: 0 });
    expect(text).toContain("memori: pipeline of 1 stage started\n");
  });
});
