/**
 * Jobs that see the project at another path than the submitter (`--remote-root`), on the real
 * one-node cluster: the test bind-mounts the project directory at a second path (as root;
 * skipped otherwise, failing in CI), runs `memori run` from the first path and the jobs at the
 * second. The jobs are handed the second path (module, working directory, logs, inputs) and run
 * with it as MEMORI_ROOT; what they hand back is placed under the first, so the submitter's
 * state is its own: hit by a second run (no job) and by a local run at the first path. A file
 * outside the project (seen at the same path by both) is recorded and compared absolutely.
 * That the jobs ran at all shows the stage's code identity holds no absolute path: a job
 * refuses a call whose identity there differs from the submitter's.
 */
import { execFileSync } from "node:child_process";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  SUBJECTS,
  cohortProject,
  cohortState,
  record,
  runCohort,
  submitted,
} from "../util/cohort.js";
import { hasSlurm } from "../util/slurm.js";
import { tempDir } from "../util/tmp.js";

/** Why this process cannot bind-mount here, or `""` if it can (tried once). */
function cannotMount(): string {
  if (process.getuid?.() !== 0) return "not root";
  try {
    execFileSync("mount", ["--version"], { stdio: "ignore" });
  } catch (error) {
    return `no mount command (${(error as Error).message})`;
  }
  return "";
}

function canMount(): boolean {
  const why = cannotMount();
  if (why === "") return true;
  if (process.env.CI === "true") throw new Error(`the remote-root test needs a bind mount: ${why}`);
  console.warn(`skipping the remote-root test: it bind-mounts a directory, and ${why}`);
  return false;
}

/** Every state file's text under a state directory (the jobs' own files aside). */
async function stateTexts(dir: string): Promise<string[]> {
  const names = await readdir(dir, { recursive: true });
  return Promise.all(
    names
      .filter((name) => /\.(inputs|outputs|stage)$/.test(name))
      .map((name) => readFile(path.join(dir, name), "utf8")),
  );
}

describe.runIf(hasSlurm() && canMount())("memori run --remote-root (issue 14)", () => {
  it("jobs see the project at another path and hit the submitter's state", async () => {
    const base = await tempDir();
    const here = path.join(base, "lab", "project");
    const there = path.join(base, "mnt", "project");
    await cohortProject({}, here);
    await mkdir(there, { recursive: true });
    execFileSync("mount", ["--bind", here, there]);
    try {
      await usedFromBothPaths(here, there, base);
    } finally {
      // Before the temporary directory goes (after the test).
      execFileSync("umount", [there]);
    }
  }, 240_000);
});

async function usedFromBothPaths(here: string, there: string, base: string): Promise<void> {
  const reference = path.join(base, "shared", "reference.txt"); // outside the project
  await mkdir(path.dirname(reference));
  await writeFile(reference, "3\n");
  const args = ["--param", `reference=${reference}`];

  const first = await runCohort(here, "--executor", "slurm", "--remote-root", there, ...args);
  expect(first.stderr).toMatch(/pipeline done in .*: 9 ran, 0 cached, 0 failed/);
  expect(first.status).toBe(0);
  const jobs = submitted(first);
  expect(jobs.size).toBe(9);
  for (const id of jobs.values()) {
    const job = await record(id);
    expect(job.get("JobState")).toBe("COMPLETED");
    expect(job.get("WorkDir")).toBe(there);
    expect(job.get("StdErr")).toMatch(new RegExp(`^${there}/derivatives/\\.memori/`));
  }
  const files = path.join(cohortState(here), ".memori-jobs", "measure", "sub-03", "attempt-1");
  const spec = JSON.parse(await readFile(path.join(files, "job.json"), "utf8")) as Record<
    string,
    unknown
  >;
  expect(spec).toMatchObject({
    module: path.join(there, "cohort.js"),
    inputs: {
      t1w: path.join(there, "bids", "sub-03", "sub-03_T1w.txt"),
      reference,
      out: path.join(there, "derivatives"),
    },
    result: path.join(there, path.relative(here, files), "result.json"),
  });
  const script = await readFile(path.join(files, "measure.sub-03.sh"), "utf8");
  expect(script).toContain(`export MEMORI_ROOT=${there}\n`);
  // The job wrote its file where it saw the project, and said so.
  const result = JSON.parse(await readFile(path.join(files, "result.json"), "utf8")) as {
    returned: unknown;
    access: { cwd: string };
  };
  expect(result.returned).toBe(path.join(there, "derivatives", "sub-03_scaled.txt"));
  expect(result.access.cwd).toBe(there);
  expect(await readFile(path.join(here, "derivatives", "group.tsv"), "utf8")).toMatch(
    /^sub-01_scaled.txt\t3 6 9\n/,
  );

  // The state is the submitter's: paths in the project relative to it, none of the jobs'.
  const texts = await stateTexts(cohortState(here));
  expect(texts).toHaveLength(27);
  for (const text of texts) expect(text).not.toContain(there);
  const elementInputs = texts.filter((text) => text.includes('"t1w"'));
  expect(elementInputs.join("\n")).toContain('"file": "\\u0000root/bids/sub-03/sub-03_T1w.txt"');
  expect(elementInputs.join("\n")).toContain(`"file": ${JSON.stringify(reference)}`);

  const again = await runCohort(here, "--executor", "slurm", "--remote-root", there, ...args);
  expect(again.stderr).toMatch(/pipeline done in .*: 0 ran, 9 cached, 0 failed/);
  expect(submitted(again).size).toBe(0);
  const local = await runCohort(here, "--executor", "local", ...args);
  expect(local.stderr).toMatch(/pipeline done in .*: 0 ran, 9 cached, 0 failed/);

  // The file outside the project is compared where it is: changed, every call runs again.
  await writeFile(reference, "4\n");
  const changed = await runCohort(here, "--executor", "local", ...args);
  expect(changed.stderr).toMatch(/pipeline done in .*: 9 ran, 0 cached, 0 failed/);
  for (const subject of SUBJECTS) {
    expect(changed.stderr).toMatch(
      new RegExp(`measure\\[${subject}\\]: running \\(input changed: reference`),
    );
  }
}
