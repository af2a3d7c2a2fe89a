// The cohort project of the SLURM executor's end-to-end tests (test/fixtures/slurm/cohort.js: a
// map over eight subjects, each element reading only its own file, and a group stage), and what
// they read back: the jobs a run submitted (MEMORI_VERBOSE's lines), SLURM's record of a job.
import { cp, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { runCommand } from "../../src/slurm/command.js";
import { outcomeOf, parseRecord } from "../../src/slurm/job-end.js";
import { run, type Ran } from "./cli.js";
import { tempDir } from "./tmp.js";

const root = path.resolve(import.meta.dirname, "..", "..");
const fixture = path.join(root, "test", "fixtures", "slurm", "cohort.js");
export const SUBJECTS = Array.from({ length: 8 }, (_, i) => `sub-0${i + 1}`);

/**
 * A temporary directory removed when the test that made it finishes (`tempDir`'s go after each
 * test, those of concurrent tests still running too: their jobs would lose their files).
 */
export async function ownTempDir(
  onTestFinished: (fn: () => Promise<void>) => void,
): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "memori-cohort-"));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A project with the cohort module, a reference factor of 2 and eight subjects' files. */
export async function cohortProject(
  contents: Record<string, string> = {},
  dir?: string,
): Promise<string> {
  const project = dir ?? path.join(await tempDir(), "project");
  await mkdir(path.join(project, "node_modules"), { recursive: true });
  await symlink(root, path.join(project, "node_modules", "memori"));
  await writeFile(path.join(project, "package.json"), '{ "type": "module" }\n');
  await cp(fixture, path.join(project, "cohort.js"));
  await writeFile(path.join(project, "reference.txt"), "2\n");
  await mkdir(path.join(project, "derivatives"));
  for (const [i, subject] of SUBJECTS.entries()) {
    await mkdir(path.join(project, "bids", subject), { recursive: true });
    await writeFile(
      t1w(project, subject),
      `${contents[subject] ?? `${i + 1} ${i + 2} ${i + 3}`}\n`,
    );
  }
  return project;
}

export const t1w = (project: string, subject: string) =>
  path.join(project, "bids", subject, `${subject}_T1w.txt`);

export const cohortState = (project: string) => path.join(project, "derivatives", ".memori");

/** `memori run cohort.js` in `cwd`, saying what it submits. */
export const runCohort = (cwd: string, ...args: string[]): Promise<Ran> =>
  run("memori", ["run", path.join(cwd, "cohort.js"), ...args], cwd, { MEMORI_VERBOSE: "1" });

/**
 * `memori run cohort.js` in `cwd` with more of the environment (COHORT_CALLS_PER_JOB,
 * COHORT_TIME), saying what it submits.
 */
export const runCohortWith = (env: NodeJS.ProcessEnv, cwd: string, ...args: string[]) =>
  run("memori", ["run", path.join(cwd, "cohort.js"), ...args], cwd, {
    MEMORI_VERBOSE: "1",
    ...env,
  });

/** The calls a run submitted jobs for, with their ids, from what it said. */
export function submitted(ran: Ran): Map<string, string> {
  const jobs = new Map<string, string>();
  for (const [, call, id] of ran.stderr.matchAll(/stage "([^"]+)": SLURM job (\d+) submitted/g)) {
    jobs.set(call!, id!);
  }
  return jobs;
}

/** What SLURM recorded of a job (`scontrol show job -o`), once it is in a final state. */
export async function record(id: string): Promise<Map<string, string>> {
  for (let i = 0; ; i++) {
    const shown = await runCommand("scontrol", ["show", "job", "-o", id]);
    if (!shown.ok) throw new Error(shown.error.message);
    const fields = parseRecord(shown.value.stdout.trim());
    if (outcomeOf(fields.get("JobState") ?? "") !== undefined || i >= 50) return fields;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The state files (`.inputs`, `.outputs`, `.stage`), by name under the state directory. */
export async function stateNames(project: string): Promise<string[]> {
  const names = await readdir(cohortState(project), { recursive: true });
  return names.filter((name) => /\.(inputs|outputs|stage)$/.test(name)).sort();
}

/**
 * A state file with what must differ between two projects made the same: the project's own
 * path (stored by name where a stage compares a directory by name: `out`), the run's id, and
 * in a commit record where and when it was written (host, pid, time, file stamps) and the
 * digests and check taken over those values.
 */
async function normalized(project: string, name: string): Promise<unknown> {
  const text = await readFile(path.join(cohortState(project), name), "utf8");
  const {
    run: _run,
    host: _host,
    pid: _pid,
    time: _time,
    stamps: _stamps,
    check: _check,
    digests: _digests,
    ...rest
  } = JSON.parse(text.replaceAll(project, "<project>")) as Record<string, unknown>;
  return rest;
}

/**
 * Every state file of a project, normalized, by call: a map element's files are named after
 * its values, which hold the project's path (its T1w file), so they go by the subject instead
 * (and a commit record's \`name\`, that key, is left out).
 */
export async function states(project: string): Promise<Map<string, unknown>> {
  const names = await stateNames(project);
  const byCall = new Map<string, unknown>();
  for (const name of names) {
    const element = /^measure\.map\/(\w+)\.(\w+)$/.exec(name);
    let call = name;
    if (element !== null) {
      const inputs = await readFile(
        path.join(cohortState(project), `measure.map/${element[1]}.inputs`),
        "utf8",
      );
      const subject = /bids\/(sub-\d+)\//.exec(inputs)?.[1];
      call = `measure[${subject}].${element[2]}`;
    }
    const state = (await normalized(project, name)) as Record<string, unknown>;
    // An element's commit record names it by its key, that same name.
    if (element !== null) delete state.name;
    byCall.set(call, state);
  }
  return byCall;
}
