/**
 * How a job ended, read from what SLURM says of it: a line of `scontrol show job -o`, or of
 * `sacct --parsable2` where accounting storage is configured. SLURM's state words are mapped
 * to a typed outcome; its `ExitCode=3:0` to an exit code and a signal.
 */

/** How a job ended (SLURM's final states, as kebab-case words). */
export type JobOutcome =
  /** `COMPLETED`: the script exited 0. */
  | "completed"
  /** `FAILED`: a non-zero exit, or killed by a signal (or `SPECIAL_EXIT`). */
  | "failed"
  /** `CANCELLED` (scancel, an administrator; `REVOKED` on a federation). */
  | "cancelled"
  /** `TIMEOUT`: it ran past its `--time`. */
  | "timeout"
  /** `OUT_OF_MEMORY`: killed for using more than its `--mem`. */
  | "out-of-memory"
  /** `NODE_FAIL`: its node failed. */
  | "node-fail"
  /** `PREEMPTED` (and not requeued). */
  | "preempted"
  /** `BOOT_FAIL`: its node could not boot. */
  | "boot-fail"
  /** `DEADLINE`: it could not end before its `--deadline`. */
  | "deadline";

/** A job that left the queue, as SLURM recorded its end. */
export interface JobEnd {
  /** The job's id (`123`, or `123_4` for an array element). */
  readonly id: string;
  readonly outcome: JobOutcome;
  /** Whether it succeeded: `COMPLETED` with exit code 0. */
  readonly ok: boolean;
  /** SLURM's state word: `COMPLETED`, `OUT_OF_MEMORY`... */
  readonly state: string;
  /** The script's exit code (the part before `:` in `ExitCode=3:0`). */
  readonly exitCode: number;
  /**
   * The signal that ended it (the part after `:`), 0 if none: 9 for a kill, 15 for a
   * cancelled or timed-out job; SLURM's cgroup out-of-memory handler reports 125.
   */
  readonly signal: number;
  /** SLURM's reason (`NonZeroExitCode`, `TimeLimit`, `OutOfMemory`), when it gives one. */
  readonly reason: string | undefined;
  /** Where the end was read. */
  readonly from: "scontrol" | "sacct";
}

/** Final states, by SLURM's word. */
const OUTCOMES: Readonly<Record<string, JobOutcome>> = {
  COMPLETED: "completed",
  FAILED: "failed",
  SPECIAL_EXIT: "failed",
  CANCELLED: "cancelled",
  REVOKED: "cancelled",
  TIMEOUT: "timeout",
  OUT_OF_MEMORY: "out-of-memory",
  NODE_FAIL: "node-fail",
  PREEMPTED: "preempted",
  BOOT_FAIL: "boot-fail",
  DEADLINE: "deadline",
};

/**
 * A state's word without decorations: `CANCELLED by 0` (sacct) is `CANCELLED`, `COMPLETING+`
 * is `COMPLETING`; short codes are not expected (squeue `%T`, scontrol and sacct print words).
 */
export function stateWord(state: string): string {
  return (/^[A-Z_]+/.exec(state.trim().toUpperCase()) ?? [""])[0];
}

/** The outcome of a final state, or `undefined` for a job still in the system (`PENDING`,
 * `RUNNING`, `COMPLETING`, `REQUEUED`, `SUSPENDED`, `CONFIGURING`, `RESIZING`...). */
export function outcomeOf(state: string): JobOutcome | undefined {
  return OUTCOMES[stateWord(state)];
}

/** `ExitCode=3:0` as numbers: the exit code and the signal (`undefined` if malformed). */
export function parseExitCode(text: string): { exitCode: number; signal: number } | undefined {
  const match = /^(\d+):(\d+)$/.exec(text.trim());
  if (match === null) return undefined;
  return { exitCode: Number(match[1]), signal: Number(match[2]) };
}

/**
 * The fields of one line of `scontrol show job -o`: `Key=value` pairs separated by spaces.
 * A value may hold spaces (a `Command` or `WorkDir` path): a field runs until the next
 * ` Key=` (keys are words, with `:` and `/` as in `AllocNode:Sid` and `CPUs/Task`).
 */
export function parseRecord(line: string): Map<string, string> {
  const fields = new Map<string, string>();
  const key = /(?:^|\s)([A-Za-z][\w:/]*)=/g;
  const starts: { key: string; at: number; value: number }[] = [];
  for (let m = key.exec(line); m !== null; m = key.exec(line)) {
    starts.push({ key: m[1] ?? "", at: m.index, value: m.index + m[0].length });
  }
  starts.forEach((start, i) => {
    const end = starts[i + 1]?.at ?? line.length;
    if (!fields.has(start.key)) fields.set(start.key, line.slice(start.value, end).trim());
  });
  return fields;
}

/**
 * The record of job `id` among the lines `scontrol show job -o ID` printed: for `123_4`, the
 * line with `ArrayJobId=123 ArrayTaskId=4`; for `123`, the line with `JobId=123`.
 */
export function recordOf(stdout: string, id: string): Map<string, string> | undefined {
  const [base, element] = id.split("_");
  for (const line of stdout.split("\n")) {
    if (line.trim() === "") continue;
    const fields = parseRecord(line);
    const matches =
      element === undefined
        ? fields.get("JobId") === base
        : fields.get("ArrayJobId") === base && fields.get("ArrayTaskId") === element;
    if (matches) return fields;
  }
  return undefined;
}

/**
 * How a job ended, from its `scontrol show job -o` fields; `undefined` while it has not (its
 * `JobState` is not final) or when the record lacks a state or exit code.
 */
export function endFromRecord(id: string, fields: ReadonlyMap<string, string>): JobEnd | undefined {
  const state = fields.get("JobState");
  const exit = parseExitCode(fields.get("ExitCode") ?? "");
  if (state === undefined || exit === undefined) return undefined;
  const reason = fields.get("Reason");
  return end(
    id,
    state,
    exit,
    reason === undefined || reason === "None" ? undefined : reason,
    "scontrol",
  );
}

/** The columns {@link endsFromSacct} reads, for `sacct --format`. */
export const SACCT_FORMAT = "JobID,State,ExitCode";

/**
 * How jobs ended, from `sacct --noheader --parsable2 --format=JobID,State,ExitCode`: one line
 * per job (and per step, `123.batch`, which is skipped), `123_4` for array elements. Jobs
 * still running are left out.
 */
export function endsFromSacct(stdout: string): Map<string, JobEnd> {
  const ends = new Map<string, JobEnd>();
  for (const line of stdout.split("\n")) {
    const [id, state, exitCode] = line.trim().split("|");
    if (id === undefined || state === undefined || exitCode === undefined || id.includes("."))
      continue;
    const exit = parseExitCode(exitCode);
    if (exit === undefined) continue;
    const found = end(id, state, exit, undefined, "sacct");
    if (found !== undefined) ends.set(id, found);
  }
  return ends;
}

function end(
  id: string,
  state: string,
  exit: { exitCode: number; signal: number },
  reason: string | undefined,
  from: JobEnd["from"],
): JobEnd | undefined {
  const outcome = outcomeOf(state);
  if (outcome === undefined) return undefined;
  const ok = outcome === "completed" && exit.exitCode === 0 && exit.signal === 0;
  return { id, outcome, ok, state: stateWord(state), ...exit, reason, from };
}

/** One line on how a job ended: `job 123 failed (FAILED, exit code 3, NonZeroExitCode)`. */
export function describeEnd(end: JobEnd): string {
  const parts = [end.state];
  if (end.exitCode !== 0 || end.signal === 0) parts.push(`exit code ${end.exitCode}`);
  if (end.signal !== 0) parts.push(`signal ${end.signal}`);
  if (end.reason !== undefined) parts.push(end.reason);
  const verb: Record<JobOutcome, string> = {
    completed: "completed",
    failed: "failed",
    cancelled: "was cancelled",
    timeout: "timed out",
    "out-of-memory": "ran out of memory",
    "node-fail": "failed with its node",
    preempted: "was preempted",
    "boot-fail": "failed to boot its node",
    deadline: "missed its deadline",
  };
  return `job ${end.id} ${verb[end.outcome]} (${parts.join(", ")})`;
}
