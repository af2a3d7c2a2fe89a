/**
 * Failures as values inside the engine, and the one place where they become the documented
 * exceptions at the public edge (`run()`, `map()`, `pipeline.run()`).
 */
import { MemoriError, attribute, describe, messageOf } from "../errors.js";

/** Why a call failed. */
export type Failure =
  /** One of memori's own steps failed: binding, encoding, reading or writing state, locking. */
  | { kind: "error"; error: unknown }
  /** The stage's function threw (or rejected). */
  | { kind: "threw"; error: unknown }
  /** An attempt ran longer than the stage's `timeout`. */
  | { kind: "timeout"; ms: number }
  /** The run was interrupted (Ctrl-C, SIGTERM, an abort signal) while the call ran. */
  | { kind: "cancelled"; cause: unknown };

/** A call that failed, with what names it in messages. */
export interface CallFailure {
  readonly stage: string;
  /** The map element's label, for one element of a map. */
  readonly element: string | undefined;
  /** The bound arguments, when binding succeeded. */
  readonly inputArgs: Readonly<Record<string, unknown>> | undefined;
  readonly attempt: number;
  readonly attempts: number;
  readonly failure: Failure;
}

/** Whether another attempt may succeed: the function failed or hung, not memori's own checks. */
export function retryable(failure: Failure): boolean {
  return failure.kind === "threw" || failure.kind === "timeout";
}

/** A short rendering of a value for messages. */
function preview(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = describe(value);
  }
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function inputsText(inputArgs: Readonly<Record<string, unknown>> | undefined): string {
  const entries = Object.entries(inputArgs ?? {});
  return `{${entries.map(([k, v]) => `${k}=${preview(v)}`).join(", ")}}`;
}

/** `stage "x"`, or `stage "x" element sub-07`. */
function subject(f: CallFailure): string {
  return `stage "${f.stage}"${f.element === undefined ? "" : ` element ${f.element}`}`;
}

/** What a failure says in one line (for map errors and reporters): the cause's own message. */
export function failureMessage(f: CallFailure): string {
  const { failure } = f;
  switch (failure.kind) {
    case "error":
    case "threw":
      return messageOf(failure.error);
    case "timeout":
      return `timed out after ${failure.ms} ms (attempt ${f.attempt} of ${f.attempts})`;
    case "cancelled":
      return `cancelled (${messageOf(failure.cause)})`;
  }
}

/** The value a map reports for a failed element (`ElementFailure.error`). */
export function failureCause(f: CallFailure): unknown {
  const { failure } = f;
  if (failure.kind === "error" || failure.kind === "threw") return failure.error;
  return errorOf(f, "stage");
}

/**
 * The exception for a failed call. `where` is `"stage"` for a stage or map run alone, and
 * `"pipeline"` inside a pipeline, where a function's own error is wrapped in a `stage-failed`
 * error that names the stage and its inputs. `offered` lists what the stages feeding it
 * offered, for a missing argument.
 */
export function errorOf(
  f: CallFailure,
  where: "stage" | "pipeline",
  offered?: readonly string[],
): MemoriError {
  const { failure } = f;
  const options = { stage: f.stage, element: f.element };
  const prefix = where === "pipeline" ? "pipeline: " : "";
  switch (failure.kind) {
    case "timeout":
      return new MemoriError(
        "timeout",
        `${prefix}${subject(f)} timed out after ${failure.ms} ms (attempt ${f.attempt} of ${f.attempts}); its processes were stopped and nothing was recorded.`,
        options,
      );
    case "cancelled":
      return new MemoriError(
        "interrupted",
        `${prefix}${subject(f)} was cancelled (${messageOf(failure.cause)}); nothing was recorded.`,
        { ...options, cause: failure.cause },
      );
    case "error": {
      const { error } = failure;
      if (!(error instanceof MemoriError)) break;
      if (error.reason === "missing-argument" && offered !== undefined && where === "pipeline") {
        return missingInPipeline(error, offered);
      }
      return attribute(error, f.stage, f.element);
    }
    case "threw": {
      const { error } = failure;
      if (error instanceof MemoriError && (where === "stage" || error.stage === f.stage)) {
        return attribute(error, f.stage, f.element);
      }
      break;
    }
  }
  const resume =
    where === "pipeline"
      ? " Earlier stages' state is kept; a re-run resumes from this stage."
      : " Nothing was recorded.";
  return new MemoriError(
    "stage-failed",
    `${prefix}${subject(f)} failed with inputs ${inputsText(f.inputArgs)}: ${failureMessage(f)}.${resume}`,
    {
      ...options,
      cause: failure.kind === "error" || failure.kind === "threw" ? failure.error : undefined,
    },
  );
}

/** A missing argument in a pipeline: with what the stages feeding the stage offered. */
export function missingInPipeline(error: MemoriError, offered: readonly string[]): MemoriError {
  return new MemoriError(
    "missing-argument",
    `pipeline: ${error.message} The stages feeding it offered ${offered.length ? offered.map((n) => `"${n}"`).join(", ") : "nothing"}; rename an output, add an alias, or set a static argument.`,
    { stage: error.stage, element: error.element, cause: error },
  );
}

/** One element of a map that failed. */
export interface ElementFailure {
  /** Position in the map's order of elements. */
  index: number;
  /** How the element is named in messages: its label (a block's key, a subject). */
  label: string;
  /** The mapped values of the element. */
  values: Record<string, unknown>;
  /** What the element's call threw (a `MemoriError` naming the stage and the element). */
  error: unknown;
}

/**
 * Some elements of a map failed; the others completed and are cached. `failures` says which
 * (by label) and why; `results` holds every output as an array in input order, with
 * `undefined` where an element failed.
 *
 * @example
 * ```ts
 * try {
 *   await skullStrip.map({ t1w: files });
 * } catch (error) {
 *   if (!(error instanceof MapError)) throw error;
 *   for (const failure of error.failures) console.error(failure.label, failure.error);
 *   const { brain } = error.results; // the elements that succeeded, in input order
 * }
 * ```
 */
export class MapError extends MemoriError {
  constructor(
    stage: string,
    /** The elements that failed, in input order. */
    readonly failures: readonly ElementFailure[],
    /** Every output as an array in input order, `undefined` where an element failed. */
    readonly results: Record<string, unknown[]>,
    total: number,
  ) {
    super(
      "stage-failed",
      `stage "${stage}": ${failures.length} of ${total} mapped elements failed: ${failures
        .slice(0, 10)
        .map((f) => `${f.label} (${messageOf(f.error)})`)
        .join(
          "; ",
        )}${failures.length > 10 ? "; ..." : ""}. The other elements completed and are cached.`,
      { stage, cause: failures[0]?.error },
    );
  }
}

function named(error: MemoriError): string {
  return `"${error.stage}${error.element === undefined ? "" : `[${error.element}]`}"`;
}

/**
 * Stages (or map elements) of a pipeline failed, with `keepGoing`. `failures` holds each
 * one's error, in topological order (elements in input order); `blocked` names the stages and
 * elements that did not run because they depend on a failed one. A re-run resumes from the
 * failed ones.
 *
 * @example
 * ```ts
 * try {
 *   await pipeline.withOptions({ keepGoing: true }).run(subjects);
 * } catch (error) {
 *   if (!(error instanceof PipelineError)) throw error;
 *   for (const failure of error.failures) console.error(failure.stage, failure.element, failure.message);
 *   console.error("not run:", error.blocked.join(", "));
 * }
 * ```
 */
export class PipelineError extends MemoriError {
  constructor(
    /** Each failed stage's (or map element's) error, naming its stage. */
    readonly failures: readonly MemoriError[],
    /** The stages and map elements not run because one they depend on failed. */
    readonly blocked: readonly string[],
  ) {
    const stages = new Set(failures.map((f) => f.stage));
    super(
      "stage-failed",
      `pipeline: ${failures.length} ${failures.length === 1 ? "stage" : "stages"} failed (${failures.map(named).join(", ")})${blocked.length ? `; not run because they depend on them: ${blocked.map((b) => `"${b}"`).join(", ")}` : ""}:\n${failures.map((f) => `  - ${f.message}`).join("\n")}`,
      { cause: failures[0], ...(stages.size === 1 ? { stage: [...stages][0] } : {}) },
    );
  }
}
