import { MemoriError, describe } from "./errors.js";
import type { EventListener } from "./events.js";
import type { Executor } from "./engine/executor.js";
import type { Logger } from "./logger.js";

export type { Logger } from "./logger.js";
export { stderrLogger } from "./logger.js";
export type { RunOptions } from "./engine/run-options.js";
export { refreshFromEnv } from "./engine/run-options.js";

/** Options of a {@link Stage}. */
export interface StageOptions<
  O extends readonly string[] | string = readonly string[] | string,
  A extends Record<string, string> = Record<string, string>,
  N extends readonly string[] = readonly string[],
  S extends Record<string, unknown> = Record<string, unknown>,
> {
  /**
   * Names for what the function returns. With one name, the return value is that output,
   * whole. With several, the function returns an array (element i is output i) or an
   * object with those keys.
   * @default ["output"]
   * @example outputs: ["mask", "volume"]
   */
  readonly outputs?: O;
  /**
   * Directory for the state files (`<name>.inputs`, `.outputs`, `.stage`). Without it the
   * stage is not memoized.
   * @default undefined
   * @example hashOutput: "derivatives/.memori"
   */
  readonly hashOutput?: string;
  /**
   * Names the state files; must be a plain file name (no `/`, `..` or NUL).
   * @default fn.name
   */
  readonly name?: string;
  /**
   * Extra names for outputs, alias -> output name, so a downstream stage whose parameter is
   * called differently receives the output.
   * @default {}
   * @example aliases: { inFile: "brainMask" }
   */
  readonly aliases?: A;
  /**
   * Static arguments by parameter name. They override what `run()` is given, and `run()` and
   * `runNamed()` may leave them out (their types know them).
   * @default {}
   * @example args: { threshold: 0.5 }
   */
  readonly args?: S;
  /**
   * The function's parameter names, in order (without a rest parameter), so that TypeScript
   * can check `runNamed()`'s keys and `setArg()`'s names: function types carry no parameter
   * names. For a function that destructures one object (`({ inFile, fwhm }) => ...`), its keys.
   * Checked against the function's source when the stage is made (`invalid-option` if they
   * differ); it changes nothing else.
   * @default undefined (`runNamed()` accepts any object; names are checked when it runs)
   * @example inputs: ["inFile", "fwhm"]
   */
  readonly inputs?: N;
  /**
   * Environment variables whose values are part of the stage's inputs (tools such as FSL
   * change behaviour with `FSLOUTPUTTYPE`). They are recorded as inputs named `env:NAME`.
   * @default []
   * @example env: ["FSLOUTPUTTYPE", "OMP_NUM_THREADS"]
   */
  readonly env?: readonly string[];
  /**
   * Replaces the automatic code identity (the function's code and everything it reaches) by a
   * version you control: the stage re-runs when you change this string, and only then as far
   * as its code is concerned (inputs, `env`, the environment variables the code reads by name,
   * and outputs still count). For code memori cannot
   * follow (reached through `this`, `eval` or computed imports), or to pin a version by hand.
   * @example codeVersion: "2"
   */
  readonly codeVersion?: string;
  /**
   * The stage's code is irrelevant to its results (a pure data loader whose code may change
   * freely): no change to the code re-runs it. Inputs, `env`, the environment variables the
   * code reads by name (`process.env.NAME`) and outputs still count.
   * @default false
   */
  readonly ignoreCode?: boolean;
  /**
   * Record the files the function opens without naming them in its arguments: those it reads
   * (a template, a config, an atlas opened by path) become inputs, and the stage re-runs when
   * one changes; those it writes are tracked like outputs. Seen for JavaScript code in this
   * process, and for processes it starts with `runProcess` (through strace, where installed);
   * not in worker threads or native addons.
   * @default true
   */
  readonly trackReads?: boolean;
  /**
   * Paths inside the directories the stage takes or returns that do not count: globs relative
   * to each directory (picomatch syntax, dot files included). A log or a lock file a tool keeps
   * in its directory changes on every run without changing the results.
   * @default []
   * @example ignore: ["**\/*.log", "scripts/IsRunning.*"]
   */
  readonly ignore?: readonly string[];
  /**
   * Parameters or outputs whose paths count by name only, not by content: for a directory
   * that is only a place to write. An output directory that later stages write into (a stage
   * that makes `derivatives/` and returns it) would otherwise re-run its stage whenever they
   * do; an argument directory is already compared by name once the stage writes into it.
   * @default []
   * @example byName: ["outDir"]
   */
  readonly byName?: readonly string[];
  /**
   * Always hash file contents, never trusting a file's stat identity (size, timestamps,
   * inode) to stand for its content: for file systems whose timestamps cannot be trusted.
   * `MEMORI_ALWAYS_HASH=1` does this for every stage.
   * @default false
   */
  readonly alwaysHash?: boolean;
  /**
   * Read-only caches (e.g. a lab-wide cache): on a miss in `hashOutput`, a matching, still
   * valid result of the same stage name found in one of these directories is used without
   * running (and without writing there), and recorded in `hashOutput`.
   * @default []
   * @example readonlyCaches: ["/lab/shared/.memori"]
   */
  readonly readonlyCaches?: readonly string[];
  /**
   * Where messages go.
   * @default warnings to stderr; decisions too when MEMORI_VERBOSE=1
   */
  readonly logger?: Logger;
  /**
   * How long one attempt of the function may run, in milliseconds. When it is over, the call's
   * abort signal fires (processes started with `runProcess` or `scriptFunction` are killed), the
   * attempt fails with reason `timeout` and nothing is recorded. Hashing and waiting for the
   * lock do not count.
   * @default no limit
   * @example timeout: 2 * 60 * 60 * 1000 // FreeSurfer's recon-all, at most 2 hours
   */
  readonly timeout?: number;
  /**
   * How many times a failed attempt (the function threw, or timed out) is tried again before the
   * stage is called failed. Each attempt is reported with its number.
   * @default 0
   */
  readonly retries?: number;
  /**
   * The function is cheap and free of side effects (listing the files a map runs over, say):
   * `explain()` may call it when it would run, so what follows it is explained too instead of
   * being "run if upstream changes". Its state is not written by a dry run.
   * @default false
   */
  readonly cheap?: boolean;
  /**
   * Told what happens when this stage runs (alone, in a map, or in a pipeline, beside the
   * pipeline's listener): `stage:*` events.
   * @default undefined
   */
  readonly onEvent?: EventListener;
  /**
   * Where the function runs. In-process by default; a `workerFunction` runs on worker threads.
   * @default the function's own (in-process)
   */
  readonly executor?: Executor;
}

/** Options of {@link Stage.map} and {@link MappedStage}. */
export interface MapOptions {
  /**
   * `"cross"`: every combination of the mapped lists (pydra's list splitter); `"zip"`: element
   * i of each list together (pydra's tuple splitter; the lists must have equal lengths).
   * @default "cross"
   */
  readonly mode?: "cross" | "zip";
  /**
   * How many elements may run at once. In a pipeline the pipeline's `concurrency` bounds them
   * too (and stages and elements share it); run alone, this is the only bound.
   * @default the number of available CPUs (alone), no limit of its own (in a pipeline)
   */
  readonly concurrency?: number;
  /**
   * Names an element in logs, errors, events and summaries, from its mapped values. Labels
   * that repeat get `#index` appended.
   * @default the element's values: a block's key, a file path's tail, `a=1,b=x`; an element
   * streamed from an upstream map keeps that element's label
   * @example label: ({ t1w }) => path.basename(t1w).split("_")[0] // "sub-07"
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- so `({ t1w }: { t1w: string }) => ...` fits
  readonly label?: (values: Record<string, any>) => string;
}

/** Check a map's options (`mode`, `concurrency`, `label`). */
export function checkMapOptions(stage: string, options: MapOptions): void {
  const { mode = "cross", concurrency, label } = options;
  if (mode !== "cross" && mode !== "zip") fail(stage, "mode", '"cross" or "zip"', mode);
  if (concurrency !== undefined && (!Number.isInteger(concurrency) || concurrency < 1)) {
    fail(stage, "concurrency", "a whole number >= 1", concurrency);
  }
  if (label !== undefined && typeof label !== "function") fail(stage, "label", "a function", label);
}

/** Whether a value is an executor (an object with an `execute()` method). */
export function isExecutor(value: unknown): value is Executor {
  return (
    typeof value === "object" && value !== null && typeof (value as Executor).execute === "function"
  );
}

function fail(stage: string, option: string, expected: string, value: unknown): never {
  throw new MemoriError(
    "invalid-option",
    `stage "${stage}": expected \`${option}\` to be ${expected}, got ${describe(value)}.`,
    { stage },
  );
}

/** Check a stage's options; returns the output names. */
export function checkStageOptions(stage: string, options: unknown): string[] {
  if (options === undefined) return ["output"];
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    fail(stage, "options", "an object", options);
  }
  const o = options as Record<string, unknown>;
  let outputs: string[];
  if (o.outputs === undefined) outputs = ["output"];
  else if (typeof o.outputs === "string") outputs = [o.outputs];
  else if (Array.isArray(o.outputs) && o.outputs.length > 0) outputs = o.outputs as string[];
  else return fail(stage, "outputs", "a name or a non-empty array of names", o.outputs);
  outputs.forEach((name, i) => {
    if (typeof name !== "string" || name.length === 0) {
      fail(stage, `outputs[${i}]`, "a non-empty string", name);
    }
  });
  const duplicate = outputs.find((name, i) => outputs.indexOf(name) !== i);
  if (duplicate !== undefined) fail(stage, "outputs", "distinct names", duplicate);
  if (o.hashOutput !== undefined && (typeof o.hashOutput !== "string" || o.hashOutput === "")) {
    fail(stage, "hashOutput", "a directory path", o.hashOutput);
  }
  for (const key of ["aliases", "args"] as const) {
    const value = o[key];
    if (
      value !== undefined &&
      (typeof value !== "object" || value === null || Array.isArray(value))
    ) {
      fail(stage, key, "an object", value);
    }
  }
  if (
    o.readonlyCaches !== undefined &&
    !(
      Array.isArray(o.readonlyCaches) &&
      o.readonlyCaches.every((d) => typeof d === "string" && d !== "")
    )
  ) {
    fail(stage, "readonlyCaches", "an array of directory paths", o.readonlyCaches);
  }
  if (
    o.env !== undefined &&
    !(
      Array.isArray(o.env) &&
      o.env.every((v) => typeof v === "string" && /^[A-Za-z_][A-Za-z0-9_]*$/.test(v))
    )
  ) {
    fail(stage, "env", "an array of environment variable names", o.env);
  }
  for (const key of ["ignore", "byName", "inputs"] as const) {
    const list = o[key];
    if (
      list !== undefined &&
      !(Array.isArray(list) && list.every((v) => typeof v === "string" && v !== ""))
    ) {
      fail(stage, key, "an array of non-empty strings", list);
    }
  }
  if (o.alwaysHash !== undefined && typeof o.alwaysHash !== "boolean") {
    fail(stage, "alwaysHash", "a boolean", o.alwaysHash);
  }
  if (
    o.timeout !== undefined &&
    !(typeof o.timeout === "number" && o.timeout > 0 && o.timeout < 2 ** 31)
  ) {
    fail(stage, "timeout", "a number of milliseconds > 0 (below 2^31)", o.timeout);
  }
  if (o.retries !== undefined && !(Number.isInteger(o.retries) && (o.retries as number) >= 0)) {
    fail(stage, "retries", "a whole number >= 0", o.retries);
  }
  if (o.codeVersion !== undefined && (typeof o.codeVersion !== "string" || o.codeVersion === "")) {
    fail(stage, "codeVersion", "a non-empty string", o.codeVersion);
  }
  if (o.ignoreCode === true && o.codeVersion !== undefined) {
    throw new MemoriError(
      "invalid-option",
      `stage "${stage}": give codeVersion or ignoreCode, not both (ignoreCode leaves no code identity to version).`,
      { stage },
    );
  }
  for (const key of ["cheap", "ignoreCode", "trackReads"] as const) {
    if (o[key] !== undefined && typeof o[key] !== "boolean") fail(stage, key, "a boolean", o[key]);
  }
  if (o.onEvent !== undefined && typeof o.onEvent !== "function") {
    fail(stage, "onEvent", "a function", o.onEvent);
  }
  if (o.executor !== undefined && !isExecutor(o.executor)) {
    fail(stage, "executor", "an executor (an object with an execute() method)", o.executor);
  }
  const known = new Set([
    "env",
    "alwaysHash",
    "outputs",
    "hashOutput",
    "name",
    "aliases",
    "args",
    "inputs",
    "logger",
    "readonlyCaches",
    "timeout",
    "retries",
    "cheap",
    "codeVersion",
    "ignoreCode",
    "trackReads",
    "ignore",
    "byName",
    "onEvent",
    "executor",
  ]);
  for (const key of Object.keys(o)) {
    if (!known.has(key)) {
      throw new MemoriError(
        "invalid-option",
        `stage "${stage}": unknown option \`${key}\`; the options are ${[...known].join(", ")}.`,
        { stage },
      );
    }
  }
  return outputs;
}
