import { MemoriError, describe } from "./errors.js";

/** Where memori's messages go. */
export interface Logger {
  /** Decisions and what is waited for; printed with `verbose`. */
  info(message: string): void;
  /** Problems that do not stop the run (unreadable state, tampered outputs under forceSkip). */
  warn(message: string): void;
}

/** A logger that prints warnings to stderr, and decisions too when `verbose` is on. */
export function stderrLogger(verbose = isVerboseFromEnv()): Logger {
  return {
    info: verbose ? (message) => process.stderr.write(`memori: ${message}\n`) : () => undefined,
    warn: (message) => process.stderr.write(`memori: warning: ${message}\n`),
  };
}

function isVerboseFromEnv(): boolean {
  const value = process.env.MEMORI_VERBOSE;
  return value !== undefined && value !== "" && value !== "0" && value !== "false";
}

/** Options of a {@link Stage}. */
export interface StageOptions<
  O extends readonly string[] | string = readonly string[] | string,
  A extends Record<string, string> = Record<string, string>,
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
   * Static arguments by parameter name. They override what `run()` is given.
   * @default {}
   * @example args: { threshold: 0.5 }
   */
  readonly args?: Record<string, unknown>;
  /**
   * Environment variables whose values are part of the stage's inputs (tools such as FSL
   * change behaviour with `FSLOUTPUTTYPE`). They are recorded as inputs named `env:NAME`.
   * @default []
   * @example env: ["FSLOUTPUTTYPE", "OMP_NUM_THREADS"]
   */
  readonly env?: readonly string[];
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
}

/**
 * Whether `MEMORI_REFRESH` asks every stage to run again (as if given `forceRun`).
 */
export function refreshFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.MEMORI_REFRESH;
  return value !== undefined && value !== "" && value !== "0" && value !== "false";
}

/** Options of one run of a stage. */
export interface RunOptions {
  /**
   * Run the function even if its state says the result is cached (`MEMORI_REFRESH=1` does this
   * for every stage). @default false
   */
  readonly forceRun?: boolean;
  /**
   * Load the stored results even if the code, inputs or output files changed (memori warns
   * about changed output files). It is an error if nothing is stored.
   * @default false
   */
  readonly forceSkip?: boolean;
  /** Write the state even when the stage was skipped (records the current inputs). @default false */
  readonly forceHashWrite?: boolean;
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
  if (o.alwaysHash !== undefined && typeof o.alwaysHash !== "boolean") {
    fail(stage, "alwaysHash", "a boolean", o.alwaysHash);
  }
  const known = new Set([
    "env",
    "alwaysHash",
    "outputs",
    "hashOutput",
    "name",
    "aliases",
    "args",
    "logger",
    "readonlyCaches",
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
