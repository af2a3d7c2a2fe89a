/**
 * Several calls in one job (`callsPerJob`), on the real one-node cluster (scripts/slurm-local.sh;
 * skipped without one, failing in CI), with test/fixtures/slurm/cohort.js: its map's calls go in
 * groups, each group one job that runs them one after the other and writes each call's result.
 * Grouped runs give the results and the state of a local run, and a second run submits no job;
 * a group refuses a call whose code is not the submitter's, each call checked on its own;
 * a call that fails does not lose the others' results; a group past its time keeps the results
 * of the calls it finished, and so does a group cancelled with scancel; a re-run then runs the
 * calls that brought nothing back, and only those. What ran where is read from what the run
 * says it submitted (MEMORI_VERBOSE), from SLURM itself and from the job lists.
 */
import { readFile, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "vitest";
import { runCommand } from "../../src/slurm/command.js";
import {
  SUBJECTS,
  cohortProject,
  cohortState,
  ownTempDir,
  record,
  runCohortWith,
  states,
  submitted,
  t1w,
} from "../util/cohort.js";
import { collect, run, start } from "../util/cli.js";
import { hasSlurm } from "../util/slurm.js";
import { snapshotTree } from "../util/tmp.js";

const jobsDir = (project: string) => path.join(cohortState(project), ".memori-jobs");

/** The calls of each job (by id) among measure's, from what the run submitted. */
function callsByJob(jobs: ReadonlyMap<string, string>): Map<string, string[]> {
  const byJob = new Map<string, string[]>();
  for (const [call, id] of jobs) {
    if (!call.startsWith("measure[")) continue;
    byJob.set(id, [...(byJob.get(id) ?? []), /\[(.*)\]/.exec(call)![1]!]);
  }
  return byJob;
}

/** The subjects of the group whose list names `subject`'s job file, in the order it ran them. */
async function groupOf(project: string, subject: string): Promise<string[]> {
  const groups = path.join(jobsDir(project), "measure", ".groups");
  for (const name of await readdir(groups)) {
    const list = JSON.parse(
      await readFile(path.join(groups, name, "list.json"), "utf8"),
    ) as string[];
    const subjects = list.map((file) => path.basename(path.dirname(path.dirname(file))));
    if (subjects.includes(subject)) return subjects;
  }
  throw new Error(`no group runs ${subject}`);
}

/** The state files committed for measure's calls, by subject. */
async function committed(project: string): Promise<string[]> {
  const calls = [...(await states(project)).keys()];
  return calls
    .map((call) => /^measure\[(sub-\d+)\]\.stage$/.exec(call)?.[1])
    .filter((subject) => subject !== undefined)
    .sort();
}

/**
 * Start `memori run` on the project (all eight calls in one job) and resolve once a first call
 * brought its result back: the run, the id of the job, and what the run said so far.
 */
async function startedGroup(project: string, ...more: string[]) {
  const args = ["run", path.join(project, "cohort.js"), "--executor", "slurm", ...more];
  const child = start("memori", args, project, { MEMORI_VERBOSE: "1", COHORT_CALLS_PER_JOB: "8" });
  let said = "";
  child.stderr?.on("data", (data: Buffer) => (said += data.toString()));
  const ran = collect(child);
  const results = () =>
    readdir(path.join(jobsDir(project), "measure"), { recursive: true }).then(
      (names) => names.filter((name) => name.endsWith("result.json")).length,
      () => 0,
    );
  for (let i = 0; (await results()) === 0; i++) {
    if (i > 600) throw new Error(`no call brought a result back in 60 s:\n${said}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const id = /SLURM job (\d+) submitted/.exec(said)![1]!;
  return { child, ran, id };
}

/** Eight subjects whose calls take two seconds each. */
const slowCohort = Object.fromEntries(SUBJECTS.map((s) => [s, "sleep 2"]));

describe.runIf(hasSlurm())("the cohort pipeline with several calls a job", () => {
  it.concurrent(
    "grouped runs agree with local ones; each job ran its calls in turn; a second run submits nothing; a group checks each call's code",
    async ({ expect, onTestFinished }) => {
      const env = { COHORT_CALLS_PER_JOB: "3" };
      const dir = await ownTempDir(onTestFinished);
      const local = await cohortProject({}, path.join(dir, "local"));
      const slurm = await cohortProject({}, path.join(dir, "slurm"));
      expect((await runCohortWith(env, local, "--executor", "local")).status).toBe(0);
      const first = await runCohortWith(env, slurm, "--executor", "slurm");
      expect(first.stderr).not.toMatch(/FAILED|warning/);
      expect(first.status).toBe(0);
      expect(first.stderr).toMatch(/pipeline done in .*: 9 ran, 0 cached, 0 failed/);
      // Eight calls at three a job: three jobs of 3, 3 and 2 calls, each asking for its
      // calls' time (a minute each), each call's result in its own directory.
      const byJob = callsByJob(submitted(first));
      expect([...byJob.values()].map((calls) => calls.length).sort()).toEqual([2, 3, 3]);
      for (const [id, calls] of byJob) {
        const job = await record(id);
        expect(job.get("JobState")).toBe("COMPLETED");
        expect(job.get("TimeLimit")).toBe(`00:0${calls.length}:00`);
        expect(job.get("Command")).toMatch(/\/measure\/\.groups\/\w+\/measure\.sh$/);
        for (const subject of calls) {
          const result = path.join(jobsDir(slurm), "measure", subject, "attempt-1", "result.json");
          expect(JSON.parse(await readFile(result, "utf8"))).toMatchObject({ ok: true });
        }
      }
      expect(await readFile(path.join(slurm, "derivatives", "group.tsv"), "utf8")).toBe(
        await readFile(path.join(local, "derivatives", "group.tsv"), "utf8"),
      );
      expect(await states(slurm)).toEqual(await states(local));

      const before = await snapshotTree(jobsDir(slurm));
      const again = await runCohortWith(env, slurm, "--executor", "slurm");
      expect(again.status).toBe(0);
      expect(again.stderr).toMatch(/pipeline done in .*: 0 ran, 9 cached, 0 failed/);
      expect(submitted(again).size).toBe(0);
      expect(await snapshotTree(jobsDir(slurm))).toBe(before);

      // A group checks each call's code against its own job file: a call whose recorded
      // identity is not the code here is refused while the others run; once the module is
      // edited, all are (run here, by hand, with two of the run's job files).
      const files = ["sub-01", "sub-02"].map((s) =>
        path.join(jobsDir(slurm), "measure", s, "attempt-1", "job.json"),
      );
      const original = await readFile(files[1]!, "utf8");
      const altered = JSON.parse(original) as { code: { identity: { hash: string } } };
      altered.code.identity.hash = "0".repeat(64);
      await writeFile(files[1]!, JSON.stringify(altered));
      const list = path.join(dir, "list.json");
      await writeFile(list, JSON.stringify(files));
      const checked = await run("memori", ["run-stage", "--group", list], slurm);
      expect(checked.status).toBe(3);
      expect(checked.stdout).toMatch(/^memori run-stage: measure\[sub-01\] \(attempt 1\) ran in/);
      expect(checked.stderr).toMatch(
        /^memori run-stage: measure\[sub-02\]: the stage's code here differs from the submitter's \(000000000000 there/,
      );
      await writeFile(files[1]!, original);
      const module = path.join(slurm, "cohort.js");
      const code = await readFile(module, "utf8");
      await writeFile(module, code.replace("* factor)", "* factor + 0)"));
      const edited = await run("memori", ["run-stage", "--group", list], slurm);
      expect(edited.status).toBe(3);
      expect(edited.stdout).toBe("");
      expect(
        edited.stderr.match(/the stage's code here differs from the submitter's/g),
      ).toHaveLength(2);
    },
    240_000,
  );

  it.concurrent(
    "a call that fails in a group fails alone: the others' results are kept; fixed, it runs alone",
    async ({ expect, onTestFinished }) => {
      const env = { COHORT_CALLS_PER_JOB: "3" };
      const dir = await ownTempDir(onTestFinished);
      const project = await cohortProject({ "sub-02": "fail" }, path.join(dir, "p"));
      const ran = await runCohortWith(env, project, "--executor", "slurm", "--keep-going");
      expect(ran.status).toBe(1);
      const jobs = submitted(ran);
      const id = jobs.get("measure[sub-02]")!;
      expect(callsByJob(jobs).get(id)!.length).toBeGreaterThan(1);
      expect(ran.stderr).toMatch(/measure\[sub-02\]: FAILED .*sub-02 says fail/);
      expect(ran.stderr.match(/: FAILED/g)).toHaveLength(1);
      expect(ran.stderr).toMatch(/7 ran, 0 cached, 1 failed, 1 blocked/);
      expect(await committed(project)).toEqual(SUBJECTS.filter((s) => s !== "sub-02"));

      await writeFile(t1w(project, "sub-02"), "2 3 4\n");
      const again = await runCohortWith(env, project, "--executor", "slurm");
      expect(again.status).toBe(0);
      expect(again.stderr).toMatch(/2 ran, 7 cached, 0 failed/);
      expect([...submitted(again).keys()].sort()).toEqual(["group", "measure[sub-02]"]);
    },
    240_000,
  );

  // SLURM's smallest limit is a minute, checked every 30 s: 60 to 90 s, beside the tests above.
  it.concurrent(
    "a group past its time keeps the results of the calls it finished; a re-run runs the rest, a third nothing",
    async ({ expect, onTestFinished }) => {
      // Twenty seconds a call, three calls a job: a minute for each job of three.
      const env = { COHORT_CALLS_PER_JOB: "3", COHORT_TIME: "0:20" };
      const dir = await ownTempDir(onTestFinished);
      const project = await cohortProject({ "sub-05": "sleep 150" }, path.join(dir, "p"));
      const ran = await runCohortWith(env, project, "--executor", "slurm", "--keep-going");
      expect(ran.status).toBe(1);
      const id = submitted(ran).get("measure[sub-05]")!;
      const job = await record(id);
      expect(job.get("JobState")).toBe("TIMEOUT");
      expect(job.get("TimeLimit")).toBe("00:01:00");
      // The calls its job ran before sub-05 brought their results back; sub-05 and those
      // after it (never begun) are failures naming the time-out.
      const order = await groupOf(project, "sub-05");
      const at = order.indexOf("sub-05");
      const lost = order.slice(at);
      for (const subject of lost) {
        expect(ran.stderr).toMatch(
          new RegExp(
            `measure\\[${subject}\\]: FAILED .*SLURM job ${id} timed out \\(TIMEOUT, .*TimeLimit\\)`,
          ),
        );
      }
      expect(ran.stderr).toMatch(/DUE TO TIME LIMIT/);
      expect(ran.stderr).toMatch(
        new RegExp(`${8 - lost.length} ran, 0 cached, ${lost.length} failed`),
      );
      expect(await committed(project)).toEqual(SUBJECTS.filter((s) => !lost.includes(s)));

      await writeFile(t1w(project, "sub-05"), "5 6 7\n");
      const again = await runCohortWith(env, project, "--executor", "slurm");
      expect(again.status).toBe(0);
      expect([...submitted(again).keys()].sort()).toEqual(
        ["group", ...lost.map((s) => `measure[${s}]`)].sort(),
      );
      expect(await committed(project)).toEqual(SUBJECTS);
      const third = await runCohortWith(env, project, "--executor", "slurm");
      expect(third.status).toBe(0);
      expect(submitted(third).size).toBe(0);
    },
    300_000,
  );

  it.concurrent(
    "a group cancelled with scancel keeps what it finished; a re-run completes the rest, a third runs nothing",
    async ({ expect, onTestFinished }) => {
      // Two seconds a call, all eight in one job: scancel comes once the first result is there.
      const env = { COHORT_CALLS_PER_JOB: "8" };
      const dir = await ownTempDir(onTestFinished);
      const project = await cohortProject(slowCohort, path.join(dir, "p"));
      const { ran, id } = await startedGroup(project, "--keep-going");
      const cancelled = await runCommand("scancel", [id]);
      expect(cancelled.ok).toBe(true);
      const first = await ran;
      expect(first.status).toBe(1);
      const kept = await committed(project);
      const lost = SUBJECTS.filter((s) => !kept.includes(s));
      expect(kept.length).toBeGreaterThan(0);
      expect(lost.length).toBeGreaterThan(0);
      for (const subject of lost) {
        expect(first.stderr).toMatch(
          new RegExp(`measure\\[${subject}\\]: FAILED .*SLURM job ${id} was cancelled`),
        );
      }
      expect((await record(id)).get("JobState")).toBe("CANCELLED");

      const again = await runCohortWith(env, project, "--executor", "slurm");
      expect(again.status).toBe(0);
      const jobs = submitted(again);
      expect([...jobs.keys()].sort()).toEqual(
        ["group", ...lost.map((s) => `measure[${s}]`)].sort(),
      );
      expect(callsByJob(jobs).size).toBe(1); // the rest, in one job
      expect(await committed(project)).toEqual(SUBJECTS);
      const third = await runCohortWith(env, project, "--executor", "slurm");
      expect(third.status).toBe(0);
      expect(submitted(third).size).toBe(0);
    },
    240_000,
  );

  it.concurrent(
    "an interrupted run cancels its group's job; the next run completes, the one after runs nothing",
    async ({ expect, onTestFinished }) => {
      const env = { COHORT_CALLS_PER_JOB: "8" };
      const dir = await ownTempDir(onTestFinished);
      const project = await cohortProject(slowCohort, path.join(dir, "p"));
      const { child, ran, id } = await startedGroup(project);
      child.kill("SIGINT");
      const first = await ran;
      expect(first.status).not.toBe(0);
      // Cancelled by the run (its calls take 16 s: it would have completed otherwise).
      expect((await record(id)).get("JobState")).toBe("CANCELLED");
      expect(await committed(project)).toEqual([]);

      const again = await runCohortWith(env, project, "--executor", "slurm");
      expect(again.status).toBe(0);
      expect(await committed(project)).toEqual(SUBJECTS);
      const third = await runCohortWith(env, project, "--executor", "slurm");
      expect(third.status).toBe(0);
      expect(submitted(third).size).toBe(0);
    },
    240_000,
  );
});
