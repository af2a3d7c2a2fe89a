/**
 * Every failure memori reports is a {@link MemoriError} with a stable, kebab-case `reason`
 * that callers can branch on, the stage it concerns (when there is one), and the original
 * error as `cause`.
 */

/** The reasons a {@link MemoriError} can carry. */
export type MemoriErrorReason =
  | "invalid-option"
  | "invalid-name"
  | "invalid-argument"
  | "missing-argument"
  | "unknown-argument"
  | "missing-output"
  | "unserializable"
  | "source-unavailable"
  | "invalid-pipeline"
  | "cycle"
  | "state-collision"
  | "stage-failed"
  | "no-state"
  | "state-not-writable"
  | "lock-failed"
  | "process-failed"
  | "interrupted"
  | "timeout"
  | "not-found"
  | "job-failed";

/**
 * The error class of memori.
 *
 * @example
 * ```ts
 * try {
 *   await stage.run();
 * } catch (error) {
 *   if (error instanceof MemoriError && error.reason === "missing-argument") {
 *     console.error(`give ${error.stage} its arguments`);
 *   }
 * }
 * ```
 */
export class MemoriError extends Error {
  /** `"MemoriError"`, for every subclass too: branch on `reason`, or use `instanceof`. */
  override readonly name = "MemoriError";
  /** What went wrong, as a stable kebab-case word. */
  readonly reason: MemoriErrorReason;
  /** The name of the stage concerned, if any. */
  readonly stage: string | undefined;
  /** The label of the map element concerned, if any (`sub-07`, a block's key). */
  readonly element: string | undefined;

  constructor(
    reason: MemoriErrorReason,
    message: string,
    options: { stage?: string | undefined; element?: string | undefined; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.stage = options.stage;
    this.element = options.element;
  }
}

/** What a {@link ProcessFailedError} says about the process, beside its message and status. */
export interface ProcessFailure {
  /** The command as it was given to `runProcess` (the script, for `scriptFunction`). */
  readonly command?: string | readonly string[];
  /** The exit code, or `undefined` when a signal ended the process. */
  readonly exitCode?: number | undefined;
  /** The signal that ended the process, if one did. */
  readonly signal?: NodeJS.Signals | undefined;
  /** The end of what the process wrote to stderr (at most 8 KiB), or `""` where it was not kept. */
  readonly stderrTail?: string;
  /** Its stdout, with `capture: true` (its last `captureLimit` bytes). */
  readonly stdout?: string | undefined;
  /** Its stderr, with `capture: true` (its last `captureLimit` bytes). */
  readonly stderr?: string | undefined;
  /** The error behind this one, if any. */
  readonly cause?: unknown;
}

/**
 * A process failed: `runProcess` (unless given `reject: false`) or a `scriptFunction` script
 * exited with a non-zero status or was killed by a signal, or a script exited 0 but left one of
 * its `expectedOutputs` missing. Its reason is `process-failed`. Thrown inside a stage, it fails
 * the stage: nothing is recorded, and the next run runs it again.
 *
 * @example
 * ```ts
 * try {
 *   await runProcess(["bet", t1w, brain]);
 * } catch (error) {
 *   if (error instanceof ProcessFailedError) {
 *     console.error(error.exitCode, error.signal, error.stderrTail);
 *   }
 *   throw error;
 * }
 * ```
 */
export class ProcessFailedError extends MemoriError {
  /** The command as it was given (the script, for `scriptFunction`); `""` if unknown. */
  readonly command: string | readonly string[];
  /** The exit code, or `undefined` when a signal ended the process. */
  readonly exitCode: number | undefined;
  /** The signal that ended the process, if one did (`"SIGKILL"` from the OOM killer, say). */
  readonly signal: NodeJS.Signals | undefined;
  /**
   * The end of what the process wrote to stderr: its last 8 KiB at most, kept when stderr went
   * through memori (the default, or `capture: true`); `""` when it did not (`stdio` given).
   */
  readonly stderrTail: string;
  /** Its stdout, when it was captured (`capture: true`). */
  readonly stdout: string | undefined;
  /** Its stderr, when it was captured (`capture: true`). */
  readonly stderr: string | undefined;

  constructor(
    message: string,
    /**
     * The status a shell would report: the exit code, 128 + N for signal N, or 1 for a script
     * that left an expected output missing.
     */
    readonly status: number,
    details: ProcessFailure = {},
  ) {
    super("process-failed", message, { cause: details.cause });
    this.command = details.command ?? "";
    this.exitCode = details.exitCode;
    this.signal = details.signal;
    this.stderrTail = details.stderrTail ?? "";
    this.stdout = details.stdout;
    this.stderr = details.stderr;
  }
}

/**
 * Name the stage (and element) an error concerns, where it does not say: an error a stage's
 * own function raised (a failed script) is about that stage.
 */
export function attribute<E extends MemoriError>(error: E, stage: string, element?: string): E {
  const writable = error as { stage: string | undefined; element: string | undefined };
  writable.stage ??= stage;
  if (element !== undefined && writable.stage === stage) writable.element ??= element;
  return error;
}

/** Describe a value's type for error messages: `5 (number)`, `a Map`, `an instance of Foo`. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "string":
      return `${JSON.stringify(value.length > 60 ? value.slice(0, 57) + "..." : value)} (string)`;
    case "number":
    case "boolean":
    case "bigint":
      return `${String(value)} (${typeof value})`;
    case "undefined":
      return "undefined";
    case "function":
      return `a function${value.name ? ` (${value.name})` : ""}`;
    case "symbol":
      return `a symbol (${String(value.description)})`;
    default: {
      const proto = Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null;
      const ctor = proto?.constructor?.name;
      if (proto === null || proto === Object.prototype) return "an object";
      return ctor ? `an instance of ${ctor}` : "an object with an unknown prototype";
    }
  }
}

/** The message of anything thrown. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The `code` of a Node system error, if any. */
export function codeOf(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === "string" ? code : undefined;
  }
  return undefined;
}
