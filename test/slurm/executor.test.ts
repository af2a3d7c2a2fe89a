// The SLURM executor from code, where no job runs: stages it keeps in this process (`local`),
// and a job `sbatch` refuses (on the real cluster: a partition it does not have), which is a
// typed failure naming sbatch's own words. Jobs that run are tested through `memori run`
// (test/cli/run-slurm.test.ts): a job imports its module as Node does, not through vitest.
import { readdir } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { JobFailedError, MemoriError, Pipeline, Stage, slurmExecutor } from "../../src/index.js";
import { hasSlurm } from "../util/slurm.js";
import { recordingLogger, tempDir } from "../util/tmp.js";

describe("slurmExecutor", () => {
  it("runs the calls of its local stages in this process, submitting nothing", async () => {
    const dir = await tempDir();
    const executor = slurmExecutor({ module: "never-loaded.js", local: ["list"] });
    const list = new Stage(
      function list(n: number) {
        return Array.from({ length: n }, (_, i) => i);
      },
      { hashOutput: dir, outputs: "items", logger: recordingLogger().logger },
    );
    const pipeline = new Pipeline([["start", list]], { executor });
    expect(await pipeline.run(3)).toEqual({ items: [0, 1, 2] });
    expect(executor.submitted).toBe(0);
    expect(executor.name).toBe("slurm");
  });

  it.runIf(hasSlurm())(
    "a job sbatch refuses is a job-failed error (not-submitted) with sbatch's words; nothing recorded",
    async () => {
      const dir = await tempDir();
      const executor = slurmExecutor({
        module: "never-loaded.js",
        resources: { default: { partition: "no-such-partition" } },
      });
      const double = new Stage(
        function double(x: number) {
          return x * 2;
        },
        { hashOutput: dir, executor, logger: recordingLogger().logger },
      );
      const error = await double.run(2).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(JobFailedError);
      const { job, reason, stage, message } = error as JobFailedError;
      expect(reason).toBe("job-failed");
      expect(stage).toBe("double");
      expect(job.reason).toBe("not-submitted");
      expect(message).toMatch(
        /^stage "double": its job was not submitted: `sbatch .*` failed \(exit status 1\): sbatch: error: .*partition/i,
      );
      expect(executor.submitted).toBe(0);
      // The job file was written beside the state; no state was.
      expect(await readdir(dir)).toEqual([".memori-jobs"]);
      expect(await readdir(path.join(dir, ".memori-jobs", "double", "attempt-1"))).toContain(
        "job.json",
      );
    },
  );

  it("says what a MemoriError says for an input that cannot be sent to a job", async () => {
    const executor = slurmExecutor({ module: "never-loaded.js" });
    const call = new Stage(
      function call(fn: () => number) {
        return fn();
      },
      { executor, logger: recordingLogger().logger, hashOutput: undefined },
    );
    const error = await call.run(() => 1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MemoriError);
    expect((error as MemoriError).reason).toBe("unserializable");
    expect((error as MemoriError).message).toMatch(/inputs\.fn is a function/);
  });
});
