/**
 * The SLURM executor: each call the engine hands it becomes one `sbatch` job that runs
 * `memori run-stage JOBFILE` on a node (or, for a map's elements that arrive together, one of
 * the calls a group job runs in turn, or an element of one array job: array-batch.ts). The job reloads the module, checks that the stage's
 * code there is the submitter's, calls the function with the bound inputs and writes what it
 * returned to a result file; the executor waits for the job (one poller for all of its jobs),
 * waits for the result and the files it names to show here (`latencyWait`), and hands the
 * value back. The engine holds the call's lock meanwhile and commits the state itself, as for
 * any executor: a job never touches state, so a lost, cancelled, re-queued or duplicated job
 * leaves nothing half done, and a result that comes back after an interrupt is dropped.
 */
import { mkdir, rm } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { messageOf } from "../errors.js";
import type { Fingerprint } from "../engine/fingerprint.js";
import {
  inProcessExecutor,
  type Executed,
  type Execution,
  type Executor,
} from "../engine/executor.js";
import { codeIdentity } from "../hashing/hashable.js";
import { encodePlainValue, type Json } from "../hashing/values.js";
import { crypto } from "../lazy-modules.js";
import { ArrayBatcher } from "./array-batch.js";
import { fileStem, type BatchJob } from "./batch-job.js";
import { cancel } from "./cancel.js";
import {
  checkExecutorOptions,
  defaultCommand,
  scaledMemory,
  stageResources,
  type CheckedExecutorOptions,
  type SlurmExecutorOptions,
} from "./executor-options.js";
import { describeEnd } from "./job-end.js";
import { elementDir, jobFiles, writeJobJson, type JobSpec } from "./job-file.js";
import { completedJob, endedJob, interrupted, jobFailed, type Job } from "./job-return.js";
import { JobPoller } from "./poller.js";
import { mapPaths, toRemote } from "./remote-root.js";
import { onAppear } from "./result-watch.js";
import { ok, type SlurmResult } from "./failure.js";
import { submit, type Submission } from "./submit.js";

/**
 * Runs calls as SLURM jobs. Make one with {@link slurmExecutor}; it may serve many pipelines
 * and runs at once (one poller for all of its jobs).
 */
export class SlurmExecutor implements Executor {
  readonly name = "slurm";
  readonly #options: CheckedExecutorOptions;
  #poller: JobPoller | undefined;
  #arrays: ArrayBatcher | undefined;
  /** Job directories in use by this process (two labels may come to the same name). */
  readonly #dirs = new Set<string>();
  /** Calls whose last job ran out of memory: the next attempt asks for memory × attempt. */
  readonly #outOfMemory = new Set<string>();
  /** Group jobs (by id) and how many of their calls still wait for them. */
  readonly #live = new Map<string, number>();
  #submitted = 0;

  constructor(options: SlurmExecutorOptions) {
    this.#options = checkExecutorOptions(options);
  }

  /** How many jobs it has submitted (an array's elements each count; a group is one job). */
  get submitted(): number {
    return this.#submitted;
  }

  /** Run one call as a job; never rejects (a failure is a `JobFailedError`). */
  async execute(execution: Execution): Promise<Executed> {
    if (this.#options.local.has(execution.stage)) return inProcessExecutor.execute(execution);
    const { stage, element } = execution;
    const name = element === undefined ? stage : `${stage}[${element}]`;
    let dir: string | undefined;
    try {
      dir = this.#claim(execution);
      const spec = await this.#spec(execution, dir);
      return await this.#run({ execution, name, dir, spec, result: jobFiles(dir).result });
    } catch (error) {
      // An input that cannot be sent (a function, a class instance): the codec says which.
      return { ok: false, error };
    } finally {
      if (dir !== undefined) this.#dirs.delete(dir);
    }
  }

  /** The job's directory, free in this process: `<jobsDir>/<stage>[/<element>]/attempt-<n>`. */
  #claim({ stage, element, attempt, hashOutput }: Execution): string {
    const base = path.join(this.#options.jobsDir(hashOutput), stage);
    const label = element === undefined ? undefined : elementDir(element);
    for (let n = 1; ; n++) {
      const suffix = n === 1 ? "" : `~${n}`;
      const dir =
        label === undefined
          ? path.join(base, `attempt-${attempt}${suffix}`)
          : path.join(base, `${label}${suffix}`, `attempt-${attempt}`);
      if (!this.#dirs.has(dir)) {
        this.#dirs.add(dir);
        return dir;
      }
    }
  }

  /** The job file's content: the inputs encoded, the code identity the job must find. */
  async #spec(execution: Execution, dir: string): Promise<JobSpec> {
    const { stage, element, attempt, inputArgs, fingerprint, fn } = execution;
    const { module, exportName, params, cwd, roots } = this.#options;
    // Paths under the project's root as the node sees them (remote-root.ts).
    const there = (file: string) => toRemote(file, roots);
    const inputs: Record<string, Json> = {};
    for (const [key, value] of Object.entries(inputArgs)) {
      inputs[key] = mapPaths(encodePlainValue(value, `inputs.${key}`, stage), there);
    }
    const encodedParams: Record<string, Json> = {};
    for (const [key, value] of Object.entries(params)) {
      encodedParams[key] = mapPaths(encodePlainValue(value, `params.${key}`, stage), there);
    }
    const code =
      fingerprint === undefined
        ? { policy: "automatic" as const, identity: (await codeIdentity(fn)).code }
        : { policy: "stage" as const, identity: fingerprint.code };
    return {
      format: 1,
      token: crypto().randomUUID(),
      module: there(module),
      exportName: exportName ?? null,
      params: encodedParams,
      stage,
      element: element ?? null,
      attempt,
      inputs,
      ...(fingerprint === undefined ? {} : { env: recordedEnvironment(fingerprint, there) }),
      code,
      result: there(jobFiles(dir).result),
      submitter: { host: hostname(), pid: process.pid, cwd },
    };
  }

  async #submit(job: BatchJob): Promise<SlurmResult<Submission>> {
    const { runner } = this.#options;
    const submitted = await submit(job, runner === undefined ? {} : { runner });
    if (submitted.ok) this.#submitted += submitted.value.jobs.length;
    return submitted;
  }

  #batcher(): ArrayBatcher {
    return (this.#arrays ??= new ArrayBatcher({
      min: this.#options.arrayMin,
      windowMs: 100,
      submit: (job) => this.#submit(job),
    }));
  }

  #poll(): JobPoller {
    const { poll, runner, logger } = this.#options;
    return (this.#poller ??= new JobPoller({
      ...poll,
      ...(runner === undefined ? {} : { runner }),
      onState: (id, state) => logger.info(`SLURM job ${id} is ${state}`),
    }));
  }

  async #run(job: Job): Promise<Executed> {
    const { execution, dir, spec, name } = job;
    const { signal, stage, attempt } = execution;
    const { logger, cwd, roots, latencyWait } = this.#options;
    if (signal.aborted) return interrupted(job, "its job was not submitted");
    const command = this.#options.command ?? defaultCommand();
    if (typeof command === "string") {
      return jobFailed(job, { reason: "not-submitted", message: command });
    }
    const files = jobFiles(dir);
    try {
      // What an earlier run of the call left there (its logs, its result) goes first.
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      await writeJobJson(files.job, spec);
    } catch (error) {
      return jobFailed(job, {
        reason: "not-submitted",
        message: `its job file ${files.job} could not be written: ${messageOf(error)}`,
        cause: error,
      });
    }
    // The call, whatever its attempt: its stage's jobs directory and its name.
    const key = `${this.#options.jobsDir(execution.hashOutput)}\0${name}`;
    const base = stageResources(this.#options.resources, stage);
    const resources = this.#outOfMemory.has(key) ? scaledMemory(base, attempt) : base;
    const alone: BatchJob = {
      name: fileStem(
        execution.element === undefined ? stage : `${stage}.${elementDir(execution.element)}`,
      ),
      command: [...command, "run-stage", files.job].map((word) => toRemote(word, roots)),
      logDir: dir,
      cwd,
      // The job's state paths are relative to the root as its node sees it.
      env: {
        MEMORI_JOB: toRemote(files.job, roots),
        ...(roots === undefined ? {} : { MEMORI_ROOT: roots.remote }),
      },
      resources,
      seenAs: (file) => toRemote(file, roots),
    };
    // A map's elements may go together: in groups (callsPerJob), as one array job (arrayMin).
    const jobsDir = this.#options.jobsDir(execution.hashOutput);
    const batched =
      execution.element !== undefined &&
      (Number.isFinite(this.#options.arrayMin) || (resources.callsPerJob ?? 1) > 1);
    const submitted = !batched
      ? await this.#submit(alone).then((s) =>
          s.ok ? ok({ job: s.value.jobs[0]!, calls: 1, last: true }) : s,
        )
      : await this.#batcher().submit({
          key: `${jobsDir}\0${stage}\0${JSON.stringify(resources)}`,
          stageDir: path.join(jobsDir, stage),
          job: alone,
          program: command.map((word) => toRemote(word, roots)),
          jobFile: toRemote(files.job, roots),
        });
    if (!submitted.ok) {
      const { message, cause } = submitted.error;
      return jobFailed(job, {
        reason: "not-submitted",
        message: `its job was not submitted: ${message}`,
        cause,
      });
    }
    const { job: slurmJob, calls, last } = submitted.value;
    const { id } = slurmJob;
    const grouped = calls > 1;
    // A group's job is cancelled by the last of its calls still waiting that is stopped.
    let waiting = grouped;
    const leave = (): number => {
      if (!waiting) return 0;
      waiting = false;
      return this.#leave(id);
    };
    if (grouped) this.#live.set(id, (this.#live.get(id) ?? 0) + 1);
    try {
      const part = grouped ? `one of the ${calls} calls it runs; ` : "";
      logger.info(`stage "${name}": SLURM job ${id} submitted (${part}its files: ${dir})`);
      if (signal.aborted) return await this.#cancel(job, id, leave);
      // The job's last result appearing here: it is ending, poll it soon.
      const unwatch = last ? onAppear(job.result, () => this.#poll().soon(id)) : undefined;
      const end = await this.#poll().wait(id, signal);
      unwatch?.();
      if (!end.ok) {
        if (end.error.reason === "aborted") return await this.#cancel(job, id, leave);
        return jobFailed(job, {
          reason: "job-lost",
          message: `SLURM job ${id}: ${end.error.message}`,
          jobId: id,
          cause: end.error,
        });
      }
      logger.info(`stage "${name}": ${describeEnd(end.value)}`);
      if (end.value.outcome === "out-of-memory") this.#outOfMemory.add(key);
      else this.#outOfMemory.delete(key);
      const returnOptions = { latencyWait, roots, memory: base.memory };
      return end.value.ok
        ? await completedJob(job, end.value, slurmJob, returnOptions)
        : await endedJob(job, end.value, slurmJob, returnOptions, grouped);
    } finally {
      leave();
    }
  }

  /** A call of a group job no longer waits for it. */
  #leave(id: string): number {
    const left = (this.#live.get(id) ?? 1) - 1;
    if (left > 0) this.#live.set(id, left);
    else this.#live.delete(id);
    return left;
  }

  /**
   * Stop a call's job: `scancel` it; for a call of a group job that other calls still wait
   * for (`leave()`: how many, once this one left), only its job file goes (the job skips the
   * call if it has not begun it).
   */
  async #cancel(job: Job, id: string, leave: () => number): Promise<Executed> {
    if (leave() > 0) {
      await rm(jobFiles(job.dir).job, { force: true }).catch(() => undefined);
      return interrupted(job, `its SLURM job ${id} runs other calls too: this one is dropped`);
    }
    const cancelled = await cancel(
      [id],
      this.#options.runner === undefined ? {} : { runner: this.#options.runner },
    );
    if (!cancelled.ok) {
      this.#options.logger.warn(
        `stage "${job.name}": cancelling SLURM job ${id} failed: ${cancelled.error.message}`,
      );
    }
    return interrupted(job, `its SLURM job ${id} was cancelled`);
  }
}

/**
 * An executor that runs each call as a SLURM job (`sbatch`), on the cluster this host submits
 * to: for a stage (`new Stage(fn, { executor })`) or a whole pipeline (`new Pipeline(definition,
 * { executor })`, or `memori run --executor slurm`). Each job imports `module` again, makes its
 * pipeline with `params`, finds the stage by name, refuses to run if the stage's code there
 * differs from this process's, and hands the returned value back; this process commits the
 * state. Files the stage takes and returns must be on a file system the nodes share, at the
 * same paths, or under the project's root where the nodes see it at `remoteRoot`. Throws a `MemoriError` (`invalid-option`) for a bad option.
 *
 * @example
 * ```ts
 * const cluster = slurmExecutor({
 *   module: import.meta.filename, // exports the pipeline below
 *   exportName: "pipeline",
 *   resources: { default: { memory: "2G", time: "1:00:00" }, stages: { recon: { cpus: 4 } } },
 * });
 * export const pipeline = new Pipeline(definition, { executor: cluster });
 * ```
 */
export function slurmExecutor(options: SlurmExecutorOptions): SlurmExecutor {
  return new SlurmExecutor(options);
}

/**
 * The environment variables a call's fingerprint records (`env:NAME` inputs), as the job must
 * run with them: set, as this process has them (the values the fingerprint read; a path under
 * the project's root as the node sees it), or `null` for unset.
 * SLURM's own (`SLURM_*`: the job's id, its CPUs...) are the job's, as SLURM sets them: code that
 * reads them asks about the job it runs in.
 */
function recordedEnvironment(
  fingerprint: Fingerprint,
  there: (file: string) => string,
): Record<string, string | null> {
  const env: Record<string, string | null> = {};
  for (const key of Object.keys(fingerprint.inputs)) {
    if (!key.startsWith("env:") || key.startsWith("env:SLURM_")) continue;
    // The value the fingerprint read (encoded there: a path that exists is a file entry).
    const name = key.slice("env:".length);
    const value = process.env[name];
    env[name] = value === undefined ? null : there(value);
  }
  return env;
}
