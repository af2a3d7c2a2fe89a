/**
 * One batch job as `sbatch` takes it: the job script (bash) and the arguments that submit it,
 * with the job's files in a log directory. Pure: submit.ts writes the script and runs `sbatch`.
 */
import path from "node:path";
import { describe } from "../errors.js";
import { shellQuote } from "./command.js";
import { failed, ok, type SlurmResult } from "./failure.js";
import { checkResources, resourceArguments, type JobResources } from "./resources.js";

/** A job to submit. */
export interface BatchJob {
  /**
   * The job's name (`--job-name`), shown by `squeue`; its files in `logDir` are named after it
   * (characters other than letters, digits, `.`, `_` and `-` become `_`).
   * @example "normalize.sub-07"
   */
  readonly name: string;
  /**
   * The program and its arguments, run by the job script as they are (each quoted for bash:
   * no shell features). An array job's elements see their index as `SLURM_ARRAY_TASK_ID`.
   * @example ["memori", "run-stage", "pipeline.js", "normalize"]
   */
  readonly command: readonly string[];
  /** The directory of the job script and its stdout and stderr files (made when missing). */
  readonly logDir: string;
  /**
   * The job's working directory (`--chdir`).
   * @default the submitter's working directory
   */
  readonly cwd?: string;
  /**
   * Variables the job script exports before it runs the command (on top of the submitter's
   * environment, which `sbatch` passes on).
   * @default {}
   */
  readonly env?: Readonly<Record<string, string>>;
  /** What the job asks for. @default the cluster's defaults */
  readonly resources?: JobResources;
  /**
   * How the job's node names a path of this host, where it mounts the files elsewhere: applied
   * to the paths the node uses (`--output`, `--error`, `--chdir`), not to the script, which
   * `sbatch` reads here, nor to the command (give it as the node sees it).
   * @default the same path
   * @example (file) => file.replace(/^\/lab\//, "/mnt/lab/")
   */
  readonly seenAs?: (file: string) => string;
  /**
   * Submit an array of this many elements (`--array=0-N-1`) instead of one job: element `i`
   * runs the command with `SLURM_ARRAY_TASK_ID=i` and writes `NAME.i.out` and `NAME.i.err`.
   */
  readonly array?: { readonly count: number; readonly parallel?: number };
}

/** The files of a job (or of one element of an array job). */
export interface JobFiles {
  /** Its stdout. */
  readonly output: string;
  /** Its stderr, where SLURM writes why it killed the job (time limit, memory). */
  readonly error: string;
}

/** A job made ready to submit. */
export interface PreparedJob {
  readonly name: string;
  /** Where the job script goes. */
  readonly script: string;
  /** The script's text. */
  readonly text: string;
  /** `sbatch` arguments, the script last. */
  readonly args: readonly string[];
  /** The files of the job, or of each element of an array job (by index). */
  readonly files: readonly JobFiles[];
  readonly array: boolean;
}

/** The largest array a job may ask for (SLURM's default `MaxArraySize` is 1001). */
export const MAX_ARRAY = 1_000_000;

/** A file name's stem from a job name. */
export function fileStem(name: string): string {
  return name.replace(/[^\w.-]/g, "_");
}

/** A path as an `sbatch` file pattern: `%` would start a replacement (`%j`, `%a`). */
function pattern(file: string): string {
  return file.replace(/%/g, "%%");
}

/** A control character (a newline would break `squeue`'s lines, a NUL the arguments). */
function control(char: string): boolean {
  const code = char.charCodeAt(0);
  return code < 0x20 || code === 0x7f;
}

function invalid(message: string): SlurmResult<never> {
  return failed({ reason: "invalid-job", message });
}

/** Check a job and make its script and `sbatch` arguments. */
export function prepareJob(job: BatchJob): SlurmResult<PreparedJob> {
  const { name, command, logDir, cwd, env = {}, array } = job;
  if (typeof name !== "string" || name === "" || [...name].some(control)) {
    return invalid(
      `Expected the job's \`name\` to be a non-empty one-line string, got ${describe(name)}`,
    );
  }
  if (
    !Array.isArray(command) ||
    command.length === 0 ||
    !command.every((w) => typeof w === "string")
  ) {
    return invalid(
      `Expected the job's \`command\` to be a non-empty array of strings, got ${describe(command)}`,
    );
  }
  if (command.some((word) => word.includes("\0")) || command[0] === "") {
    return invalid(
      `The job's \`command\` may not contain NUL bytes or start with an empty program: ${describe(command)}`,
    );
  }
  if (typeof logDir !== "string" || logDir === "") {
    return invalid(`Expected the job's \`logDir\` to be a directory, got ${describe(logDir)}`);
  }
  for (const key of Object.keys(env)) {
    if (!/^[A-Za-z_]\w*$/.test(key) || typeof env[key] !== "string" || env[key].includes("\0")) {
      return invalid(`The job's \`env\` has a variable bash cannot export: ${JSON.stringify(key)}`);
    }
  }
  if (array !== undefined) {
    const { count, parallel } = array;
    if (!(Number.isSafeInteger(count) && count >= 1 && count <= MAX_ARRAY)) {
      return invalid(
        `Expected \`array.count\` to be a whole number from 1 to ${MAX_ARRAY}, got ${describe(count)}`,
      );
    }
    if (parallel !== undefined && !(Number.isSafeInteger(parallel) && parallel >= 1)) {
      return invalid(
        `Expected \`array.parallel\` to be a whole number >= 1, got ${describe(parallel)}`,
      );
    }
  }
  const resources = checkResources(job.resources);
  if (!resources.ok) return resources;

  const dir = path.resolve(logDir);
  const stem = path.join(dir, fileStem(name));
  const script = `${stem}.sh`;
  const there = job.seenAs ?? ((file: string) => file);
  const remoteStem = there(stem);
  const files: JobFiles[] =
    array === undefined
      ? [{ output: `${stem}.out`, error: `${stem}.err` }]
      : Array.from({ length: array.count }, (_, i) => ({
          output: `${stem}.${i}.out`,
          error: `${stem}.${i}.err`,
        }));
  const [output, error] =
    array === undefined
      ? [pattern(`${remoteStem}.out`), pattern(`${remoteStem}.err`)]
      : [`${pattern(remoteStem)}.%a.out`, `${pattern(remoteStem)}.%a.err`];
  const args = [
    "--parsable",
    `--job-name=${name}`,
    `--output=${output}`,
    `--error=${error}`,
    `--chdir=${there(path.resolve(cwd ?? process.cwd()))}`,
    ...(array === undefined
      ? []
      : [
          `--array=0-${array.count - 1}${array.parallel === undefined ? "" : `%${array.parallel}`}`,
        ]),
    ...resourceArguments(resources.value),
    script,
  ];
  const text = [
    "#!/bin/bash",
    `# memori: the SLURM job ${JSON.stringify(name)}, submitted with sbatch.`,
    ...Object.entries(env).map(([key, value]) => `export ${key}=${shellQuote(value)}`),
    `exec ${command.map(shellQuote).join(" ")}`,
    "",
  ].join("\n");
  return ok({ name, script, text, args, files, array: array !== undefined });
}
