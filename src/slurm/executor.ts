/**
 * The SLURM executor: each call the engine hands it becomes one `sbatch` job that runs
 * `memori run-stage JOBFILE` on a node (or, for a map's elements that arrive together, an
 * element of one array job: array-batch.ts). The job reloads the module, checks that the stage's
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
import { MemoriError, messageOf } from "../errors.js";
import {
  inProcessExecutor,
  type Executed,
  type Execution,
  type Executor,
} from "../engine/executor.js";
import { codeIdentity } from "../hashing/hashable.js";
import { decodeValue, encodePlainValue, type Json } from "../hashing/values.js";
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
import { describeEnd, type JobEnd } from "./job-end.js";
import { JobFailedError, type JobFailure } from "./job-error.js";
import {
  addOpened,
  elementDir,
  jobFiles,
  readJobResult,
  writeJobJson,
  type JobResult,
  type JobSpec,
} from "./job-file.js";
import { waitForFiles } from "./latency-wait.js";
import { saidLogTail } from "./log-tail.js";
import { JobPoller } from "./poller.js";
import { mapPaths, resultHere, toRemote } from "./remote-root.js";
import { ok, type SlurmResult } from "./failure.js";
import { submit, type SlurmJob, type Submission } from "./submit.js";

/** One call on its way through SLURM. */
interface Job {
  readonly execution: Execution;
  /** `stage` or `stage[element]`. */
  readonly name: string;
  readonly dir: string;
  readonly spec: JobSpec;
  /** Its result file, as this host sees it (`spec.result` is the node's path). */
  readonly result: string;
}

/**
 * The error of a call that was stopped (the engine drops it: the call was cancelled); `what`
 * became of its job.
 */
function interrupted(job: Job, what: string): Executed {
  const { stage, element } = job.execution;
  return {
    ok: false,
    error: new MemoriError("interrupted", `stage "${job.name}" was interrupted: ${what}.`, {
      stage,
      element,
    }),
  };
}

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
  #submitted = 0;

  constructor(options: SlurmExecutorOptions) {
    this.#options = checkExecutorOptions(options);
  }

  /** How many jobs it has submitted. */
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
      code,
      result: there(jobFiles(dir).result),
      submitter: { host: hostname(), pid: process.pid, cwd },
    };
  }

  #submit(job: BatchJob): Promise<SlurmResult<Submission>> {
    const { runner } = this.#options;
    return submit(job, runner === undefined ? {} : { runner });
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
    const { logger, cwd, roots } = this.#options;
    if (signal.aborted) return interrupted(job, "its job was not submitted");
    const command = this.#options.command ?? defaultCommand();
    if (typeof command === "string") {
      return this.#failed(job, { reason: "not-submitted", message: command });
    }
    const files = jobFiles(dir);
    try {
      // What an earlier run of the call left there (its logs, its result) goes first.
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      await writeJobJson(files.job, spec);
    } catch (error) {
      return this.#failed(job, {
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
    // A map's elements may go together, as one array job (array-batch.ts).
    const jobsDir = this.#options.jobsDir(execution.hashOutput);
    const submitted =
      execution.element === undefined || !Number.isFinite(this.#options.arrayMin)
        ? await this.#submit(alone).then((s) => (s.ok ? ok(s.value.jobs[0]!) : s))
        : await this.#batcher().submit({
            key: `${jobsDir}\0${stage}\0${JSON.stringify(resources)}`,
            arraysDir: path.join(jobsDir, stage, ".arrays"),
            job: alone,
            program: command.map((word) => toRemote(word, roots)),
            jobFile: toRemote(files.job, roots),
          });
    if (!submitted.ok) {
      const { message, cause } = submitted.error;
      return this.#failed(job, {
        reason: "not-submitted",
        message: `its job was not submitted: ${message}`,
        cause,
      });
    }
    const slurmJob = submitted.value;
    const { id } = slurmJob;
    this.#submitted++;
    logger.info(`stage "${name}": SLURM job ${id} submitted (its files: ${dir})`);
    if (signal.aborted) return this.#cancel(job, id);
    const end = await this.#poll().wait(id, signal);
    if (!end.ok) {
      if (end.error.reason === "aborted") return this.#cancel(job, id);
      return this.#failed(job, {
        reason: "job-lost",
        message: `SLURM job ${id}: ${end.error.message}`,
        jobId: id,
        cause: end.error,
      });
    }
    logger.info(`stage "${name}": ${describeEnd(end.value)}`);
    if (end.value.outcome === "out-of-memory") this.#outOfMemory.add(key);
    else this.#outOfMemory.delete(key);
    if (!end.value.ok) return this.#ended(job, end.value, slurmJob);
    return this.#completed(job, end.value, slurmJob);
  }

  async #cancel(job: Job, id: string): Promise<Executed> {
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

  /** A job that did not complete: how it ended, what `run-stage` said if it said anything, its log. */
  async #ended(job: Job, end: JobEnd, slurmJob: SlurmJob): Promise<Executed> {
    const said = await readJobResult(job.result, job.spec.token);
    const failure = said.ok && !said.value.ok ? said.value : undefined;
    const log = await this.#log(slurmJob, end);
    const memory = stageResources(this.#options.resources, job.execution.stage).memory;
    const hint =
      end.outcome === "out-of-memory"
        ? memory === undefined
          ? "; give the stage a `memory` resource (a retry then asks for memory × attempt)"
          : "; a retry (the stage's `retries`) asks for memory × attempt"
        : "";
    return this.#failed(job, {
      reason: failure?.reason ?? "job-ended",
      message: `SLURM ${describeEnd(end)}${failure === undefined ? "" : `: ${failure.message}`}${hint}`,
      jobId: end.id,
      outcome: end.outcome,
      state: end.state,
      exitCode: end.exitCode,
      signal: end.signal,
      ...log,
    });
  }

  /** A completed job: its result, once it and the files it names show here. */
  async #completed(job: Job, end: JobEnd, slurmJob: SlurmJob): Promise<Executed> {
    const { latencyWait } = this.#options;
    const { signal } = job.execution;
    const deadline = Date.now() + latencyWait;
    const about = { jobId: end.id, outcome: end.outcome, state: end.state, exitCode: 0, signal: 0 };
    const missing = async (missing: readonly string[]): Promise<Executed> =>
      this.#failed(job, {
        reason: "result-missing",
        message: `SLURM job ${end.id} completed, but after waiting ${latencyWait} ms (latencyWait) these are not here: ${missing.join(", ")}`,
        missing,
        ...about,
        ...(await this.#log(slurmJob)),
      });
    const stopped = () => interrupted(job, `its SLURM job ${end.id} had completed; not waited for`);
    const shown = await waitForFiles([{ path: job.result }], { latencyWait, signal });
    if (signal.aborted) return stopped();
    if (!shown.ok) return missing(shown.missing);
    const read = await readJobResult(job.result, job.spec.token);
    if (!read.ok) {
      return this.#failed(job, {
        reason: "result-invalid",
        message: `SLURM job ${end.id}: ${read.message}`,
        ...about,
      });
    }
    const result: JobResult = resultHere(read.value, this.#options.roots);
    if (!result.ok) {
      return this.#failed(job, {
        reason: result.reason,
        message: `SLURM job ${end.id}: ${result.message}`,
        ...about,
        ...(await this.#log(slurmJob)),
      });
    }
    const files = await waitForFiles(result.files, {
      latencyWait: Math.max(0, deadline - Date.now()),
      signal,
    });
    if (signal.aborted) return stopped();
    if (!files.ok) return missing(files.missing);
    try {
      const returned = decodeValue(result.returned);
      if (job.execution.access !== undefined) addOpened(job.execution.access, result.access);
      return { ok: true, returned };
    } catch (error) {
      return this.#failed(job, {
        reason: "result-invalid",
        message: `SLURM job ${end.id}: the result file ${job.result} holds a value memori did not write (${messageOf(error)})`,
        ...about,
      });
    }
  }

  /**
   * The end of the job's log: its stderr, or its stdout when that says nothing. For a job SLURM
   * ended (its time, its memory, scancel), once its node wrote why (latencyWait at most).
   */
  #log(slurmJob: SlurmJob, end?: JobEnd): Promise<{ log?: string; logFile?: string }> {
    const killed =
      end !== undefined && ["timeout", "cancelled", "out-of-memory"].includes(end.outcome);
    return saidLogTail(
      [slurmJob.error, slurmJob.output],
      killed ? /slurmstepd/ : undefined,
      Math.min(this.#options.latencyWait, 5000),
    );
  }

  #failed(job: Job, failure: JobFailure): Executed {
    const { stage, element } = job.execution;
    return { ok: false, error: new JobFailedError(failure, stage, element) };
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
