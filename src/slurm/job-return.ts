/**
 * What a call's job brought back, once SLURM says the job ended: the call's result (waited
 * for, bounded, until it and the files it names show here), or why there is none, as the
 * `Executed` the engine takes. A job that ran several calls (a group) may end without
 * completing, yet with results for the calls it finished first: each such call takes its own.
 */
import { MemoriError, messageOf } from "../errors.js";
import type { Executed, Execution } from "../engine/executor.js";
import { decodeValue } from "../hashing/values.js";
import { describeEnd, type JobEnd } from "./job-end.js";
import { JobFailedError, type JobFailure } from "./job-error.js";
import { addOpened, readJobResult, type JobResult, type JobSpec } from "./job-file.js";
import { waitForFiles } from "./latency-wait.js";
import { saidLogTail } from "./log-tail.js";
import { resultHere, type RootPair } from "./remote-root.js";
import type { SlurmJob } from "./submit.js";

/** One call on its way through SLURM. */
export interface Job {
  readonly execution: Execution;
  /** `stage` or `stage[element]`. */
  readonly name: string;
  readonly dir: string;
  readonly spec: JobSpec;
  /** Its result file, as this host sees it (`spec.result` is the node's path). */
  readonly result: string;
}

/** What reading a job's return needs of the executor's options. */
export interface ReturnOptions {
  readonly latencyWait: number;
  readonly roots: RootPair | undefined;
  /** The stage's `memory` resource, for the hint after an out-of-memory end. */
  readonly memory: number | string | undefined;
}

/**
 * The error of a call that was stopped (the engine drops it: the call was cancelled); `what`
 * became of its job.
 */
export function interrupted(job: Job, what: string): Executed {
  const { stage, element } = job.execution;
  return {
    ok: false,
    error: new MemoriError("interrupted", `stage "${job.name}" was interrupted: ${what}.`, {
      stage,
      element,
    }),
  };
}

/** A call that brought no result back, as the engine takes it. */
export function jobFailed(job: Job, failure: JobFailure): Executed {
  const { stage, element } = job.execution;
  return { ok: false, error: new JobFailedError(failure, stage, element) };
}

/**
 * The end of the job's log: its stderr, or its stdout when that says nothing. For a job SLURM
 * ended (its time, its memory, scancel), once its node wrote why (latencyWait at most).
 */
function jobLog(
  slurmJob: SlurmJob,
  latencyWait: number,
  end?: JobEnd,
): Promise<{ log?: string; logFile?: string }> {
  const killed =
    end !== undefined && ["timeout", "cancelled", "out-of-memory"].includes(end.outcome);
  return saidLogTail(
    [slurmJob.error, slurmJob.output],
    killed ? /slurmstepd/ : undefined,
    Math.min(latencyWait, 5000),
  );
}

/**
 * A job that did not complete: how it ended, what `run-stage` said if it said anything, its
 * log. A call of a group whose result is there completed all the same: its result is taken.
 */
export async function endedJob(
  job: Job,
  end: JobEnd,
  slurmJob: SlurmJob,
  options: ReturnOptions,
  grouped: boolean,
): Promise<Executed> {
  const said = await readJobResult(job.result, job.spec.token);
  if (grouped && said.ok && said.value.ok) return completedJob(job, end, slurmJob, options);
  const failure = said.ok && !said.value.ok ? said.value : undefined;
  const log = await jobLog(slurmJob, options.latencyWait, end);
  const hint =
    end.outcome === "out-of-memory"
      ? options.memory === undefined
        ? "; give the stage a `memory` resource (a retry then asks for memory × attempt)"
        : "; a retry (the stage's `retries`) asks for memory × attempt"
      : "";
  return jobFailed(job, {
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

/** A completed call: its result, once it and the files it names show here. */
export async function completedJob(
  job: Job,
  end: JobEnd,
  slurmJob: SlurmJob,
  options: ReturnOptions,
): Promise<Executed> {
  const { latencyWait } = options;
  const { signal } = job.execution;
  const deadline = Date.now() + latencyWait;
  const about = {
    jobId: end.id,
    outcome: end.outcome,
    state: end.state,
    exitCode: end.exitCode,
    signal: end.signal,
  };
  const missing = async (missing: readonly string[]): Promise<Executed> =>
    jobFailed(job, {
      reason: "result-missing",
      message: `SLURM job ${end.id} completed, but after waiting ${latencyWait} ms (latencyWait) these are not here: ${missing.join(", ")}`,
      missing,
      ...about,
      ...(await jobLog(slurmJob, latencyWait)),
    });
  const stopped = () => interrupted(job, `its SLURM job ${end.id} had completed; not waited for`);
  const shown = await waitForFiles([{ path: job.result }], { latencyWait, signal });
  if (signal.aborted) return stopped();
  if (!shown.ok) return missing(shown.missing);
  const read = await readJobResult(job.result, job.spec.token);
  if (!read.ok) {
    return jobFailed(job, {
      reason: "result-invalid",
      message: `SLURM job ${end.id}: ${read.message}`,
      ...about,
    });
  }
  const result: JobResult = resultHere(read.value, options.roots);
  if (!result.ok) {
    return jobFailed(job, {
      reason: result.reason,
      message: `SLURM job ${end.id}: ${result.message}`,
      ...about,
      ...(await jobLog(slurmJob, latencyWait)),
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
    return jobFailed(job, {
      reason: "result-invalid",
      message: `SLURM job ${end.id}: the result file ${job.result} holds a value memori did not write (${messageOf(error)})`,
      ...about,
    });
  }
}
