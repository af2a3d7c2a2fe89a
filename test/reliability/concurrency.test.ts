/**
 * Invariant 2, concurrent runs: of several processes (or pipelines in one process) running
 * the same stage with the same hashOutput at once, exactly one executes it; the others wait
 * and load its result. A lock left by a killed process is taken over.
 */
import { readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Pipeline, Stage } from "../../src/index.js";
import { countLines, runChild, startChild } from "../util/child.js";
import { recordingLogger, tempDir } from "../util/tmp.js";

const PROCESSES = 8;

describe("concurrent runs", () => {
  it(`${PROCESSES} processes running the same stage execute it once`, async () => {
    const work = await tempDir();
    const state = path.join(work, "state");
    const results = await Promise.all(
      Array.from({ length: PROCESSES }, () =>
        runChild("square-child.mjs", [state, work, "3", "400", String(PROCESSES)], {
          env: { MEMORI_VERBOSE: "1" },
        }),
      ),
    );
    const executions = await countLines(path.join(work, "executions.log"));
    const waited = results.filter((r) =>
      /waiting for another run of it to finish/.test(r.stderr),
    ).length;
    console.log(
      `concurrency: ${PROCESSES} processes, ${executions} execution(s), ${waited} said they waited, ${results.filter((r) => r.status !== 0).length} failed`,
    );
    for (const r of results) {
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).value).toBe(10);
    }
    expect(executions).toBe(1);
    expect(waited).toBe(PROCESSES - 1); // every other process met the lock (the barrier sees to it)
    expect(await readFile(path.join(work, "out.txt"), "utf8")).toBe("value=10\n".repeat(8000));
    expect((await readdir(state)).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("two pipelines in one process running the same stage execute it once", async () => {
    const dir = await tempDir();
    const calls = { n: 0 };
    const build = () => {
      const slow = new Stage(
        async function slow(x: number) {
          calls.n++;
          await new Promise((r) => setTimeout(r, 200));
          return x * 2;
        },
        { hashOutput: dir, outputs: "y", logger: recordingLogger().logger },
      );
      return new Pipeline([["start", slow]]);
    };
    const [a, b] = await Promise.all([build().run(21), build().run(21)]);
    expect(a).toEqual({ y: 42 });
    expect(b).toEqual({ y: 42 });
    expect(calls.n).toBe(1);
  });

  it("takes over a lock left by a killed process", async () => {
    const work = await tempDir();
    const state = path.join(work, "state");
    // Killed once its function runs (it holds the lock then), however long it took to start.
    const holder = startChild("square-child.mjs", [state, work, "4", "20000"]);
    const log = path.join(work, "executions.log");
    for (let i = 0; i < 600 && (await countLines(log)) === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    holder.child.kill("SIGKILL");
    const killed = await holder.done;
    expect(killed.signal).toBe("SIGKILL");
    expect((await readdir(state)).includes("square.lock")).toBe(true);
    const started = Date.now();
    const next = await runChild("square-child.mjs", [state, work, "4"], {
      env: { MEMORI_VERBOSE: "1" },
    });
    const took = Date.now() - started;
    expect(next.status, next.stderr).toBe(0);
    expect(next.stderr).toMatch(/the lock's holder \(pid \d+\) is gone; taking the lock over/);
    expect(JSON.parse(next.stdout).value).toBe(17);
    console.log(
      `concurrency: lock of a killed process taken over in ${took} ms (stale timeout 30000 ms)`,
    );
    expect(await countLines(path.join(work, "executions.log"))).toBe(2);
  });
});
