/**
 * Waiting for many jobs at once with a bounded number of queries per poll, whatever the
 * number of jobs: one `squeue` for all of them (a few, if their ids would make a command line
 * too long; past that, one for all of the user's jobs); then, for the jobs that left the queue
 * or reached a final state, one `scontrol show job -o ID` each, at most `recordsPerPoll` a poll;
 * `sacct` only for a job `scontrol` no longer knows, and only where it works (a cluster without
 * accounting storage has none). Polls back off while nothing changes, but never to more than
 * a share (`maxDelayShare`) of the time the newest job has been waited for: a job that ends is
 * seen within about that share of its time (a short job soon), while the number of polls over
 * a long job grows only with the logarithm of its length. A waiter that sees a sign of a job's
 * end (its last result written: `soon`) has it polled shortly, and every 0.2 s for a little
 * while after, until SLURM says it ended.
 */
import { userInfo } from "node:os";
import { messageOf } from "../errors.js";
import { runCommand, type CommandRunner } from "./command.js";
import { failed, ok, type SlurmFailure, type SlurmResult } from "./failure.js";
import {
  endFromRecord,
  endsFromSacct,
  outcomeOf,
  recordOf,
  SACCT_FORMAT,
  type JobEnd,
} from "./job-end.js";

/** Options of a {@link JobPoller}. */
export interface PollerOptions {
  /** Runs `squeue`, `scontrol` and `sacct`. @default {@link runCommand} */
  readonly runner?: CommandRunner;
  /** The first wait between polls, and the wait after a poll that saw a change. @default 500 */
  readonly minIntervalMs?: number;
  /** The longest wait between polls. @default 10_000 */
  readonly maxIntervalMs?: number;
  /** How much longer each wait is than the last while nothing changes. @default 1.5 */
  readonly backoff?: number;
  /**
   * The longest wait between polls as a share of how long the newest job has been waited for
   * (never below `minIntervalMs`): a job that ended after `t` is seen by about `t × (1 + share)`.
   * @default 0.1
   */
  readonly maxDelayShare?: number;
  /** Job ids in one `squeue --jobs=...` (keeps its command line short). @default 500 */
  readonly idsPerQuery?: number;
  /**
   * `squeue` calls per poll; when the jobs need more, one call lists all of the user's jobs.
   * @default 4
   */
  readonly queriesPerPoll?: number;
  /** `scontrol show job` calls per poll (the rest wait for the next poll). @default 16 */
  readonly recordsPerPoll?: number;
  /**
   * How long the commands may keep failing (a controller restarting) before the waits fail
   * with their error.
   * @default 300_000
   */
  readonly patienceMs?: number;
  /** Called when a job's state changes (`PENDING`, `RUNNING`, `COMPLETING`...). */
  readonly onState?: (id: string, state: string) => void;
}

interface Watch {
  readonly id: string;
  /** When the wait for it began (`Date.now()`). */
  readonly since: number;
  /** Those waiting for it. */
  readonly waiters: Set<(result: SlurmResult<JobEnd>) => void>;
  state: string | undefined;
  /** Out of the queue or in a final state: its record is to be read. */
  ended: boolean;
  /** `scontrol` does not know it: `sacct` is asked. */
  lost: number;
  /** Since when its record could not be read. */
  failingSince: number | undefined;
  /** When a waiter last said it is ending (`soon`). */
  endingSince: number | undefined;
}

const SQUEUE_FORMAT = "--format=%i %T";
/** `scontrol` calls at the same time. */
const RECORD_CONCURRENCY = 4;
/** Polls at which `sacct` may not know a lost job yet, before it is given up. */
const SACCT_TRIES = 3;
/** The wait before and between polls for a job said to be ending (`soon`), in ms. */
const SOON_MS = 200;
/** How long a job said to be ending is polled every `SOON_MS`, in ms. */
const SOON_FOR_MS = 3000;

/** SLURM's message for a job id it does not know (purged, or never there). */
function unknownJob(failure: SlurmFailure): boolean {
  return failure.reason === "command-failed" && /invalid job id/i.test(failure.stderr ?? "");
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Polls SLURM for the jobs it is asked to wait for, while there are any.
 *
 * @example
 * ```ts
 * const poller = new JobPoller();
 * const ends = await Promise.all(submission.jobs.map((job) => poller.wait(job.id)));
 * ```
 */
export class JobPoller {
  readonly #run: CommandRunner;
  readonly #options: Required<Omit<PollerOptions, "runner" | "onState">>;
  readonly #onState: PollerOptions["onState"];
  readonly #watches = new Map<string, Watch>();
  #timer: NodeJS.Timeout | undefined;
  #due = 0;
  #interval: number;
  #polling = false;
  #polls = 0;
  #queueFailingSince: number | undefined;
  /** Whether `sacct` works here (`undefined`: not tried yet). */
  #sacct: boolean | undefined;

  constructor(options: PollerOptions = {}) {
    this.#run = options.runner ?? runCommand;
    this.#onState = options.onState;
    this.#options = {
      minIntervalMs: options.minIntervalMs ?? 500,
      maxIntervalMs: options.maxIntervalMs ?? 10_000,
      backoff: options.backoff ?? 1.5,
      maxDelayShare: options.maxDelayShare ?? 0.1,
      idsPerQuery: options.idsPerQuery ?? 500,
      queriesPerPoll: options.queriesPerPoll ?? 4,
      recordsPerPoll: options.recordsPerPoll ?? 16,
      patienceMs: options.patienceMs ?? 300_000,
    };
    this.#interval = this.#options.minIntervalMs;
  }

  /** How many polls have run (each makes a bounded number of queries). */
  get polls(): number {
    return this.#polls;
  }

  /** How many jobs are being waited for. */
  get waiting(): number {
    return this.#watches.size;
  }

  /**
   * Wait until job `id` (`123`, or `123_4` for an array element) has ended, and resolve to
   * how (a job that failed, was cancelled, ran out of memory or time is a {@link JobEnd}
   * too); to a failure only when SLURM cannot say (`job-lost`, a command failing for longer
   * than `patienceMs`) or the wait is aborted (`aborted`). Never rejects.
   */
  wait(id: string, signal?: AbortSignal): Promise<SlurmResult<JobEnd>> {
    if (signal?.aborted === true) return Promise.resolve(aborted(id));
    return new Promise((resolve) => {
      let watch = this.#watches.get(id);
      if (watch === undefined) {
        watch = {
          id,
          since: Date.now(),
          waiters: new Set(),
          state: undefined,
          ended: false,
          lost: 0,
          failingSince: undefined,
          endingSince: undefined,
        };
        this.#watches.set(id, watch);
        // New work: poll soon, whatever the back-off had reached.
        this.#interval = this.#options.minIntervalMs;
        if (
          !this.#polling &&
          (this.#timer === undefined || this.#due > Date.now() + this.#interval)
        ) {
          this.#schedule(this.#interval);
        }
      }
      const waiters = watch.waiters;
      const onAbort = () => {
        waiters.delete(waiter);
        if (waiters.size === 0) this.#settle(id, aborted(id));
        resolve(aborted(id));
      };
      const waiter = (result: SlurmResult<JobEnd>) => {
        signal?.removeEventListener("abort", onAbort);
        resolve(result);
      };
      waiters.add(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /**
   * A sign that job `id` is ending (the last result it writes is there): poll it within
   * `SOON_MS`, and every `SOON_MS` for a few seconds until it has. Nothing for a job not waited
   * for.
   */
  soon(id: string): void {
    const watch = this.#watches.get(id);
    if (watch === undefined || watch.ended) return;
    watch.endingSince = Date.now();
    if (!this.#polling && this.#due > Date.now() + SOON_MS) this.#schedule(SOON_MS);
  }

  /** Stop polling: every wait resolves to an `aborted` failure. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const id of [...this.#watches.keys()]) this.#settle(id, aborted(id));
  }

  #settle(id: string, result: SlurmResult<JobEnd>): void {
    const watch = this.#watches.get(id);
    if (watch === undefined) return;
    this.#watches.delete(id);
    if (this.#watches.size === 0) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    for (const waiter of watch.waiters) waiter(result);
  }

  #schedule(delay: number): void {
    clearTimeout(this.#timer);
    this.#due = Date.now() + delay;
    this.#timer = setTimeout(() => void this.#poll(), delay);
  }

  async #poll(): Promise<void> {
    this.#timer = undefined;
    this.#polling = true;
    this.#polls++;
    let changed = false;
    try {
      if (await this.#readQueue()) changed = true;
      if (await this.#readRecords()) changed = true;
      if (await this.#readAccounting()) changed = true;
    } catch (error) {
      // A runner that threw instead of resolving to a failure.
      const message = `polling SLURM failed: ${messageOf(error)}`;
      for (const id of [...this.#watches.keys()]) {
        this.#settle(id, failed({ reason: "command-failed", message, jobId: id, cause: error }));
      }
    } finally {
      this.#polling = false;
    }
    if (this.#watches.size === 0) return;
    const { minIntervalMs, maxIntervalMs, backoff, maxDelayShare } = this.#options;
    const watches = [...this.#watches.values()];
    const behind = watches.some((watch) => watch.ended);
    const newest = watches.reduce((latest, watch) => Math.max(latest, watch.since), 0);
    const share = Math.max(minIntervalMs, (Date.now() - newest) * maxDelayShare);
    this.#interval =
      changed || behind ? minIntervalMs : Math.min(maxIntervalMs, share, this.#interval * backoff);
    const now = Date.now();
    const ending = watches.some(
      (watch) => watch.endingSince !== undefined && now - watch.endingSince < SOON_FOR_MS,
    );
    this.#schedule(ending ? Math.min(SOON_MS, this.#interval) : this.#interval);
  }

  /** One `squeue` (or a few) for every job still in the queue; whether a state changed. */
  async #readQueue(): Promise<boolean> {
    const queued = [...this.#watches.values()].filter((watch) => !watch.ended);
    if (queued.length === 0) return false;
    const { idsPerQuery, queriesPerPoll, patienceMs } = this.#options;
    // Array elements (123_4) are listed by their array's id.
    const ids = [...new Set(queued.map((watch) => watch.id.split("_")[0] ?? watch.id))];
    const groups = chunks(ids, idsPerQuery);
    const queries =
      groups.length > queriesPerPoll
        ? [[`--user=${process.getuid?.() ?? userInfo().username}`]]
        : groups.map((group) => [`--jobs=${group.join(",")}`]);
    const states = new Map<string, string>();
    for (const query of queries) {
      const args = ["--noheader", "--array", "--states=all", ...query, SQUEUE_FORMAT];
      const listed = await this.#run("squeue", args);
      if (!listed.ok) {
        // Every job asked for is gone: squeue fails rather than print nothing.
        if (unknownJob(listed.error)) continue;
        const since = (this.#queueFailingSince ??= Date.now());
        if (Date.now() - since >= patienceMs) {
          for (const watch of queued)
            this.#settle(watch.id, failed({ ...listed.error, jobId: watch.id }));
          return true;
        }
        return false;
      }
      for (const line of listed.value.stdout.split("\n")) {
        const [id, state] = line.trim().split(/\s+/);
        if (id !== undefined && state !== undefined) states.set(id, state);
      }
    }
    this.#queueFailingSince = undefined;
    let changed = false;
    for (const watch of queued) {
      const state = states.get(watch.id);
      if (state === undefined || outcomeOf(state) !== undefined) {
        watch.ended = true;
        changed = true;
      } else if (state !== watch.state) {
        watch.state = state;
        changed = true;
        this.#onState?.(watch.id, state);
      }
    }
    return changed;
  }

  /** `scontrol show job -o` for jobs that left the queue, a bounded number; whether one ended. */
  async #readRecords(): Promise<boolean> {
    const due = [...this.#watches.values()]
      .filter((watch) => watch.ended && watch.lost === 0)
      .slice(0, this.#options.recordsPerPoll);
    let changed = false;
    for (const batch of chunks(due, RECORD_CONCURRENCY)) {
      const read = await Promise.all(batch.map((watch) => this.#readRecord(watch)));
      if (read.some(Boolean)) changed = true;
    }
    return changed;
  }

  async #readRecord(watch: Watch): Promise<boolean> {
    const shown = await this.#run("scontrol", ["show", "job", "-o", watch.id]);
    if (!shown.ok) {
      if (unknownJob(shown.error)) {
        watch.lost = 1;
        return false;
      }
      const since = (watch.failingSince ??= Date.now());
      if (Date.now() - since >= this.#options.patienceMs) {
        this.#settle(watch.id, failed({ ...shown.error, jobId: watch.id }));
        return true;
      }
      return false;
    }
    watch.failingSince = undefined;
    const record = recordOf(shown.value.stdout, watch.id);
    const end = record === undefined ? undefined : endFromRecord(watch.id, record);
    if (end !== undefined) {
      this.#settle(watch.id, ok(end));
      return true;
    }
    // Not ended after all (requeued, or an array element not yet split from its array).
    watch.ended = false;
    const state = record?.get("JobState");
    if (state !== undefined && state !== watch.state) {
      watch.state = state;
      this.#onState?.(watch.id, state);
    }
    return false;
  }

  /** `sacct` for jobs `scontrol` does not know, where it works; whether one ended. */
  async #readAccounting(): Promise<boolean> {
    const lost = [...this.#watches.values()].filter((watch) => watch.lost > 0);
    if (lost.length === 0) return false;
    const ends = new Map<string, JobEnd>();
    if (this.#sacct !== false) {
      for (const group of chunks(lost, this.#options.idsPerQuery)) {
        const args = ["--noheader", "--parsable2", `--format=${SACCT_FORMAT}`];
        const listed = await this.#run("sacct", [
          ...args,
          `--jobs=${group.map((w) => w.id).join(",")}`,
        ]);
        // No sacct, or no accounting storage ("Slurm accounting storage is disabled").
        this.#sacct = listed.ok;
        if (!listed.ok) break;
        for (const [id, end] of endsFromSacct(listed.value.stdout)) ends.set(id, end);
      }
    }
    for (const watch of lost) {
      const end = ends.get(watch.id);
      if (end !== undefined) this.#settle(watch.id, ok(end));
      else if (this.#sacct !== true || watch.lost++ >= SACCT_TRIES) {
        this.#settle(
          watch.id,
          failed({
            reason: "job-lost",
            message: `job ${watch.id} left the queue, and SLURM no longer knows how it ended (scontrol has no record${this.#sacct === true ? ", nor has sacct" : "; sacct is not available"})`,
            jobId: watch.id,
          }),
        );
      }
    }
    return true;
  }
}

function aborted(id: string): SlurmResult<JobEnd> {
  return failed({ reason: "aborted", message: `the wait for job ${id} was aborted`, jobId: id });
}
