// Submitting real jobs to the SLURM cluster (scripts/slurm-local.sh starts a one-node one;
// without it these skip, and fail in CI) and waiting for them: a job that writes a file, one
// that exits 3 with its log's tail, an array job, and what sbatch refuses.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { logTail } from "../../src/slurm/log-tail.js";
import { JobPoller } from "../../src/slurm/poller.js";
import { submit, type Submission } from "../../src/slurm/submit.js";
import { hasSlurm } from "../util/slurm.js";
import { tempDir } from "../util/tmp.js";

const JOB_TIMEOUT = 180_000;

function submitted(result: Awaited<ReturnType<typeof submit>>): Submission {
  if (!result.ok) throw new Error(result.error.message);
  return result.value;
}

describe.runIf(hasSlurm())("submit, on the cluster", () => {
  it(
    "runs a job that writes a file, and polls it until COMPLETED",
    async () => {
      const dir = await tempDir();
      const job = submitted(
        await submit({
          name: "writes-a-file",
          command: ["bash", "-c", 'echo "made by $SLURM_JOB_ID" > made.txt; echo wrote it'],
          logDir: path.join(dir, "logs"),
          cwd: dir,
          resources: { cpus: 1, memory: "100M", time: 5 },
        }),
      );
      expect(job.id).toMatch(/^\d+$/);
      expect(job.jobs).toEqual([
        {
          id: job.id,
          output: path.join(dir, "logs", "writes-a-file.out"),
          error: path.join(dir, "logs", "writes-a-file.err"),
        },
      ]);
      const poller = new JobPoller({ minIntervalMs: 200, maxIntervalMs: 2000 });
      const end = await poller.wait(job.id);
      expect(end).toMatchObject({
        ok: true,
        value: { id: job.id, outcome: "completed", ok: true, exitCode: 0, signal: 0 },
      });
      expect(await readFile(path.join(dir, "made.txt"), "utf8")).toBe(`made by ${job.id}\n`);
      expect(await logTail(job.jobs[0]?.output ?? "")).toEqual({ ok: true, value: "wrote it" });
      expect(await readFile(job.script, "utf8")).toMatch(/^#!\/bin\/bash\n/);
    },
    JOB_TIMEOUT,
  );

  it(
    "reports a job that exits 3 as FAILED with exit code 3, and its log's tail",
    async () => {
      const dir = await tempDir();
      const job = submitted(
        await submit({
          name: "exits-3",
          command: ["bash", "-c", "echo starting; echo 'bad input: sub-07' >&2; exit 3"],
          logDir: dir,
          cwd: dir,
        }),
      );
      const end = await new JobPoller({ minIntervalMs: 200 }).wait(job.id);
      expect(end).toMatchObject({
        ok: true,
        value: {
          outcome: "failed",
          ok: false,
          state: "FAILED",
          exitCode: 3,
          signal: 0,
          reason: "NonZeroExitCode",
        },
      });
      expect(await logTail(job.jobs[0]?.error ?? "")).toEqual({
        ok: true,
        value: "bad input: sub-07",
      });
    },
    JOB_TIMEOUT,
  );

  it(
    "submits an array: each element sees its index and writes its own %a logs",
    async () => {
      const dir = await tempDir();
      const job = submitted(
        await submit({
          name: "array",
          command: [
            "bash",
            "-c",
            'echo "element $SLURM_ARRAY_TASK_ID" > "el-$SLURM_ARRAY_TASK_ID.txt"; echo "out $SLURM_ARRAY_TASK_ID"; [ "$SLURM_ARRAY_TASK_ID" != 3 ] || exit 7',
          ],
          logDir: path.join(dir, "logs"),
          cwd: dir,
          array: { count: 5 },
          resources: { memory: 64, time: "10:00" },
        }),
      );
      expect(job.jobs.map((element) => element.id)).toEqual(
        [0, 1, 2, 3, 4].map((i) => `${job.id}_${i}`),
      );
      const poller = new JobPoller({ minIntervalMs: 200, maxIntervalMs: 2000 });
      const ends = await Promise.all(job.jobs.map((element) => poller.wait(element.id)));
      expect(ends.map((end) => end.ok && [end.value.outcome, end.value.exitCode])).toEqual([
        ["completed", 0],
        ["completed", 0],
        ["completed", 0],
        ["failed", 7],
        ["completed", 0],
      ]);
      for (const [i, element] of job.jobs.entries()) {
        expect(await readFile(path.join(dir, `el-${i}.txt`), "utf8")).toBe(`element ${i}\n`);
        expect(path.basename(element.output)).toBe(`array.${i}.out`);
        expect(await readFile(element.output, "utf8")).toBe(`out ${i}\n`);
      }
    },
    JOB_TIMEOUT,
  );

  it("says what sbatch refused, with its stderr", async () => {
    const dir = await tempDir();
    const result = await submit({
      name: "nowhere",
      command: ["true"],
      logDir: dir,
      resources: { partition: "memori-no-such-partition" },
    });
    expect(result).toMatchObject({
      ok: false,
      error: {
        reason: "command-failed",
        message: expect.stringMatching(
          /^`sbatch --parsable .*` failed \(exit status 1\): .*partition/i,
        ),
        stderr: expect.stringMatching(/partition/i),
      },
    });
  });
});
