// Waiting for real jobs on the cluster (scripts/slurm-local.sh; skipped without it, failing in
// CI): many jobs with a bounded number of queries per poll (counted through the runner, the
// jobs are real), a job past its --mem, a job SLURM never had, an aborted wait.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { cancel } from "../../src/slurm/cancel.js";
import { runCommand, type CommandRunner } from "../../src/slurm/command.js";
import { ok } from "../../src/slurm/failure.js";
import { logTail } from "../../src/slurm/log-tail.js";
import { JobPoller } from "../../src/slurm/poller.js";
import { submit, type Submission } from "../../src/slurm/submit.js";
import { countingRunner, hasSlurm } from "../util/slurm.js";

const JOB_TIMEOUT = 300_000;

/**
 * A directory for a test's jobs, removed when that test ends (util/tmp.ts removes its
 * directories after each test, those of the concurrent tests still running too).
 */
async function jobDir(onTestFinished: (fn: () => Promise<void>) => void): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "memori-slurm-"));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function quickJobs(dir: string, count: number, name: string): Promise<Submission[]> {
  const jobs: Submission[] = [];
  for (let i = 0; i < count; i++) {
    const result = await submit({
      name: `${name}-${i}`,
      command: ["bash", "-c", `echo ${i} > ${name}-${i}.txt`],
      logDir: path.join(dir, "logs"),
      cwd: dir,
      resources: { memory: 32, time: 10 },
    });
    if (!result.ok) throw new Error(result.error.message);
    jobs.push(result.value);
  }
  return jobs;
}

describe.runIf(hasSlurm())("JobPoller, on the cluster", () => {
  it.concurrent(
    "waits for 30 jobs with one squeue and at most recordsPerPoll scontrol calls per poll",
    async ({ expect, onTestFinished }) => {
      const dir = await jobDir(onTestFinished);
      const tag = { now: () => 0 };
      const { runner, ran } = countingRunner(() => tag.now());
      const poller = new JobPoller({
        runner,
        minIntervalMs: 200,
        maxIntervalMs: 2000,
        recordsPerPoll: 4,
      });
      tag.now = () => poller.polls;
      const jobs = await quickJobs(dir, 30, "many");
      const ends = await Promise.all(jobs.map((job) => poller.wait(job.id)));
      expect(ends.every((end) => end.ok && end.value.outcome === "completed")).toBe(true);
      const polls = poller.polls;
      const count = (program: string, poll?: number) =>
        ran.filter((run) => run.program === program && (poll === undefined || run.tag === poll))
          .length;
      for (let poll = 1; poll <= polls; poll++) {
        expect(count("squeue", poll), `poll ${poll}`).toBeLessThanOrEqual(1);
        expect(count("scontrol", poll), `poll ${poll}`).toBeLessThanOrEqual(4);
      }
      // One record read per job, nothing asked of sacct, and one squeue per poll in all.
      expect(count("scontrol")).toBe(30);
      expect(count("sacct")).toBe(0);
      expect(count("squeue")).toBeLessThanOrEqual(polls);
      // All jobs in one squeue call.
      const first = ran.find((run) => run.program === "squeue");
      expect(first?.args.find((arg) => arg.startsWith("--jobs="))?.split(",")).toHaveLength(30);
      console.log(
        `30 jobs: ${polls} polls, ${count("squeue")} squeue, ${count("scontrol")} scontrol`,
      );
    },
    JOB_TIMEOUT,
  );

  it.concurrent(
    "splits long id lists, and past queriesPerPoll lists the user's jobs in one call",
    async ({ expect, onTestFinished }) => {
      const dir = await jobDir(onTestFinished);
      const jobs = await quickJobs(dir, 12, "chunked");
      const polls = { chunked: () => 0, byUser: () => 0 };
      const split = countingRunner(() => polls.chunked());
      const user = countingRunner(() => polls.byUser());
      const chunked = new JobPoller({ runner: split.runner, minIntervalMs: 200, idsPerQuery: 5 });
      const byUser = new JobPoller({
        runner: user.runner,
        minIntervalMs: 200,
        idsPerQuery: 4,
        queriesPerPoll: 2,
      });
      polls.chunked = () => chunked.polls;
      polls.byUser = () => byUser.polls;
      const ends = await Promise.all(
        jobs.flatMap((job) => [chunked.wait(job.id), byUser.wait(job.id)]),
      );
      expect(ends.every((end) => end.ok && end.value.outcome === "completed")).toBe(true);
      const squeue = (ran: typeof split.ran) => ran.filter((run) => run.program === "squeue");
      // 12 ids, 5 a call: 3 calls in the first poll, each naming its jobs.
      const firstPoll = squeue(split.ran).filter((run) => run.tag === 1);
      expect(
        firstPoll.map((run) => run.args.find((a) => a.startsWith("--jobs="))?.split(",").length),
      ).toEqual([5, 5, 2]);
      for (let poll = 1; poll <= chunked.polls; poll++) {
        expect(squeue(split.ran).filter((run) => run.tag === poll).length).toBeLessThanOrEqual(3);
      }
      // 12 ids, 4 a call, 2 calls at most: one call for all of this user's jobs instead (later
      // polls, with 8 jobs or fewer left, name them in 2 calls at most).
      const userPoll = squeue(user.ran).filter((run) => run.tag === 1);
      expect(userPoll).toHaveLength(1);
      expect(userPoll[0]?.args).toContain(`--user=${process.getuid?.()}`);
      expect(userPoll[0]?.args.some((arg) => arg.startsWith("--jobs="))).toBe(false);
      for (let poll = 1; poll <= byUser.polls; poll++) {
        expect(squeue(user.ran).filter((run) => run.tag === poll).length).toBeLessThanOrEqual(2);
      }
    },
    JOB_TIMEOUT,
  );

  // A job past its --time (60 to 90 s: SLURM's smallest limit is a minute, checked every
  // 30 s) is tested once, end to end, in test/cli/run-cohort.test.ts: reported TIMEOUT, with
  // SLURM's word in its log's tail.

  it.concurrent(
    "reports a job over its --mem as OUT_OF_MEMORY (killed, where memory is not a cgroup's)",
    async ({ expect, onTestFinished }) => {
      const dir = await jobDir(onTestFinished);
      const result = await submit({
        name: "too-big",
        // 512 MiB touched, under a limit of 64 MiB.
        command: [
          process.execPath,
          "-e",
          "const b = Buffer.alloc(512 * 2 ** 20, 1); setTimeout(() => console.log(b.length), 5000)",
        ],
        logDir: dir,
        resources: { memory: "64M", time: 5 },
      });
      if (!result.ok) throw new Error(result.error.message);
      const job = result.value.jobs[0]!;
      const end = await new JobPoller({ minIntervalMs: 200 }).wait(job.id);
      const config = await runCommand("scontrol", ["show", "config"]);
      const cgroup = config.ok && /^TaskPlugin\s*=.*task\/cgroup/m.test(config.value.stdout);
      if (cgroup) {
        // The cgroup's out-of-memory killer: SLURM knows why the job died.
        expect(end).toMatchObject({
          ok: true,
          value: { outcome: "out-of-memory", state: "OUT_OF_MEMORY", ok: false },
        });
        const tail = await logTail(job.error);
        expect(tail.ok && tail.value).toMatch(/oom-kill|out-of-memory/i);
      } else {
        // Without cgroups (scripts/slurm-local.sh's fallback), the accounting poll kills the
        // job (JobAcctGatherParams=OverMemoryKill): SLURM records a failure by signal 9, and
        // only the log says it was memory.
        expect(end).toMatchObject({ ok: true, value: { outcome: "failed", signal: 9 } });
        const tail = await logTail(job.error);
        expect(tail.ok && tail.value).toMatch(/exceeded memory limit/i);
      }
    },
    JOB_TIMEOUT,
  );

  it.concurrent(
    "says a job SLURM has no record of is lost (no sacct on this cluster)",
    async ({ expect }) => {
      const { runner, ran } = countingRunner();
      const end = await new JobPoller({ runner, minIntervalMs: 100 }).wait("999999998");
      expect(end).toMatchObject({
        ok: false,
        error: {
          reason: "job-lost",
          jobId: "999999998",
          message: expect.stringMatching(/job 999999998 left the queue.*no record/),
        },
      });
      expect(ran.map((run) => run.program)).toEqual(["squeue", "scontrol", "sacct"]);
    },
  );

  it.concurrent(
    "gives up a wait when its signal aborts, and polls no more",
    async ({ expect, onTestFinished }) => {
      const dir = await jobDir(onTestFinished);
      const result = await submit({
        name: "waited-for",
        command: ["sleep", "600"],
        logDir: dir,
        resources: { memory: 32, time: 15 },
      });
      if (!result.ok) throw new Error(result.error.message);
      const { id } = result.value;
      try {
        const poller = new JobPoller({ minIntervalMs: 100 });
        const controller = new AbortController();
        const waiting = poller.wait(id, controller.signal);
        const other = poller.wait(id); // a second waiter keeps the job watched
        setTimeout(() => controller.abort(), 300);
        expect(await waiting).toMatchObject({ ok: false, error: { reason: "aborted", jobId: id } });
        expect(poller.waiting).toBe(1);
        poller.stop();
        expect(await other).toMatchObject({ ok: false, error: { reason: "aborted" } });
        expect(poller.waiting).toBe(0);
      } finally {
        await cancel([id]);
      }
    },
    JOB_TIMEOUT,
  );
});

describe("JobPoller.soon", () => {
  it("polls a job said to be ending at once, whatever its interval, until SLURM says it ended", async () => {
    // SLURM as a script: job 7 runs for two more polls after the sign, then is COMPLETED.
    let polls = 0;
    let runningFor = 2;
    const runner: CommandRunner = (program) => {
      if (program === "squeue") {
        polls++;
        const state = runningFor-- > 0 ? "RUNNING" : "COMPLETED";
        return Promise.resolve(ok({ stdout: `7 ${state}\n`, stderr: "" }));
      }
      const record = "JobId=7 JobName=x JobState=COMPLETED Reason=None ExitCode=0:0\n";
      return Promise.resolve(ok({ stdout: record, stderr: "" }));
    };
    // Without a sign, the first poll would come after ten minutes.
    const poller = new JobPoller({ runner, minIntervalMs: 600_000, maxIntervalMs: 600_000 });
    const waiting = poller.wait("7");
    poller.soon("7");
    poller.soon("8"); // not waited for: nothing
    const end = await waiting;
    expect(end).toMatchObject({ ok: true, value: { id: "7", outcome: "completed" } });
    expect(polls).toBe(3);
    expect(poller.waiting).toBe(0);
  });
});
