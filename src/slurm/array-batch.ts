/**
 * Map elements submitted together: the calls of one stage that reach the executor within a
 * short window (a map's ready elements do, all at once) go as one `sbatch --array` when there
 * are at least `min` of them, instead of one submission each; fewer go as jobs of their own.
 * Element `i` of the array runs `memori run-stage --array LIST`, which runs the `i`-th job file
 * of the list (`SLURM_ARRAY_TASK_ID`); each element is polled, cancelled and reported as a job
 * of its own (`123_4`), with its own log files in the array's directory.
 */
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { messageOf } from "../errors.js";
import { crypto } from "../lazy-modules.js";
import { writeFileAtomic } from "../state/atomic.js";
import type { BatchJob } from "./batch-job.js";
import { failed, type SlurmResult } from "./failure.js";
import type { SlurmJob, Submission } from "./submit.js";

/** One call on its way to `sbatch`. */
export interface BatchedCall {
  /** Calls with the same key may share an array (the same stage, jobs directory, resources). */
  readonly key: string;
  /** Where the array's files go if this call starts one: `<jobsDir>/<stage>/.arrays`. */
  readonly arraysDir: string;
  /** The job the call is alone. */
  readonly job: BatchJob;
  /** The command before `run-stage` (as the node sees it). */
  readonly program: readonly string[];
  /** Its job file, as the node sees it. */
  readonly jobFile: string;
}

/** How calls are batched. */
export interface BatchOptions {
  /** The fewest calls that go as an array. */
  readonly min: number;
  /** How long the first call of a batch waits for others, in ms. */
  readonly windowMs: number;
  /** Submits a job (or an array). */
  readonly submit: (job: BatchJob) => Promise<SlurmResult<Submission>>;
}

interface Waiting {
  readonly call: BatchedCall;
  readonly resolve: (submitted: SlurmResult<SlurmJob>) => void;
}

/** Batches the calls of each stage that arrive together. */
export class ArrayBatcher {
  readonly #options: BatchOptions;
  readonly #batches = new Map<string, Waiting[]>();

  constructor(options: BatchOptions) {
    this.#options = options;
  }

  /** Submit a call, alone or as an element of an array: the job it runs as. */
  submit(call: BatchedCall): Promise<SlurmResult<SlurmJob>> {
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
    if (batch.length < this.#options.min) {
      await Promise.all(
        batch.map(async ({ call, resolve }) => {
          const submitted = await this.#options.submit(call.job);
          resolve(submitted.ok ? { ok: true, value: submitted.value.jobs[0]! } : submitted);
        }),
      );
      return;
    }
    const submitted = await this.#array(batch.map(({ call }) => call));
    batch.forEach(({ resolve }, i) => {
      resolve(submitted.ok ? { ok: true, value: submitted.value.jobs[i]! } : submitted);
    });
  }

  /** One array job for the calls: their job files listed, element `i` the `i`-th. */
  async #array(calls: readonly BatchedCall[]): Promise<SlurmResult<Submission>> {
    const first = calls[0]!;
    const dir = path.join(first.arraysDir, crypto().randomUUID().slice(0, 8));
    const list = path.join(dir, "list.json");
    try {
      await mkdir(dir, { recursive: true });
      await writeFileAtomic(list, `${JSON.stringify(calls.map((call) => call.jobFile))}\n`);
    } catch (error) {
      return failed({
        reason: "script-not-written",
        message: `The array's list ${list} could not be written: ${messageOf(error)}`,
        cause: error,
      });
    }
    const { job } = first;
    const { MEMORI_JOB: _, ...env } = job.env ?? {};
    const seenAs = job.seenAs ?? ((file: string) => file);
    return this.#options.submit({
      ...job,
      name: path.basename(path.dirname(first.arraysDir)),
      command: [...first.program, "run-stage", "--array", seenAs(list)],
      logDir: dir,
      env,
      array: { count: calls.length },
    });
  }
}
