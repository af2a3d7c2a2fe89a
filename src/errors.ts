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
