/**
 * A stage function's signature: matching a call's arguments to its parameters (binding),
 * calling it with bound arguments, and naming what it returns.
 */
import { MemoriError, describe } from "../errors.js";
import type { ParsedSource } from "../hashing/source.js";

/** Arguments of one run, before binding: positional and by name. */
export interface Invocation {
  /** Arguments by position, as `run(...args)` takes them. */
  positional: readonly unknown[];
  /** Arguments by parameter name, as `runNamed(args)` takes them. */
  named: Readonly<Record<string, unknown>>;
}

/** The positional arguments of a call that has none (one array for all of them). */
export const NO_POSITIONAL: readonly unknown[] = Object.freeze([]);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyFn = (...args: any[]) => unknown;

function quoted(names: readonly string[]): string {
  return names.map((n) => `"${n}"`).join(", ");
}

/** The parameters of a stage function, read from its source. */
export class Signature {
  constructor(
    /** The stage, named in errors. */
    readonly stage: string,
    readonly source: ParsedSource,
  ) {}

  #names: readonly string[] | undefined;

  /** Parameter names, in order (without a rest parameter): the caller's own copy. */
  get inputs(): string[] {
    return [...this.names];
  }

  /** Parameter names, in order (without a rest parameter), read-only and made once. */
  get names(): readonly string[] {
    return (this.#names ??= this.source.parameters.map((p) => p.name));
  }

  /** Parameters that have no default: a call must supply them. */
  get required(): string[] {
    return this.source.parameters.filter((p) => !p.hasDefault).map((p) => p.name);
  }

  /** Whether `name` is a parameter (or the rest parameter). */
  accepts(name: string): boolean {
    return this.names.includes(name) || this.source.rest === name;
  }

  /** The parameters for messages: `"a", "b", "...rest"`, or `none`. */
  parameterList(): string {
    const names = this.source.parameters.map((p) => `"${p.name}"`);
    if (this.source.rest) names.push(`"...${this.source.rest}"`);
    return names.length ? names.join(", ") : "none";
  }

  /** The error for a name that is not a parameter. */
  unknown(name: string): MemoriError {
    return new MemoriError(
      "unknown-argument",
      `stage "${this.stage}" has no parameter "${name}"; its parameters are ${this.parameterList()}.`,
      { stage: this.stage },
    );
  }

  /** Match arguments to parameters; static arguments win. Returns them by name, in parameter order. */
  bind(
    { positional, named }: Invocation,
    staticArgs: Readonly<Record<string, unknown>>,
  ): Record<string, unknown> {
    const source = this.source;
    const bound: Record<string, unknown> = {};
    let given = positional;
    if (source.mode === "object" && given.length > 0) {
      const only = given[0];
      if (given.length > 1 || typeof only !== "object" || only === null || Array.isArray(only)) {
        throw new MemoriError(
          "invalid-argument",
          `stage "${this.stage}": its function takes one object ({ ${this.inputs.join(", ")} }); pass that object, or use runNamed().`,
          { stage: this.stage },
        );
      }
      named = { ...(only as Record<string, unknown>), ...named };
      given = [];
    }
    const parameters = source.parameters;
    const count = Math.min(given.length, parameters.length);
    for (let i = 0; i < count; i++) if (i in given) bound[parameters[i]!.name] = given[i];
    if (given.length > parameters.length) {
      if (source.rest === undefined) {
        throw new MemoriError(
          "invalid-argument",
          `stage "${this.stage}" takes ${parameters.length} argument(s) (${this.parameterList()}), got ${given.length}.`,
          { stage: this.stage },
        );
      }
      bound[source.rest] = given.slice(parameters.length);
    }
    const keys = Object.keys(named);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      if (!this.accepts(key)) throw this.unknown(key);
      bound[key] = named[key];
    }
    Object.assign(bound, staticArgs);
    // Keep parameter order, so that the recorded inputs read naturally.
    const ordered: Record<string, unknown> = {};
    let missing = false;
    for (let i = 0; i < parameters.length; i++) {
      const { name, hasDefault } = parameters[i]!;
      // `undefined` given for a parameter with a default is the default, as if not given: the
      // function sees the same value, and the inputs are the same.
      if (name in bound && !(hasDefault && bound[name] === undefined)) ordered[name] = bound[name];
      else if (!hasDefault) missing = true;
    }
    if (missing) {
      throw this.missing(
        parameters.filter((p) => !p.hasDefault && !(p.name in bound)).map((p) => p.name),
        Object.keys(bound),
      );
    }
    if (source.rest !== undefined && source.rest in bound)
      ordered[source.rest] = bound[source.rest];
    return ordered;
  }

  /** The error for required parameters that nothing supplies. */
  missing(names: readonly string[], given: readonly string[]): MemoriError {
    return new MemoriError(
      "missing-argument",
      `stage "${this.stage}" is missing argument ${quoted(names)}; it was given ${given.length ? quoted(given) : "nothing"}.`,
      { stage: this.stage },
    );
  }

  /** The positional arguments for a call with bound arguments (object mode: the one object). */
  argumentsFor(inputArgs: Readonly<Record<string, unknown>>): unknown[] {
    const source = this.source;
    if (source.mode === "object") return [inputArgs];
    const args: unknown[] = source.parameters.map((p) => inputArgs[p.name]);
    let length = args.length;
    while (length > 0 && !(source.parameters[length - 1]!.name in inputArgs)) length--;
    args.length = length;
    if (source.rest !== undefined && Array.isArray(inputArgs[source.rest])) {
      args.length = source.parameters.length;
      args.push(...(inputArgs[source.rest] as unknown[]));
    }
    return args;
  }
}

/** Name a function's returned value(s) after the stage's outputs. */
export function nameOutputs(
  stage: string,
  names: readonly string[],
  returned: unknown,
): Record<string, unknown> {
  if (names.length === 1) return { [names[0] as string]: returned };
  const missing = (which: string) =>
    new MemoriError(
      "missing-output",
      `stage "${stage}" declares outputs ${quoted(names)} but ${which}.`,
      { stage },
    );
  if (Array.isArray(returned)) {
    if (returned.length !== names.length) {
      throw missing(`returned an array of ${returned.length} value(s)`);
    }
    return Object.fromEntries(names.map((name, i) => [name, returned[i]]));
  }
  if (typeof returned === "object" && returned !== null) {
    const record = returned as Record<string, unknown>;
    const absent = names.filter((name) => !(name in record));
    if (absent.length > 0) throw missing(`its returned object has no ${quoted(absent)}`);
    return Object.fromEntries(names.map((name) => [name, record[name]]));
  }
  throw missing(`returned ${describe(returned)}; return an array or an object with those keys`);
}

/** Check that an alias points to an output and does not shadow another output. */
export function checkAlias(
  stage: string,
  outputs: readonly string[],
  alias: string,
  target: unknown,
): void {
  if (typeof target !== "string" || !outputs.includes(target)) {
    throw new MemoriError(
      "invalid-option",
      `stage "${stage}": alias "${alias}" points to ${describe(target)}, which is not one of its outputs (${outputs.join(", ")}).`,
      { stage },
    );
  }
  if (outputs.includes(alias) && alias !== target) {
    throw new MemoriError(
      "invalid-option",
      `stage "${stage}": alias "${alias}" is already the name of an output.`,
      { stage },
    );
  }
}

/** A stage's results: its outputs plus one key per alias. */
export function withAliases(
  stage: string,
  outputs: readonly string[],
  aliases: Readonly<Record<string, string>>,
  values: Record<string, unknown>,
): Record<string, unknown> {
  const results: Record<string, unknown> = { ...values };
  for (const alias in aliases) {
    if (!Object.hasOwn(aliases, alias)) continue;
    const target = aliases[alias]!;
    if (!outputs.includes(target)) {
      throw new MemoriError(
        "invalid-option",
        `stage "${stage}": alias "${alias}" points to "${target}", which is not one of its outputs (${outputs.join(", ")}).`,
        { stage },
      );
    }
    results[alias] = values[target];
  }
  return results;
}
