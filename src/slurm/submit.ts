/**
 * Submitting a job: its script written into its log directory, then `sbatch --parsable`,
 * whose output is the job's id (`123`, or `123;cluster` on a federation).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { messageOf } from "../errors.js";
import { prepareJob, type BatchJob, type JobFiles } from "./batch-job.js";
import { commandLine, runCommand, type CommandRunner } from "./command.js";
import { failed, ok, type SlurmResult } from "./failure.js";

/** A job (or one element of an array job) that `squeue`, `scontrol` and `scancel` know by id. */
export interface SlurmJob extends JobFiles {
  /** Its id: `123`, or `123_4` for element 4 of array job 123. */
  readonly id: string;
  /** The element's index in an array job. */
  readonly element?: number;
}

/** What a submission made. */
export interface Submission {
  /** The id `sbatch` printed (an array job's own id). */
  readonly id: string;
  /** The cluster `sbatch` named (`123;cluster`), on a federation. */
  readonly cluster: string | undefined;
  readonly name: string;
  /** The job script. */
  readonly script: string;
  /** The job, or each element of an array job, to poll, cancel and read the logs of. */
  readonly jobs: readonly SlurmJob[];
}

/** Options of {@link submit}. */
export interface SubmitOptions {
  /** Runs `sbatch`. @default {@link runCommand} */
  readonly runner?: CommandRunner;
}

/** A job id as `sbatch --parsable` prints it: `123` or `123;cluster`, on its last line. */
export function parseSubmitted(
  stdout: string,
): { readonly id: string; readonly cluster: string | undefined } | undefined {
  const last = stdout.trim().split("\n").pop()?.trim() ?? "";
  const match = /^(\d+)(?:;(\S+))?$/.exec(last);
  return match === null ? undefined : { id: match[1] ?? "", cluster: match[2] };
}

/**
 * Submit a job: write its script into its log directory, run `sbatch`, and resolve to its id
 * and the files it will write. Never rejects: a job that cannot be submitted is a failure
 * (`invalid-job`, `invalid-resources`, `script-not-written`, or `sbatch`'s own).
 *
 * @example
 * ```ts
 * const submitted = await submit({
 *   name: "recon-all.sub-07",
 *   command: ["recon-all", "-s", "sub-07", "-all"],
 *   logDir: "/lab/state/logs",
 *   resources: { cpus: 4, memory: "8G", time: "12:00:00" },
 * });
 * if (!submitted.ok) console.error(submitted.error.message);
 * ```
 */
export async function submit(
  job: BatchJob,
  options: SubmitOptions = {},
): Promise<SlurmResult<Submission>> {
  const prepared = prepareJob(job);
  if (!prepared.ok) return prepared;
  const { script, text, args, files, name, array } = prepared.value;
  try {
    await mkdir(job.logDir, { recursive: true });
    await writeFile(script, text, { mode: 0o755 });
  } catch (error) {
    return failed({
      reason: "script-not-written",
      message: `The job script ${script} could not be written: ${messageOf(error)}`,
      cause: error,
    });
  }
  const run = options.runner ?? runCommand;
  const sbatch = await run("sbatch", args);
  if (!sbatch.ok) return sbatch;
  const submitted = parseSubmitted(sbatch.value.stdout);
  if (submitted === undefined) {
    return failed({
      reason: "unexpected-output",
      message: `\`${commandLine("sbatch", args)}\` printed no job id: ${JSON.stringify(sbatch.value.stdout.trim())}`,
      command: commandLine("sbatch", args),
      stderr: sbatch.value.stderr.trim(),
    });
  }
  const jobs = array
    ? files.map((file, element) => ({ id: `${submitted.id}_${element}`, element, ...file }))
    : files.map((file) => ({ id: submitted.id, ...file }));
  return ok({ ...submitted, name, script, jobs });
}
