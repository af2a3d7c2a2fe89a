import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { appendFile, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { MemoriError, Pipeline, Stage } from "../../src/index.js";
import { recordingLogger, tempDir } from "../util/tmp.js";

const fixture = path.resolve(import.meta.dirname, "..", "fixtures", "square-child.mjs");
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("the lock between processes (lock.ts)", () => {
  // Proves waiting for another process's lock stops on an interrupt: the run rejects with
  // "interrupted" at once, not when the other process lets go of the lock.
  it("a run waiting for another process's lock stops when its signal aborts", async () => {
    const dir = await tempDir();
    const hashOutput = path.join(dir, "state");
    const work = path.join(dir, "work");
    await mkdir(work);
    // The child holds the lock of "square" for about 6 s.
    const child = spawn(process.execPath, [fixture, hashOutput, work, "3", "6000"], {
      stdio: "ignore",
    });
    const closed = new Promise((resolve) => child.on("close", resolve));
    try {
      const lockDir = path.join(hashOutput, "square.lock");
      const end = Date.now() + 10_000;
      while (!existsSync(lockDir)) {
        if (Date.now() > end) throw new Error("the child never took the lock");
        await sleep(20);
      }

      // The same stage as the fixture's (same name and hashOutput: the same lock).
      const square = new Stage(
        async function square(x: number, outFile: string, delay: number) {
          await appendFile(
            path.join(path.dirname(outFile), "executions.log"),
            `${process.pid} ${x}\n`,
          );
          await writeFile(outFile, "");
          for (let i = 0; i < 4; i++) {
            await appendFile(outFile, `value=${x * x + 1}\n`.repeat(2000));
            if (delay) await new Promise((r) => setTimeout(r, delay / 4));
          }
          return { value: x * x + 1, file: outFile };
        },
        { outputs: ["value", "file"], hashOutput, logger: recordingLogger().logger },
      );
      const controller = new AbortController();
      const pipeline = new Pipeline([["start", square]], { signal: controller.signal });
      let abortedAt = 0;
      setTimeout(() => {
        abortedAt = Date.now();
        controller.abort();
      }, 500);
      const error = await pipeline
        .run(3, path.join(work, "out.txt"), 6000)
        .catch((e: unknown) => e);
      const waited = Date.now() - abortedAt;
      expect(abortedAt).toBeGreaterThan(0);
      expect(error).toBeInstanceOf(MemoriError);
      expect((error as MemoriError).reason).toBe("interrupted");
      expect(waited).toBeLessThan(2000); // not the child's 6 s
      expect(child.exitCode).toBeNull(); // the child still held the lock
    } finally {
      child.kill("SIGKILL");
      await closed;
    }
  });
});
