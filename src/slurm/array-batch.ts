/**
 * Map elements submitted together: the calls of one stage that reach the executor within a
 * short window (a map's ready elements do, all at once) are cut into groups of at most the
 * stage's `callsPerJob` calls (1 by default), as even as can be; a group of several calls is
 * one job that runs them one after the other (`memori run-stage --group LIST`). When there are
 * at least `min` groups, they go as one `sbatch --array` instead of one submission each:
 * element `i` runs the `i`-th group (`memori run-stage --array LIST`, `SLURM_ARRAY_TASK_ID`).
 * Each call is polled, cancelled and reported through the job that runs it (`123`, or `123_4`
 * for an array's element); the job files list lives in the batch's own directory, with its
 * script and logs.
 */
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { messageOf } from "../errors.js";
import { crypto } from "../lazy-modules.js";
import type { BatchJob } from "./batch-job.js";
import { failed, ok, type SlurmResult } from "./failure.js";
import { writeJobList, type ListItem } from "./job-list.js";
import { groupResources } from "./resources.js";
import type { SlurmJob, Submission } from "./submit.js";

/** One call on its way to `sbatch`. */
export interface BatchedCall {
  /** Calls with the same key may share a job or an array (the same stage, jobs directory, resources). */
  readonly key: string;
  /** Where a batch this call starts keeps its files: `<jobsDir>/<stage>` (`.arrays/…`, `.groups/…`). */
  readonly stageDir: string;
  /** The job the call is alone. */
  readonly job: BatchJob;
  /** The command before `run-stage` (as the node sees it). */
  readonly program: readonly string[];
  /** Its job file, as the node sees it. */
  readonly jobFile: string;
}

/** The job a call runs in, and how many calls that job runs (1: its own job). */
export interface PlacedCall {
  readonly job: SlurmJob;
  readonly calls: number;
  /** It is the last call its job runs: its result is the job's last word. */
  readonly last: boolean;
}

/** How calls are batched. */
export interface BatchOptions {
  /** The fewest jobs (groups of calls) that go as an array. */
  readonly min: number;
  /** How long the first call of a batch waits for others, in ms. */
  readonly windowMs: number;
  /** Submits a job (or an array). */
  readonly submit: (job: BatchJob) => Promise<SlurmResult<Submission>>;
}

interface Waiting {
  readonly call: BatchedCall;
  readonly resolve: (submitted: SlurmResult<PlacedCall>) => void;
}

/**
 * `items` cut into `ceil(n / size)` runs of consecutive items, their lengths differing by one
 * at most (17 calls at 8 a job: 6, 6 and 5, not 8, 8 and 1).
 */
export function evenChunks<T>(items: readonly T[], size: number): T[][] {
  const count = Math.ceil(items.length / Math.max(1, size));
  const chunks: T[][] = [];
  for (let i = 0, start = 0; i < count; i++) {
    const end = start + Math.ceil((items.length - start) / (count - i));
    chunks.push(items.slice(start, end));
    start = end;
  }
  return chunks;
}

/** Batches the calls of each stage that arrive together. */
export class ArrayBatcher {
  readonly #options: BatchOptions;
  readonly #batches = new Map<string, Waiting[]>();

  constructor(options: BatchOptions) {
    this.#options = options;
  }

  /** Submit a call, alone, in a group or in an array: the job it runs in. */
  submit(call: BatchedCall): Promise<SlurmResult<PlacedCall>> {
    return new Promise((resolve) => {
      let batch = this.#batches.get(call.key);
      if (batch === undefined) {
        batch = [];
        this.#batches.set(call.key, batch);
        setTimeout(() => void this.#flush(call.key), this.#options.windowMs);
      }
      batch.push({ call, resolve });
    });
  }

  async #flush(key: string): Promise<void> {
    const batch = this.#batches.get(key) ?? [];
    this.#batches.delete(key);
    const size = batch[0]?.call.job.resources?.callsPerJob ?? 1;
    const groups = evenChunks(batch, size);
    if (groups.length >= this.#options.min) {
      const submitted = await this.#array(groups.map((group) => group.map((w) => w.call)));
      groups.forEach((group, i) => {
        group.forEach(({ resolve }, k) => {
          const calls = group.length;
          resolve(
            submitted.ok
              ? ok({ job: submitted.value.jobs[i]!, calls, last: k === calls - 1 })
              : submitted,
          );
        });
      });
      return;
    }
    await Promise.all(
      groups.map(async (group) => {
        const calls = group.map((w) => w.call);
        const submitted =
          calls.length === 1 ? await this.#options.submit(calls[0]!.job) : await this.#group(calls);
        group.forEach(({ resolve }, k) => {
          resolve(
            submitted.ok
              ? ok({
                  job: submitted.value.jobs[0]!,
                  calls: calls.length,
                  last: k === calls.length - 1,
                })
              : submitted,
          );
        });
      }),
    );
  }

  /** A directory of its own for a batch and its list file written there, or why not. */
  async #list(
    first: BatchedCall,
    kind: ".arrays" | ".groups",
    items: readonly ListItem[],
  ): Promise<SlurmResult<{ dir: string; list: string }>> {
    const dir = path.join(first.stageDir, kind, crypto().randomUUID().slice(0, 8));
    const list = path.join(dir, "list.json");
    try {
      await mkdir(dir, { recursive: true });
      await writeJobList(list, items);
    } catch (error) {
      return failed({
        reason: "script-not-written",
        message: `The job list ${list} could not be written: ${messageOf(error)}`,
        cause: error,
      });
    }
    return ok({ dir, list });
  }

  /** The job of the first call, made to run `run-stage ARGS` from `dir` for `calls` calls. */
  #batchJob(first: BatchedCall, dir: string, args: readonly string[], calls: number): BatchJob {
    const { job } = first;
    const { MEMORI_JOB: _, ...env } = job.env ?? {};
    return {
      ...job,
      name: path.basename(first.stageDir),
      command: [...first.program, "run-stage", ...args],
      logDir: dir,
      env,
      ...(job.resources === undefined ? {} : { resources: groupResources(job.resources, calls) }),
    };
  }

  /** One job that runs the calls one after the other: their job files listed. */
  async #group(calls: readonly BatchedCall[]): Promise<SlurmResult<Submission>> {
    const first = calls[0]!;
    const written = await this.#list(
      first,
      ".groups",
      calls.map((call) => call.jobFile),
    );
    if (!written.ok) return written;
    const { dir, list } = written.value;
    const seenAs = first.job.seenAs ?? ((file: string) => file);
    return this.#options.submit(
      this.#batchJob(first, dir, ["--group", seenAs(list)], calls.length),
    );
  }

  /** One array job for the groups: element `i` runs the `i`-th (a job file, or several). */
  async #array(groups: readonly (readonly BatchedCall[])[]): Promise<SlurmResult<Submission>> {
    const first = groups[0]![0]!;
    const items = groups.map((group) =>
      group.length === 1 ? group[0]!.jobFile : group.map((call) => call.jobFile),
    );
    const written = await this.#list(first, ".arrays", items);
    if (!written.ok) return written;
    const { dir, list } = written.value;
    const seenAs = first.job.seenAs ?? ((file: string) => file);
    const largest = Math.max(...groups.map((group) => group.length));
    return this.#options.submit({
      ...this.#batchJob(first, dir, ["--array", seenAs(list)], largest),
      array: { count: groups.length },
    });
  }
}
