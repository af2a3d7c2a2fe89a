/**
 * Cancelling jobs with `scancel` (what the executor does on Ctrl-C or SIGTERM): queued jobs
 * leave the queue, running ones get SIGTERM (then SIGKILL after the cluster's `KillWait`) and
 * end `CANCELLED`. Cancelling a job that already ended does nothing.
 */
import { runCommand, type CommandRunner } from "./command.js";
import { ok, type SlurmResult } from "./failure.js";

/** Options of {@link cancel}. */
export interface CancelOptions {
  /** Runs `scancel`. @default {@link runCommand} */
  readonly runner?: CommandRunner;
  /** Job ids in one `scancel` call (keeps its command line short). @default 500 */
  readonly idsPerCall?: number;
}

/**
 * Cancel jobs (`123`, `123_4` for one element of an array job, `123` for all of it): one
 * `scancel` per `idsPerCall` ids. Resolves to the first failure, after trying every call.
 */
export async function cancel(
  ids: Iterable<string>,
  options: CancelOptions = {},
): Promise<SlurmResult<void>> {
  const run = options.runner ?? runCommand;
  const size = options.idsPerCall ?? 500;
  const all = [...new Set(ids)];
  let first: SlurmResult<void> = ok(undefined);
  for (let i = 0; i < all.length; i += size) {
    const done = await run("scancel", all.slice(i, i + size));
    if (!done.ok && first.ok) first = done;
  }
  return first;
}
