import path from "node:path";
import { describe, expect, it } from "vitest";
import { MemoriError, Pipeline, Stage, type Executor } from "../../src/index.js";
import { startChild } from "../util/child.js";
import { commits } from "../util/procs.js";
import { recordingLogger, tempDir } from "../util/tmp.js";

const fixture = path.resolve(import.meta.dirname, "..", "fixtures", "executor-child.mjs");

describe("bounded execution (execute.ts)", () => {
  // Proves a custom executor hears an interrupt: its signal is aborted, and the run rejects
  // with "interrupted" when the executor gives up, not when its work would have ended.
  it("aborts a custom executor's signal when the run is interrupted", async () => {
    const dir = await tempDir();
    const seen: { signal?: AbortSignal; abortedAt?: number } = {};
    const remote: Executor = {
      name: "remote",
      execute({ signal }) {
        seen.signal = signal;
        return new Promise((resolve) => {
          const timer = setTimeout(() => resolve({ ok: true, returned: "finished" }), 8000);
          signal.addEventListener(
            "abort",
            () => {
              seen.abortedAt = Date.now();
              clearTimeout(timer);
              resolve({ ok: false, error: new Error("job cancelled") });
            },
            { once: true },
          );
        });
      },
    };
    const job = new Stage(
      function job(x: number) {
        return x * 2;
      },
      { hashOutput: dir, executor: remote, logger: recordingLogger().logger },
    );
    const controller = new AbortController();
    const pipeline = new Pipeline([["start", job]], { signal: controller.signal });
    const began = Date.now();
    setTimeout(() => controller.abort(), 300);
    const error = await pipeline.run(21).catch((e: unknown) => e);
    const took = Date.now() - began;
    expect(seen.signal).toBeDefined();
    expect(seen.signal?.aborted).toBe(true);
    expect(seen.abortedAt).toBeDefined();
    expect(error).toBeInstanceOf(MemoriError);
    expect((error as MemoriError).reason).toBe("interrupted");
    expect(took).toBeLessThan(5000); // well before the executor's 8 s
  });

  // Proves the same for an interrupt by a process signal (Ctrl-C): the executor's signal is
  // aborted, so the process ends at once, not when the executor's 8 s of work are over.
  it("aborts a custom executor's signal on SIGINT, and the process ends well before its work would", async () => {
    const dir = await tempDir();
    const { child, stdout, stderr, done } = startChild(fixture, [dir]);
    const end = Date.now() + 10_000;
    while (!stdout().includes("executing")) {
      if (Date.now() > end) throw new Error(`the executor never started: ${stderr()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const sent = Date.now();
    child.kill("SIGINT");
    const ended = await done;
    expect(ended.stdout).toContain("executor aborted");
    expect(Date.now() - sent).toBeLessThan(5000); // not the executor's 8 s
    expect(ended.signal === "SIGINT" || ended.status === 130).toBe(true);
    expect(ended.stdout).not.toContain("finished");
    expect(ended.stderr).toContain("cancelled: 1: job");
    expect(await commits(dir)).toEqual([]);
  });
});
