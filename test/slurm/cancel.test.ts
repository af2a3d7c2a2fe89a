// Cancelling real jobs (scripts/slurm-local.sh; skipped without it, failing in CI): a running
// job and a whole array, some of it still queued, end CANCELLED.
import { describe, expect, it } from "vitest";
import { cancel } from "../../src/slurm/cancel.js";
import { JobPoller } from "../../src/slurm/poller.js";
import { submit } from "../../src/slurm/submit.js";
import { countingRunner, hasSlurm } from "../util/slurm.js";
import { tempDir } from "../util/tmp.js";

const JOB_TIMEOUT = 180_000;

describe.runIf(hasSlurm())("cancel, on the cluster", () => {
  it(
    "cancels a running job: it ends CANCELLED",
    async () => {
      const dir = await tempDir();
      const result = await submit({
        name: "cancelled",
        command: ["sleep", "600"],
        logDir: dir,
        resources: { memory: 32, time: 15 },
      });
      if (!result.ok) throw new Error(result.error.message);
      const { id } = result.value;
      const states: string[] = [];
      let started = () => {};
      const running = new Promise<void>((resolve) => (started = resolve));
      const poller = new JobPoller({
        minIntervalMs: 200,
        onState: (_, state) => {
          states.push(state);
          if (state === "RUNNING") started();
        },
      });
      const ended = poller.wait(id);
      await running;
      expect(await cancel([id])).toEqual({ ok: true, value: undefined });
      expect(await ended).toMatchObject({
        ok: true,
        value: { id, outcome: "cancelled", state: "CANCELLED", ok: false },
      });
      expect(states).toContain("RUNNING");
    },
    JOB_TIMEOUT,
  );

  it(
    "cancels a whole array by its id, queued elements too, in one scancel",
    async () => {
      const dir = await tempDir();
      const result = await submit({
        name: "cancelled-array",
        command: ["sleep", "600"],
        logDir: dir,
        array: { count: 3, parallel: 1 },
        resources: { memory: 32, time: 15 },
      });
      if (!result.ok) throw new Error(result.error.message);
      const poller = new JobPoller({ minIntervalMs: 200 });
      const ends = Promise.all(result.value.jobs.map((job) => poller.wait(job.id)));
      const { runner, ran } = countingRunner();
      // A job that already ended, or never was, is no error.
      expect(await cancel([result.value.id, "999999997"], { runner })).toEqual({
        ok: true,
        value: undefined,
      });
      expect(ran).toEqual([{ program: "scancel", args: [result.value.id, "999999997"], tag: 0 }]);
      expect((await ends).map((end) => end.ok && end.value.outcome)).toEqual([
        "cancelled",
        "cancelled",
        "cancelled",
      ]);
    },
    JOB_TIMEOUT,
  );
});
