/**
 * Failures of the SLURM client as values: every function of `src/slurm/` returns a
 * {@link SlurmResult}; {@link orThrow} is the one conversion to an exception, for the public
 * edge. A job that ran and failed (exit code 3, out of memory, timed out) is not a failure of
 * the client: it is a {@link JobEnd} (job-end.ts) that says so.
 */

/** Why a SLURM request failed, as a stable kebab-case word. */
export type SlurmFailureReason =
  /** The program (`sbatch`, `squeue`...) is not installed here. */
  | "command-not-found"
  /** The program ran and failed (its exit status and stderr are in the failure). */
  | "command-failed"
  /** The program did not finish within its time limit (an unresponsive controller). */
  | "command-timed-out"
  /** The program succeeded, but its output is not what it should print. */
  | "unexpected-output"
  /** A job's `cpus`, `memory`, `time`, `partition` or extra `sbatch` arguments are not valid. */
  | "invalid-resources"
  /** A job's name, command or array size is not valid. */
  | "invalid-job"
  /** The job script or its log directory could not be written. */
  | "script-not-written"
  /** A job's log could not be read (missing, or not readable). */
  | "log-unreadable"
  /** A job left the queue and neither `scontrol` nor `sacct` knows how it ended. */
  | "job-lost"
  /** Waiting was given up (an abort signal, or the poller was stopped). */
  | "aborted";

/** A failed SLURM request: what, and why, with the command and its stderr when one ran. */
export interface SlurmFailure {
  readonly reason: SlurmFailureReason;
  /** One line, naming the command (and its stderr) or the bad value. */
  readonly message: string;
  /** The command line that failed, when a command ran. */
  readonly command?: string;
  /** The command's exit status (`command-failed`). */
  readonly exitCode?: number;
  /** What the command wrote to stderr, trimmed. */
  readonly stderr?: string;
  /** The job concerned, if any. */
  readonly jobId?: string;
  /** The underlying error (a Node system error). */
  readonly cause?: unknown;
}

/** A value, or why there is none. */
export type SlurmResult<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: SlurmFailure };

/** A successful result. */
export function ok<T>(value: T): SlurmResult<T> {
  return { ok: true, value };
}

/** A failed result. */
export function failed<T = never>(error: SlurmFailure): SlurmResult<T> {
  return { ok: false, error };
}

/**
 * The exception of the SLURM client, thrown only at the public edge ({@link orThrow}), with
 * the failure's `reason` and fields and its cause.
 */
export class SlurmError extends Error {
  override readonly name = "SlurmError";
  readonly reason: SlurmFailureReason;
  readonly failure: SlurmFailure;

  constructor(failure: SlurmFailure) {
    super(failure.message, failure.cause === undefined ? undefined : { cause: failure.cause });
    this.reason = failure.reason;
    this.failure = failure;
  }
}

/** The value of a result, or a {@link SlurmError}. */
export function orThrow<T>(result: SlurmResult<T>): T {
  if (result.ok) return result.value;
  throw new SlurmError(result.error);
}
