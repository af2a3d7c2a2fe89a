/**
 * Issue 14's "done means", on the real one-node cluster (scripts/slurm-local.sh; skipped without
 * one, failing in CI), with test/fixtures/slurm/cohort.js: a map over eight subjects, each
 * element reading only its own file, and a group stage. The same module runs with `--executor
 * local` and `--executor slurm` in two copies of a project and gives the same results and state;
 * a second SLURM run submits no job; a changed subject file submits its element's job and the
 * group's, nothing else; a job past its `time` is reported as timed out with its log's tail.
 * Jobs are counted from what the run says it submitted (MEMORI_VERBOSE), each id checked with
 * SLURM itself (`scontrol show job`), and from the job directories left untouched.
 */
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "vitest";
import {
  SUBJECTS,
  cohortProject,
  cohortState,
  ownTempDir,
  record,
  runCohort,
  stateNames,
  states,
  submitted,
  t1w,
} from "../util/cohort.js";
import { hasSlurm } from "../util/slurm.js";
import { snapshotTree } from "../util/tmp.js";

describe.runIf(hasSlurm())("the cohort pipeline, locally and on SLURM (issue 14)", () => {
  it.concurrent(
    "local and SLURM runs agree; a second SLURM run submits nothing; a changed subject submits its job and the group's",
    async ({ expect, onTestFinished }) => {
      const local = await cohortProject({}, path.join(await ownTempDir(onTestFinished), "p"));
      const slurm = await cohortProject({}, path.join(await ownTempDir(onTestFinished), "p"));
      const here = await runCohort(local, "--executor", "local");
      expect(here.stderr).toMatch(/pipeline done in .*: 9 ran, 0 cached, 0 failed/);
      expect(here.status).toBe(0);
      const first = await runCohort(slurm, "--executor", "slurm");
      expect(first.stderr).toMatch(/pipeline done in .*: 9 ran, 0 cached, 0 failed/);
      expect(first.status).toBe(0);
      const calls = [...SUBJECTS.map((s) => `measure[${s}]`), "group"];
      const jobs = submitted(first);
      expect([...jobs.keys()].sort()).toEqual(calls.sort());
      for (const [call, id] of jobs) {
        const job = await record(id);
        expect(job.get("JobState"), call).toBe("COMPLETED");
        expect(job.get("WorkDir")).toBe(slurm);
      }

      // The same results and the same state files.
      const outputs = ["group.tsv", ...SUBJECTS.map((s) => `${s}_scaled.txt`)];
      for (const name of outputs) {
        const read = (project: string) => readFile(path.join(project, "derivatives", name), "utf8");
        expect(await read(slurm), name).toBe(await read(local));
      }
      expect(await readFile(path.join(slurm, "derivatives", "group.tsv"), "utf8")).toMatch(
        /^sub-01_scaled.txt\t2 4 6\n.*sub-08_scaled.txt\t16 18 20\n$/s,
      );
      const slurmStates = await states(slurm);
      expect(slurmStates.size).toBe(27); // 8 elements and the group, 3 files each
      expect(slurmStates).toEqual(await states(local));

      // Again: everything cached, no job submitted, no job directory touched.
      const jobsDir = path.join(cohortState(slurm), ".memori-jobs");
      const before = await snapshotTree(jobsDir);
      const again = await runCohort(slurm, "--executor", "slurm");
      expect(again.stderr).toMatch(/pipeline done in .*: 0 ran, 9 cached, 0 failed/);
      expect(submitted(again).size).toBe(0);
      expect(await snapshotTree(jobsDir)).toBe(before);

      // One subject's file changed: its element's job and the group's, nothing else.
      await writeFile(t1w(slurm, "sub-04"), "40 50 60\n");
      await writeFile(t1w(local, "sub-04"), "40 50 60\n");
      const changed = await runCohort(slurm, "--executor", "slurm");
      expect(changed.stderr).toMatch(/pipeline done in .*: 2 ran, 7 cached, 0 failed/);
      expect(changed.stderr).toMatch(/measure\[sub-04\]: running \(input changed: t1w/);
      const resubmitted = submitted(changed);
      expect([...resubmitted.keys()].sort()).toEqual(["group", "measure[sub-04]"]);
      for (const id of resubmitted.values()) {
        expect((await record(id)).get("JobState")).toBe("COMPLETED");
      }
      const localChanged = await runCohort(local, "--executor", "local");
      expect(localChanged.stderr).toMatch(/2 ran, 7 cached, 0 failed/);
      expect(await readFile(path.join(slurm, "derivatives", "group.tsv"), "utf8")).toBe(
        await readFile(path.join(local, "derivatives", "group.tsv"), "utf8"),
      );
      expect(await states(slurm)).toEqual(await states(local));
    },
    240_000,
  );

  // SLURM's smallest limit is a minute, checked every 30 s: 60 to 90 s, beside the test above.
  it.concurrent(
    "a job past its time is reported as timed out with its log's tail; the others are kept",
    async ({ expect, onTestFinished }) => {
      const dir = await ownTempDir(onTestFinished);
      const project = await cohortProject({ "sub-05": "sleep 150" }, path.join(dir, "p"));
      const ran = await runCohort(project, "--executor", "slurm", "--keep-going");
      expect(ran.status).toBe(1);
      const id = submitted(ran).get("measure[sub-05]")!;
      expect(ran.stderr).toMatch(
        new RegExp(
          `measure\\[sub-05\\]: FAILED .*SLURM job ${id} timed out \\(TIMEOUT, .*TimeLimit\\)`,
        ),
      );
      expect(ran.stderr).toMatch(
        new RegExp(
          `measure\\.sub-05\\.err \\(last lines\\):\\n {4}\\| .*JOB ${id} ON \\S+ CANCELLED AT \\S+ DUE TO TIME LIMIT`,
        ),
      );
      expect(ran.stderr).toMatch(/7 ran, 0 cached, 1 failed, 1 blocked/);
      const job = await record(id);
      expect(job.get("JobState")).toBe("TIMEOUT");
      expect(job.get("TimeLimit")).toBe("00:01:00");
      const committed = (await stateNames(project)).filter((name) => name.endsWith(".stage"));
      expect(committed).toHaveLength(7); // no sub-05, no group
    },
    200_000,
  );
});
