import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it, vi } from "vitest";
import { Stage, stderrLogger, type Logger } from "../../src/index.js";
import { logsInfo } from "../../src/logger.js";
import { recordingLogger, tempDir } from "../util/tmp.js";

const quiet = recordingLogger().logger;

describe("retries (run.ts)", () => {
  // Proves a partial output left by a failed attempt stays the call's own: the attempt that
  // succeeds overwrites it, and the next run (nothing changed) is cached, not input-changed;
  // whether the stage returns the file, or only writes it through its argument (then it is
  // tracked as written, not compared as an input).
  it.each([
    ["returned path", true],
    ["written through the argument", false],
  ])(
    "a partial output file of a failed attempt does not make the next run re-run (%s)",
    async (_, returnsPath) => {
      const dir = await tempDir();
      const inFile = path.join(dir, "in.txt");
      const outFile = path.join(dir, "out.txt");
      await writeFile(inFile, "data");
      let attempts = 0;
      const stage = new Stage(
        async function writeOut(inFile: string, outFile: string) {
          attempts++;
          if (attempts === 1) {
            await writeFile(outFile, "part");
            throw new Error("failed half-way");
          }
          await writeFile(outFile, `${await readFile(inFile, "utf8")} in full`);
          return returnsPath ? outFile : "done";
        },
        { hashOutput: path.join(dir, "state"), retries: 1, logger: quiet },
      );
      const output = returnsPath ? outFile : "done";
      expect(await stage.run(inFile, outFile)).toEqual({ output });
      expect(stage.lastDecision).toMatchObject({ action: "run", attempt: 2 });
      expect(attempts).toBe(2);
      expect(await readFile(outFile, "utf8")).toBe("data in full");

      expect(await stage.run(inFile, outFile)).toEqual({ output });
      expect(stage.lastDecision?.reason).toEqual({ kind: "cached" });
      expect(attempts).toBe(2);

      // Still the stage's own: a hand edit of it re-runs the stage.
      await writeFile(outFile, "edited");
      await stage.run(inFile, outFile);
      expect(stage.lastDecision?.action).toBe("run");
      expect(await readFile(outFile, "utf8")).toBe("data in full");
    },
  );
});

describe("forceSkip with forceHashWrite (run.ts)", () => {
  // Proves forceSkip + forceHashWrite accepts files written through arguments as they are now:
  // the next plain run is cached, and the hand edit stays.
  it("accepts a hand-edited file written through an argument: the next run is cached", async () => {
    const dir = await tempDir();
    const inFile = path.join(dir, "in.txt");
    const outFile = path.join(dir, "out.txt");
    await writeFile(inFile, "data");
    let runs = 0;
    const stage = new Stage(
      async function writeThrough(inFile: string, outFile: string) {
        runs++;
        await writeFile(outFile, `${await readFile(inFile, "utf8")} processed`);
        return "done";
      },
      { hashOutput: path.join(dir, "state"), logger: quiet },
    );
    await stage.run(inFile, outFile);
    expect(runs).toBe(1);

    await writeFile(outFile, "edited by hand");
    expect(
      await stage.runNamed({ inFile, outFile }, { forceSkip: true, forceHashWrite: true }),
    ).toEqual({ output: "done" });
    expect(runs).toBe(1);

    expect(await stage.run(inFile, outFile)).toEqual({ output: "done" });
    expect(stage.lastDecision?.reason).toEqual({ kind: "cached" });
    expect(runs).toBe(1);
    expect(await readFile(outFile, "utf8")).toBe("edited by hand");
  });
});

describe("decision messages (run.ts)", () => {
  // Proves the skip message is made for every logger that may use it: a logger of the caller's
  // own and stderrLogger with verbose get it word for word; only the quiet stderrLogger (which
  // prints no decisions) is spared making it.
  it("tells a hit to the stage's logger unless it is the quiet stderr logger", async () => {
    const dir = await tempDir();
    const log = recordingLogger();
    const make = (logger: Logger) =>
      new Stage(
        function twice(x: number) {
          return x * 2;
        },
        { hashOutput: path.join(dir, "state"), logger },
      );
    await make(quiet).run(2);
    await make(log.logger).run(2);
    expect(log.info).toEqual(['stage "twice": skipped (cached)']);

    const written: string[] = [];
    const spy = vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    try {
      await make(stderrLogger(true)).run(2);
      await make(stderrLogger(false)).run(2);
    } finally {
      spy.mockRestore();
    }
    expect(written).toEqual(['memori: stage "twice": skipped (cached)\n']);
    expect(logsInfo(stderrLogger(false))).toBe(false);
    expect(logsInfo(stderrLogger(true))).toBe(true);
    expect(logsInfo(log.logger)).toBe(true);
    expect(logsInfo({ info: () => undefined, warn: () => undefined })).toBe(true);
  });
});

describe("a hit decided at once (run.ts)", () => {
  // Proves a hit that waits for nothing still fails as a value, still tells its listeners, and
  // still has its outcome: an alias broken after the first run fails the cached run the same
  // way it fails a run; a bad argument fails before any state is read.
  it("fails, tells and returns through the same paths as a hit that waits", async () => {
    const dir = await tempDir();
    const events: string[] = [];
    const stage = new Stage(
      function pair(a: number) {
        return [a, a * 2];
      },
      {
        outputs: ["one", "two"],
        hashOutput: path.join(dir, "state"),
        logger: quiet,
        onEvent: (e) => events.push(e.type),
      },
    );
    expect(await stage.run(2)).toEqual({ one: 2, two: 4 });
    events.length = 0;
    stage.aliases.double = "two";
    expect(await stage.run(2)).toEqual({ one: 2, two: 4, double: 4 });
    expect(stage.fromCache).toBe(true);
    expect(events).toEqual(["stage:start", "stage:cached"]);
    events.length = 0;
    stage.aliases.wrong = "three";
    await expect(stage.run(2)).rejects.toMatchObject({
      reason: "invalid-option",
      message: expect.stringMatching(/alias "wrong" points to "three"/),
    });
    expect(events).toEqual(["stage:start", "stage:error"]);
    delete stage.aliases.wrong;
    // @ts-expect-error -- too many arguments: a compile error, and a run-time one for JavaScript
    await expect(stage.run(2, 3)).rejects.toMatchObject({ reason: "invalid-argument" });
    expect(stage.lastDecision).toMatchObject({ action: "skip", reason: { kind: "cached" } });
  });
});
