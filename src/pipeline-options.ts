/** The options of a {@link Pipeline}, with their defaults and checks. */
import { availableParallelism } from "node:os";
import { MemoriError, describe } from "./errors.js";
import type { EventListener } from "./events.js";
import type { Executor } from "./engine/executor.js";
import { isExecutor } from "./options.js";

/** Options of a {@link Pipeline}. */
export interface PipelineOptions {
  /**
   * How many calls (stages and map elements together) may run at once.
   * @default the number of available CPUs
   */
  readonly concurrency?: number;
  /**
   * On a failure, go on with every stage (and map element) that does not depend on a failed
   * one, then report all failures together (a {@link PipelineError}, with what was blocked).
   * Without it, nothing new starts after the first failure; running calls finish (and are
   * cached), and that failure is thrown.
   * @default false
   */
  readonly keepGoing?: boolean;
  /**
   * Read-only caches every stage may take valid results from on a miss (see the stage option).
   * @default []
   */
  readonly readonlyCaches?: readonly string[];
  /**
   * Told what happens as the pipeline runs: stages and map elements starting, running (and
   * why), cached, done, retried or failed, with timings, and the progress of long file hashes.
   * `terminalReporter()` is a ready-made listener.
   * @default undefined
   * @example onEvent: terminalReporter()
   */
  readonly onEvent?: EventListener;
  /**
   * Interrupts a run when aborted: nothing new starts, running calls are cancelled (their
   * processes killed), finished ones keep their state, and `run()` rejects with reason
   * `interrupted` saying what finished and what did not. Without it, Ctrl-C (SIGINT) and SIGTERM
   * do the same while a run is in progress (unless the program listens to them itself), then
   * end the process with the signal as before, after saying on stderr what finished.
   * @default undefined
   */
  readonly signal?: AbortSignal;
  /**
   * Run only the map elements with these labels (one subject: `["sub-01"]`). The others are
   * left out, and so is every stage that needs a map's elements (a group stage would see only
   * some of them); stages that need no map run as usual. Dry runs ignore it.
   * @default undefined (everything)
   */
  readonly only?: readonly string[];
  /**
   * Where the calls of stages that name no `executor` of their own run (a worker function's
   * own executor gives way to it): `slurmExecutor(...)` runs the whole pipeline on a cluster.
   * @default each stage's own (in-process)
   */
  readonly executor?: Executor;
  /**
   * How many run records to keep in the state directory (`<state dir>/.memori-runs/`, the
   * directory most of the stages use): each run writes one, read by `memori log`, and the
   * oldest beyond this many are removed. 0 writes none. A record is never needed for
   * correctness: one that cannot be written is a warning.
   * @default the environment variable `MEMORI_KEEP_RUNS`, else 100
   */
  readonly keepRuns?: number;
}

/** Pipeline options, checked, with their defaults. */
export interface CheckedPipelineOptions {
  concurrency: number;
  keepGoing: boolean;
  readonlyCaches: readonly string[];
  onEvent: EventListener | undefined;
  signal: AbortSignal | undefined;
  only: ReadonlySet<string> | undefined;
  executor: Executor | undefined;
  keepRuns: number | undefined;
}

const PIPELINE_OPTIONS =
  "concurrency keepGoing readonlyCaches onEvent signal only executor keepRuns".split(" ");

function pipelineFail(option: string, expected: string, value: unknown): never {
  throw new MemoriError(
    "invalid-option",
    `pipeline: expected \`${option}\` to be ${expected}, got ${describe(value)}.`,
  );
}

/** Check a pipeline's options. */
export function checkPipelineOptions(options: PipelineOptions): CheckedPipelineOptions {
  if (typeof options !== "object" || options === null) {
    throw new MemoriError(
      "invalid-option",
      `pipeline options must be an object, got ${describe(options)}.`,
    );
  }
  const {
    concurrency = availableParallelism(),
    keepGoing = false,
    readonlyCaches = [],
    onEvent,
    signal,
    only,
    executor,
    keepRuns,
  } = options;
  if (keepRuns !== undefined && !(Number.isSafeInteger(keepRuns) && keepRuns >= 0)) {
    pipelineFail("keepRuns", "a whole number of runs >= 0", keepRuns);
  }
  if (only !== undefined && !(Array.isArray(only) && only.every((l) => typeof l === "string"))) {
    pipelineFail("only", "an array of map element labels", only);
  }
  if (onEvent !== undefined && typeof onEvent !== "function") {
    pipelineFail("onEvent", "a function", onEvent);
  }
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    pipelineFail("concurrency", "a whole number >= 1", concurrency);
  }
  if (typeof keepGoing !== "boolean") pipelineFail("keepGoing", "a boolean", keepGoing);
  if (
    !Array.isArray(readonlyCaches) ||
    !readonlyCaches.every((d) => typeof d === "string" && d !== "")
  ) {
    pipelineFail("readonlyCaches", "an array of directory paths", readonlyCaches);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    pipelineFail("signal", "an AbortSignal", signal);
  }
  if (executor !== undefined && !isExecutor(executor)) {
    pipelineFail("executor", "an executor (an object with an execute() method)", executor);
  }
  for (const key of Object.keys(options)) {
    if (!PIPELINE_OPTIONS.includes(key)) {
      throw new MemoriError(
        "invalid-option",
        `pipeline: unknown option \`${key}\`; the options are ${PIPELINE_OPTIONS.join(", ")}.`,
      );
    }
  }
  return {
    concurrency,
    keepGoing,
    readonlyCaches,
    onEvent,
    signal,
    only: only === undefined ? undefined : new Set(only),
    executor,
    keepRuns,
  };
}
