// The cohort project of the SLURM executor's end-to-end tests (test/fixtures/slurm/cohort.js: a
// map over eight subjects, each element reading only its own file, and a group stage), and what
// they read back: the jobs a run submitted (MEMORI_VERBOSE's lines), SLURM's record of a job.
import { cp, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
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
