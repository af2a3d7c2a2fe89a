/**
 * `memori run --executor slurm` and `memori run-stage` on the real one-node cluster
 * (scripts/slurm-local.sh; skipped without one, failing in CI): a pipeline module (a map over
 * three subjects, each writing a file, and a group stage) in a project of its own, run by the
 * built program. That every call ran as a job is read from SLURM itself (`scontrol show job`,
 * the job logs), not from mocks; the state is the submitter's to write.
 */
import { spawn } from "node:child_process";
import { cp, mkdir, readFile, readdir, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { runCommand } from "../../src/slurm/command.js";
import { collect, run, start, type Ran } from "../util/cli.js";
import { record } from "../util/cohort.js";
import { hasSlurm } from "../util/slurm.js";
import { snapshotTree, memoriProject } from "../util/tmp.js";

const root = path.resolve(import.meta.dirname, "..", "..");
const fixture = path.join(root, "test", "fixtures", "slurm", "subjects.js");

/** A project with the fixture module and three subjects' files (contents as given). */
async function project(contents: Record<string, string> = {}): Promise<string> {
  const project = await memoriProject();
  await cp(fixture, path.join(project, "subjects.js"));
  // The output directory exists before the run, so that every call records it alike and the
  // local and SLURM states compare equal: a call that began before the directory existed
  // records it as a plain path (and the files it wrote there), one that began after as a
  // directory, and which calls began first differs between the two.
  await mkdir(path.join(project, "derivatives"));
  for (const [subject, values] of Object.entries({
    "sub-01": "1 2 3",
    "sub-02": "4 5 6",
    "sub-03": "7 8 9",
    ...contents,
  })) {
    await mkdir(path.join(project, "bids", subject), { recursive: true });
    await writeFile(path.join(project, "bids", subject, `${subject}_T1w.txt`), `${values}\n`);
  }
  return project;
}

const memoriRun = (dir: string, ...args: string[]): Promise<Ran> =>
  run("memori", ["run", "subjects.js", ...args], dir);

const state = (dir: string) => path.join(dir, "derivatives", ".memori");
const jobs = (dir: string) => path.join(state(dir), ".memori-jobs");

/** The id of the job that ran a call, from what `memori run-stage` printed in its log. */
async function ranAs(attempt: string): Promise<string> {
  const names = await readdir(attempt);
  const out = names.find((name) => name.endsWith(".out"));
  if (out === undefined) throw new Error(`no job log in ${attempt}: ${names.join(", ")}`);
  const text = await readFile(path.join(attempt, out), "utf8");
  const id = /SLURM job (\d+)/.exec(text)?.[1];
  if (id === undefined) throw new Error(`${out} names no job: ${text}`);
  return id;
}

/** The state files of the run (the map's, the group's), without the jobs' own files. */
async function stateFiles(dir: string): Promise<string[]> {
  const names = await readdir(state(dir), { recursive: true });
  return names.filter((name) => !name.startsWith(".memori-jobs")).sort();
}

/** Each state file's modification time and content: equal means untouched. */
async function stateSnapshot(dir: string): Promise<string[]> {
  const files = await stateFiles(dir);
  return Promise.all(
    files.map(async (name) => {
      const file = path.join(state(dir), name);
      const info = await stat(file);
      return `${name} ${info.mtimeMs} ${info.isFile() ? await readFile(file, "utf8") : "<dir>"}`;
    }),
  );
}

describe.runIf(hasSlurm())("memori run --executor slurm, on the cluster", () => {
  it("runs every call as a SLURM job with its resources, commits the state, then finds it all cached and submits nothing", async () => {
    const dir = await project();
    const first = await memoriRun(dir, "--executor", "slurm");
    expect(first.stderr).not.toMatch(/FAILED|warning/);
    expect(first.status).toBe(0);
    expect(first.stderr).toMatch(/pipeline done in .*: 4 ran, 0 cached, 0 failed/);
    expect(await readFile(path.join(dir, "derivatives", "group.tsv"), "utf8")).toBe(
      "sub-01_scaled.txt\t2 4 6\nsub-02_scaled.txt\t8 10 12\nsub-03_scaled.txt\t14 16 18\n",
    );
    // Each call ran as its own job, in its directory beside the state, with its resources.
    const calls = ["scale/sub-01", "scale/sub-02", "scale/sub-03", "group"];
    const ids = new Set<string>();
    for (const call of calls) {
      const attempt = path.join(jobs(dir), call, "attempt-1");
      const id = await ranAs(attempt);
      ids.add(id);
      const job = await record(id);
      expect(job.get("JobState")).toBe("COMPLETED");
      expect(job.get("WorkDir")).toBe(dir);
      expect(path.dirname(job.get("Command") ?? "")).toBe(attempt);
      expect(job.get("TimeLimit")).toBe("00:05:00");
      expect(job.get("MinMemoryNode")).toBe(call === "group" ? "300M" : "200M");
      expect(job.get("NumCPUs")).toBe(call === "group" ? "2" : "1");
      const result = JSON.parse(await readFile(path.join(attempt, "result.json"), "utf8"));
      expect(result).toMatchObject({ ok: true, files: [{ size: expect.any(Number) }] });
    }
    expect(ids.size).toBe(4);
    // The submitter committed: a state for each element and for the group.
    const committed = (await stateFiles(dir)).filter((name) => name.endsWith(".stage"));
    expect(committed).toHaveLength(4);
    expect(committed).toContain("group.stage");

    const before = await snapshotTree(jobs(dir));
    const again = await memoriRun(dir, "--executor", "slurm");
    expect(again.status).toBe(0);
    expect(again.stderr).toMatch(/pipeline done in .*: 0 ran, 4 cached, 0 failed/);
    expect(await snapshotTree(jobs(dir))).toBe(before); // no job was submitted

    // The same module run here gives the same results and the same state (the files each call
    // read and wrote included), paths aside. The output directory all calls share is recorded
    // as it was when each call began: that depends on the order they ran in, not on where.
    const local = await project();
    expect((await memoriRun(local, "--executor", "local")).status).toBe(0);
    const records = (files: string[]) =>
      files.filter((name) => /\.(inputs|outputs|stage)$/.test(name));
    expect(records(await stateFiles(local))).toEqual(records(await stateFiles(dir)));
    for (const name of records(await stateFiles(dir))) {
      if (name.endsWith(".stage")) continue;
      const read = async (project: string) => {
        const text = await readFile(path.join(state(project), name), "utf8");
        const { run: _, ...values } = JSON.parse(text.replaceAll(project, "<project>")) as {
          run: string;
          inputs?: Record<string, { hash?: string }>;
        };
        if (values.inputs?.out?.hash !== undefined) values.inputs.out.hash = "<when it began>";
        return values;
      };
      expect(await read(dir), name).toEqual(await read(local));
    }
  });

  it("a call run again by hand (a duplicated job) writes an equivalent result and touches no state", async () => {
    const dir = await project();
    expect((await memoriRun(dir, "--executor", "slurm")).status).toBe(0);
    const attempt = path.join(jobs(dir), "scale", "sub-02", "attempt-1");
    const result = path.join(attempt, "result.json");
    const { ms: _, ...first } = JSON.parse(await readFile(result, "utf8")) as { ms: number };
    const before = await stateSnapshot(dir);
    const again = await run("memori", ["run-stage", path.join(attempt, "job.json")], dir);
    expect(again.stderr).toBe("");
    expect(again.status).toBe(0);
    expect(again.stdout).toMatch(/^memori run-stage: scale\[sub-02\] \(attempt 1\) ran in \d+ ms/);
    const { ms: __, ...second } = JSON.parse(await readFile(result, "utf8")) as { ms: number };
    expect(second).toEqual(first);
    expect(await stateSnapshot(dir)).toEqual(before);
    // Its output was written again, with the same content: still cached.
    const third = await memoriRun(dir, "--executor", "slurm");
    expect(third.stderr).toMatch(/0 ran, 4 cached, 0 failed/);
  });

  it("a failing call: its job's state, exit code and log tail, nothing of it recorded, exit status 1", async () => {
    const dir = await project({ "sub-02": "corrupt" });
    const result = await memoriRun(dir, "--executor", "slurm", "--keep-going");
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(
      /scale\[sub-02\]: FAILED .*SLURM job \d+ failed \(FAILED, exit code 1, NonZeroExitCode\): sub-02's T1w is corrupt/,
    );
    expect(result.stderr).toMatch(
      /scale\.sub-02\.err \(last lines\):\n {4}\| memori run-stage: scale\[sub-02\]: Error: sub-02's T1w is corrupt\n {4}\| {5}at Object\.scale/,
    );
    const id = /SLURM job (\d+) failed/.exec(result.stderr)![1]!;
    const job = await record(id);
    expect(job.get("JobState")).toBe("FAILED");
    expect(job.get("ExitCode")).toBe("1:0");
    const said = JSON.parse(
      await readFile(path.join(jobs(dir), "scale", "sub-02", "attempt-1", "result.json"), "utf8"),
    );
    expect(said).toMatchObject({ ok: false, reason: "stage-failed" });
    const committed = (await stateFiles(dir)).filter((name) => name.endsWith(".stage"));
    expect(committed).toHaveLength(2); // sub-01 and sub-03; no group, no sub-02
    expect(result.stderr).toMatch(/1 failed, 1 blocked/);
  });

  it("a job out of memory is tried again with memory × attempt", async () => {
    const dir = await project({ "sub-03": "hungry 300" });
    const result = await memoriRun(dir, "--executor", "slurm", "--param", "retries=1");
    expect(result.stderr).toMatch(/scale\[sub-03\]: attempt 1 of 2 failed/);
    expect(result.status).toBe(0);
    const id = /SLURM job (\d+) ran out of memory \(OUT_OF_MEMORY/.exec(result.stderr)![1]!;
    const first = await record(id);
    expect(first.get("JobState")).toBe("OUT_OF_MEMORY");
    expect(first.get("MinMemoryNode")).toBe("200M");
    const second = await record(await ranAs(path.join(jobs(dir), "scale", "sub-03", "attempt-2")));
    expect(second.get("JobState")).toBe("COMPLETED");
    expect(second.get("MinMemoryNode")).toBe("400M");
    expect(await readFile(path.join(dir, "derivatives", "sub-03_scaled.txt"), "utf8")).toBe(
      "2 2 2\n",
    );
  });

  it("Ctrl-C while a job runs cancels it with scancel and records nothing of it; the re-run completes it", async () => {
    const dir = await project({ "sub-01": "sleep" });
    const child = start("memori", ["run", "subjects.js", "--executor", "slurm"], dir);
    const done = collect(child);
    let said = "";
    child.stderr?.on("data", (data: Buffer) => (said += data.toString()));
    const marker = path.join(dir, "derivatives", "started-sub-01");
    // Once the two other subjects are done, sub-01's job is the one running.
    let id = "";
    for (const until = Date.now() + 60_000; Date.now() < until;) {
      id = await readFile(marker, "utf8").then(
        (text) => text.trim(),
        () => "",
      );
      if (id !== "" && /sub-02\]: done/.test(said) && /sub-03\]: done/.test(said)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(id).toMatch(/^\d+$/);
    const sent = Date.now();
    child.kill("SIGINT");
    const ended = await done;
    expect(Date.now() - sent).toBeLessThan(10_000);
    expect(ended.signal ?? ended.status).toSatisfy((how) => how === "SIGINT" || how === 130);
    expect(ended.stderr).toMatch(/cancelled: 1: scale\[sub-01\]/);
    const job = await record(id);
    expect(job.get("JobState")).toBe("CANCELLED");
    const committed = await stateFiles(dir);
    expect(committed.filter((name) => name.endsWith(".stage"))).toHaveLength(2);
    expect(committed.filter((name) => name.endsWith(".lock"))).toEqual([]);
    await writeFile(path.join(dir, "derivatives", "release"), "");
    const again = await memoriRun(dir, "--executor", "slurm");
    expect(again.status).toBe(0);
    expect(again.stderr).toMatch(/2 ran, 2 cached, 0 failed/);
  });

  // A job cancelled from outside (an administrator's scancel) mid-stage: reported with its
  // state, nothing of it recorded, the others kept; the re-run completes it.
  it("a job cancelled with scancel mid-stage is reported, loses nothing, and the re-run completes it", async () => {
    const dir = await project({ "sub-02": "sleep" });
    const running = memoriRun(dir, "--executor", "slurm", "--keep-going");
    const marker = path.join(dir, "derivatives", "started-sub-02");
    let id = "";
    for (const until = Date.now() + 60_000; id === "" && Date.now() < until;) {
      id = await readFile(marker, "utf8").then(
        (text) => text.trim(),
        () => "",
      );
      if (id === "") await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(id).toMatch(/^\d+$/);
    const cancelled = await runCommand("scancel", [id]);
    expect(cancelled.ok).toBe(true);
    const result = await running;
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(`scale\\[sub-02\\]: FAILED .*SLURM job ${id}.*CANCELLED`),
    );
    expect((await record(id)).get("JobState")).toBe("CANCELLED");
    const committed = (await stateFiles(dir)).filter((name) => name.endsWith(".stage"));
    expect(committed).toHaveLength(2); // sub-01 and sub-03: nothing of sub-02, no group
    await writeFile(path.join(dir, "derivatives", "release"), "");
    const again = await memoriRun(dir, "--executor", "slurm");
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/2 ran, 2 cached, 0 failed/);
  });

  it("runs a stage exported alone, with the executor set on the stage (the API)", async () => {
    const dir = await project();
    await writeFile(
      path.join(dir, "double.js"),
      [
        'import { Stage, slurmExecutor } from "memori";',
        "export const double = new Stage(",
        "  function double(x) {",
        "    return { twice: x * 2, job: process.env.SLURM_JOB_ID };",
        "  },",
        "  {",
        '    hashOutput: "state",',
        '    executor: slurmExecutor({ module: import.meta.filename, exportName: "double" }),',
        "  },",
        ");",
        "",
      ].join("\n"),
    );
    await writeFile(
      path.join(dir, "main.js"),
      [
        'import { double } from "./double.js";',
        "const { output } = await double.run(21);",
        "console.log(JSON.stringify({ ...output, action: double.lastDecision.action }));",
        "",
      ].join("\n"),
    );
    const runMain = async () => {
      const child = spawn(process.execPath, ["main.js"], { cwd: dir, stdio: "pipe" });
      const ran = await collect(child);
      expect(ran.stderr).toBe("");
      expect(ran.status).toBe(0);
      return JSON.parse(ran.stdout) as { twice: number; job: string; action: string };
    };
    const first = await runMain();
    expect(first).toMatchObject({ twice: 42, action: "run" });
    expect((await record(first.job)).get("JobState")).toBe("COMPLETED");
    expect(await readdir(path.join(dir, "state", ".memori-jobs", "double"))).toEqual(["attempt-1"]);
    expect(await runMain()).toEqual({ ...first, action: "skip" }); // cached: no second job
  });
});

describe("memori run-stage", () => {
  /** A job file for the fixture's scale stage, as the executor writes one, with `code`. */
  async function jobFile(dir: string, hash: string): Promise<string> {
    const attempt = path.join(dir, "jobs", "attempt-1");
    await mkdir(attempt, { recursive: true });
    const job = path.join(attempt, "job.json");
    const identity = { hash, self: hash, callees: {}, wrappers: [], extras: {} };
    await writeFile(
      job,
      JSON.stringify({
        format: 1,
        token: "t",
        module: path.join(dir, "subjects.js"),
        exportName: null,
        params: {},
        stage: "scale",
        element: "sub-01",
        attempt: 1,
        inputs: { subject: "sub-01", bids: path.join(dir, "bids"), factor: 2, out: dir },
        code: { policy: "stage", identity },
        result: path.join(attempt, "result.json"),
        submitter: { host: "h", pid: 1, cwd: dir },
      }),
    );
    return job;
  }

  it("refuses to run a call whose code differs from the submitter's, and says so in the result", async () => {
    const dir = await project();
    const job = await jobFile(dir, "0".repeat(64));
    const result = await run("memori", ["run-stage", job], dir);
    expect(result.status).toBe(3);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(
      /^memori run-stage: scale\[sub-01\]: the stage's code here differs from the submitter's \(000000000000 there, [0-9a-f]{12} here; changed: scale \(its own code\), content\): the module or what it imports changed since the job was submitted, or this node sees other files. Not run/,
    );
    const said = JSON.parse(await readFile(path.join(path.dirname(job), "result.json"), "utf8"));
    expect(said).toMatchObject({ ok: false, token: "t", reason: "refused" });
    // Not run: no output, and no state anywhere.
    expect((await readdir(dir)).sort()).toEqual([
      "bids",
      "derivatives",
      "jobs",
      "package.json",
      "subjects.js",
    ]);
    expect(await readdir(path.join(dir, "derivatives"))).toEqual([]);
  });

  it("refuses a stage the module does not have; a job file it cannot use is a usage error", async () => {
    const dir = await project();
    const job = await jobFile(dir, "0".repeat(64));
    const spec = JSON.parse(await readFile(job, "utf8")) as Record<string, unknown>;
    await writeFile(job, JSON.stringify({ ...spec, stage: "smooth" }));
    const missing = await run("memori", ["run-stage", job], dir);
    expect(missing.status).toBe(3);
    expect(missing.stderr).toContain(
      `the pipeline of ${path.join(dir, "subjects.js")} has no stage "smooth" (its stages: "scale", "group")`,
    );
    await writeFile(job, JSON.stringify({ ...spec, params: { fwhm: 3 } }));
    const param = await run("memori", ["run-stage", job], dir);
    expect(param.status).toBe(3);
    expect(param.stderr).toContain("the submitter gave parameter `fwhm`");
    await writeFile(job, "{}");
    const bad = await run("memori", ["run-stage", job], dir);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe(
      `memori run-stage: the job file ${job} has format undefined; this memori reads format 1\n`,
    );
    const none = await run("memori", ["run-stage"], dir);
    expect(none.status).toBe(2);
    expect(none.stderr).toBe("memori run-stage: expected one job file: memori run-stage JOBFILE\n");
  });
});
