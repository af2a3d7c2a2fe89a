/**
 * What a process stage's tree used, sampled from /proc (process-usage.ts): the peak RSS a
 * stage's `stage:process` event (and so its run record) gives is the one GNU time reports for
 * the same command, within 10%. Real processes; Linux only.
 */
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Pipeline, Stage, runProcess, type MemoriEvent } from "../src/index.js";
import { gnuTime, hasGnuTime } from "./util/gnu-time.js";
import { recordingLogger, tempDir } from "./util/tmp.js";

/** Allocates 200 MiB (every page touched) and holds it for a second. */
const HOG = [
  process.execPath,
  "-e",
  "const b = Buffer.alloc(200 * 1024 * 1024, 1); setTimeout(() => b.length, 1000);",
];

type ProcessEvent = Extract<MemoriEvent, { type: "stage:process" }>;

const onLinux = existsSync("/proc/self/stat");

describe.runIf(onLinux)("a process stage's resource usage", () => {
  it.runIf(hasGnuTime())(
    "records the peak RSS GNU time reports, within 10%, run directly and under strace",
    async () => {
      const dir = await tempDir();
      const events: ProcessEvent[] = [];
      const hog = async function hog(n: number) {
        await runProcess(HOG);
        return n;
      };
      const quiet = recordingLogger().logger;
      // Memoized (its files traced with strace, when strace runs here), and not.
      const traced = new Stage(hog, { name: "traced", hashOutput: dir, logger: quiet });
      const direct = new Stage(hog, { name: "direct", logger: quiet });
      await new Pipeline(
        [
          ["start", traced],
          ["start", direct],
        ],
        {
          concurrency: 1,
          keepRuns: 0,
          onEvent: (e) => void (e.type === "stage:process" && events.push(e)),
        },
      ).run(1);
      const reference = gnuTime(HOG);
      expect(events.map((e) => e.stage).sort()).toEqual(["direct", "traced"]);
      for (const event of events) {
        expect(event).toMatchObject({ exitCode: 0, command: HOG });
        const usage = event.usage!;
        expect(usage.samples).toBeGreaterThan(1);
        const ratio = usage.peakRss / reference.peakRss;
        if (process.env.MEMORI_TEST_SHOW === "1") {
          console.log(event.stage, usage, reference);
        }
        expect(
          Math.abs(ratio - 1),
          `${event.stage}: ${usage.peakRss} / ${reference.peakRss}`,
        ).toBeLessThan(0.1);
        expect(usage.userMs + usage.sysMs).toBeGreaterThan(0);
        expect(usage.rchar).toBeGreaterThan(0);
      }
    },
  );

  it("is told to a stage's own listener, once per process", async () => {
    const dir = await tempDir();
    const events: MemoriEvent[] = [];
    const stage = new Stage(
      async function quick() {
        await runProcess(["true"]);
        return 1;
      },
      { name: "quick", hashOutput: dir, logger: recordingLogger().logger },
    );
    await stage.run();
    const heard = new Stage(
      async function quick2() {
        await runProcess(["true"]);
        return 1;
      },
      { name: "quick2", logger: recordingLogger().logger, onEvent: (e) => void events.push(e) },
    );
    await heard.run();
    expect(events.filter((e) => e.type === "stage:process")).toHaveLength(1);
  });
});
