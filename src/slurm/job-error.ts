/**
 * A call that ran (or was to run) as a SLURM job and did not bring a result back: why, as a
 * value ({@link JobFailure}, with a kebab-case reason), and the error the SLURM executor hands
 * the engine for it ({@link JobFailedError}, a `MemoriError` with reason `job-failed`), which
 * says how the job ended and the tail of its log.
 */
import { MemoriError } from "../errors.js";
import type { JobOutcome } from "./job-end.js";

/** Why a job brought no result back. */
export type JobFailureReason =
  /** The job file could not be written, or `sbatch` refused the job. */
  | "not-submitted"
  /**
   * The call failed on the node: its function threw (the error is in the message), or it
   * returned a value that cannot be sent back.
   */
  | "stage-failed"
  /**
   * `memori run-stage` would not run the call on the node: the module did not load, the stage
   * is not in it, a parameter is not valid there, or the stage's code differs from the
   * submitter's.
   */
  | "refused"
  /** The job ended without completing: failed, cancelled, timed out, out of memory... */
  | "job-ended"
  /** SLURM cannot say how the job ended, or its commands kept failing. */
  | "job-lost"
  /** The job completed, but its result (or a file the result names) did not appear in time. */
  | "result-missing"
  /** The result file is not one `memori run-stage` wrote for this job. */
  | "result-invalid";

/** A job that brought no result back. */
export interface JobFailure {
  /** Why (see {@link JobFailureReason}). */
  readonly reason: JobFailureReason;
  /** One line (the log tail follows it in the error's message). */
  readonly message: string;
  /** The job's id, once submitted. */
  readonly jobId?: string;
  /** How SLURM says it ended, when it did. */
  readonly outcome?: JobOutcome;
  /** SLURM's state word (`FAILED`, `OUT_OF_MEMORY`, `TIMEOUT`...). */
  readonly state?: string;
  /** The exit code of the job's script, when it ended. */
  readonly exitCode?: number;
  /** The signal that ended it, 0 if none. */
  readonly signal?: number;
  /** The last lines of the job's log (stderr, else stdout), when there is one. */
  readonly log?: string;
  /** The log file those lines come from. */
  readonly logFile?: string;
  /** Files the result names that did not appear (`result-missing`). */
  readonly missing?: readonly string[];
  /** The underlying error (a SLURM client failure, a file system error). */
  readonly cause?: unknown;
}

/**
 * A call whose SLURM job brought no result back (reason `job-failed`): `job` says why, with
 * the job's id, how it ended (state, exit code, signal) and the tail of its log. Nothing of
 * the call was recorded; a re-run runs it again.
 *
 * @example
 * ```ts
 * if (error instanceof MemoriError && error.reason === "job-failed") {
 *   const { job } = error as JobFailedError;
 *   console.error(job.jobId, job.state, job.exitCode, job.log);
 * }
 * ```
 */
export class JobFailedError extends MemoriError {
  /** Why the job brought no result back, and how it ended. */
  readonly job: JobFailure;

  constructor(job: JobFailure, stage: string, element: string | undefined) {
    const subject = `stage "${stage}"${element === undefined ? "" : ` element ${element}`}`;
    const log =
      job.log === undefined || job.log === ""
        ? ""
        : `\n  ${job.logFile ?? "log"} (last lines):\n${job.log
            .split("\n")
            .map((line) => `    | ${line}`)
            .join("\n")}`;
    super("job-failed", `${subject}: ${job.message}${log}`, {
      stage,
      element,
      cause: job.cause,
    });
    this.job = job;
  }
}
