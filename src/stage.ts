/**
 * `Stage`: a function wrapped for memoization. A facade: the definition it builds is run by
 * the engine (src/engine/), like every other call.
 */
import { availableParallelism } from "node:os";
import { MemoriError, describe } from "./errors.js";
import type { Explanation } from "./decision.js";
import { alwaysHasher, defaultHasher } from "./hashing/files.js";
import { sourceOf, unwrap } from "./hashing/wrappers.js";
import {
  checkStageOptions,
  stderrLogger,
  type MapOptions,
  type RunOptions,
  type StageOptions,
} from "./options.js";
import { checkStateName, type StateStore } from "./state/store.js";
import { stageLocation } from "./state/location.js";
import { MappedStage } from "./map.js";
import {
  DEFINITION,
  MAPPING,
  NodeBase,
  REMEMBER,
  type Outcome,
  type StageDef,
} from "./engine/node.js";
import { explainAlone, runAlone } from "./engine/alone.js";
import { Signature, checkAlias, type AnyFn } from "./engine/signature.js";
import type { MapLists, NamedArgs, PositionalArgs } from "./stage-inputs.js";

export type { Invocation } from "./engine/signature.js";
export type { Outcome } from "./engine/node.js";
export type { MapLists, NamedArgs, PositionalArgs } from "./stage-inputs.js";

type Returned<F> = F extends (...args: never[]) => infer R ? Awaited<R> : unknown;

/** The output names of a stage, from its `outputs` option. */
export type OutputNames<O> = O extends readonly (infer N extends string)[]
  ? N
  : O extends string
    ? O
    : string;

type OutputType<F, O, K> = O extends string
  ? Returned<F>
  : O extends readonly [string]
    ? Returned<F>
    : O extends readonly string[]
      ? Returned<F> extends readonly (infer E)[]
        ? number extends Returned<F>["length"]
          ? E // an array: every output is one of its elements
          : { [I in keyof O]: O[I] extends K ? I : never }[number] extends infer I
            ? I extends keyof Returned<F>
              ? Returned<F>[I]
              : unknown
            : unknown
        : K extends keyof Returned<F>
          ? Returned<F>[K]
          : unknown
      : unknown;

/**
 * What a stage's `run()` resolves to: one key per output name, typed from the function's
 * return type where the names are literals, plus one key per alias.
 */
export type StageResults<F, O, A> = {
  [K in OutputNames<O>]: OutputType<F, O, K>;
} & {
  [K in keyof A]: A[K] extends OutputNames<O> ? OutputType<F, O, A[K]> : unknown;
};

/**
 * A function wrapped for memoization: its return values get names, and with `hashOutput`
 * a re-run whose code, inputs and output files are unchanged loads its results from the
 * state files instead of calling the function.
 *
 * @example
 * ```ts
 * const add = new Stage((a: number, b: number) => [a + b, a * b], {
 *   outputs: ["sum", "product"],
 *   hashOutput: ".memori",
 *   name: "add",
 * });
 * const { sum } = await add.run(1, 2); // runs
 * await add.run(1, 2); // loads from .memori/add.outputs
 * ```
 *
 * Its inputs are typed from the function: `run(...)` takes the function's parameters (wrong
 * arity or types fail to compile). `runNamed({...})` is checked only when the stage names its
 * parameters with the `inputs` option (TypeScript's function types have no parameter names):
 *
 * ```ts
 * const smooth = new Stage((inFile: string, fwhm: number = 6) => blur(inFile, fwhm), {
 *   inputs: ["inFile", "fwhm"],
 *   name: "smooth",
 * });
 * await smooth.runNamed({ inFile: "t1.nii" }); // fwhm has a default
 * await smooth.runNamed({ infile: "t1.nii" }); // compile error: no parameter "infile"
 * ```
 *
 * @typeParam F - the wrapped function
 * @typeParam O - the output names (`outputs` option)
 * @typeParam A - the aliases (`aliases` option)
 * @typeParam N - the parameter names (`inputs` option); `readonly string[]` when not declared
 * @typeParam S - the static arguments (`args` option)
 */
export class Stage<
  F extends AnyFn = AnyFn,
  const O extends readonly string[] | string = readonly ["output"],
  const A extends Record<string, OutputNames<O>> = Record<never, never>,
  const N extends readonly string[] = readonly string[],
  S extends Record<string, unknown> = Record<never, never>,
> extends NodeBase<StageResults<F, O, A>> {
  /** @internal What the engine runs. */
  readonly [DEFINITION]: StageDef;
  /** @internal A stage is not mapped (see {@link MappedStage}). */
  readonly [MAPPING] = undefined;

  constructor(fn: F, options?: StageOptions<O, A, N, S>) {
    super();
    const provisional = options?.name ?? (typeof fn === "function" ? fn.name : "") ?? "";
    if (typeof fn !== "function") {
      throw new MemoriError(
        "invalid-argument",
        `stage "${provisional || "<anonymous>"}": expected a function to wrap, got ${describe(fn)}.`,
      );
    }
    const name = provisional || "";
    const outputs = checkStageOptions(name || "<anonymous>", options);
    const nameProblem = checkStateName(name);
    if (nameProblem !== undefined) {
      const hint =
        name === ""
          ? "Give the function a name or pass the `name` option."
          : "Use a plain file name: it names the state files inside hashOutput.";
      throw new MemoriError(
        "invalid-name",
        `stage name ${JSON.stringify(name)} ${nameProblem}. ${hint}`,
        { stage: name },
      );
    }
    const aliases: Record<string, string> = {};
    for (const [alias, target] of Object.entries(options?.aliases ?? {})) {
      checkAlias(name, outputs, alias, target);
      aliases[alias] = target;
    }
    this[DEFINITION] = {
      name,
      fn,
      signature: new Signature(name, sourceOf(unwrap(fn).inner)),
      outputs,
      args: {},
      aliases,
      hashOutput: options?.hashOutput,
      env: [...(options?.env ?? [])],
      hasher: options?.alwaysHash ? alwaysHasher : defaultHasher,
      readonlyCaches: [...(options?.readonlyCaches ?? [])],
      logger: options?.logger ?? stderrLogger(),
      timeout: options?.timeout,
      retries: options?.retries ?? 0,
      cheap: options?.cheap ?? false,
      code: { codeVersion: options?.codeVersion, ignoreCode: options?.ignoreCode ?? false },
      trackReads: options?.trackReads ?? true,
      ignore: [...(options?.ignore ?? [])],
      byName: [...(options?.byName ?? [])],
      onEvent: options?.onEvent,
      executor: options?.executor,
    };
    const { signature } = this[DEFINITION];
    for (const named of options?.byName ?? []) {
      if (!signature.accepts(named) && !outputs.includes(named)) {
        throw new MemoriError(
          "invalid-option",
          `stage "${name}": byName names "${named}", which is neither a parameter (${signature.parameterList()}) nor an output (${outputs.join(", ") || "none"}).`,
          { stage: name },
        );
      }
    }
    if (options?.inputs !== undefined) checkInputs(name, signature, options.inputs);
    for (const [key, value] of Object.entries(options?.args ?? {})) this.#setArg(key, value);
  }

  /** The wrapped function. */
  get fn(): F {
    return this[DEFINITION].fn as F;
  }

  /** The state store, when memoized. */
  get store(): StateStore | undefined {
    const { hashOutput, name } = this[DEFINITION];
    return hashOutput === undefined ? undefined : stageLocation(hashOutput, name).store;
  }

  /** The static arguments (a copy): they override what `run()` is given. */
  get args(): Record<string, unknown> {
    return { ...this[DEFINITION].args };
  }

  /** The named arguments of the last run, after static arguments were applied. */
  get inputArgs(): Record<string, unknown> {
    return this.lastInputArgs;
  }

  /**
   * Set a static argument. With the `inputs` option the name and the value are checked at
   * compile time. The types of `run` and `runNamed` do not see a static argument set here
   * (give it in the `args` option for that).
   * @example stage.setArg("threshold", 0.5)
   */
  setArg<K extends keyof NamedArgs<F, N, S> & string>(name: K, value: NamedArgs<F, N, S>[K]): void;
  setArg(name: string, value: unknown): void {
    this.#setArg(name, value);
  }

  #setArg(name: string, value: unknown): void {
    const { signature, args } = this[DEFINITION];
    if (!signature.accepts(name)) throw signature.unknown(name);
    args[name] = value;
  }

  /** Remove a static argument. */
  deleteArg(name: string): void {
    const { args } = this[DEFINITION];
    if (!(name in args)) {
      const names = Object.keys(args).map((k) => `"${k}"`);
      throw new MemoriError(
        "unknown-argument",
        `stage "${this.name}" has no static argument "${name}" to delete; its static arguments are ${names.join(", ") || "none"}.`,
        { stage: this.name },
      );
    }
    delete args[name];
  }

  /**
   * Run with positional arguments, matched to the function's parameters in order.
   * @example await stage.run("sub-01_T1w.nii.gz", 0.5)
   */
  async run(...args: PositionalArgs<F, N, S>): Promise<StageResults<F, O, A>> {
    return (await runAlone(this, { positional: args, named: {} }, {}, 1)).results as StageResults<
      F,
      O,
      A
    >;
  }

  /**
   * Run with arguments by parameter name.
   * @example await stage.runNamed({ inFile: "t1.nii.gz" }, { forceRun: true })
   */
  async runNamed(
    args: NamedArgs<F, N, S>,
    options: RunOptions = {},
  ): Promise<StageResults<F, O, A>> {
    this.#checkNamed(args, "runNamed");
    const outcome = await runAlone(
      this,
      { positional: [], named: args as Record<string, unknown> },
      options,
      1,
    );
    return outcome.results as StageResults<F, O, A>;
  }

  /**
   * Run the stage once per element of the given lists, each element memoized on its own
   * (in `<hashOutput>/<name>.map/`): adding, changing or reordering elements re-runs only the
   * new or changed ones. Results come back as one array per output, in input order. Elements
   * run concurrently; if some fail, the others still complete and a {@link MapError} says which.
   *
   * @example
   * ```ts
   * const { brain } = await skullStrip.map({ t1w: files });
   * await register.map({ moving: files, dof: [6, 12] }, { mode: "cross" }); // 2 x files.length runs
   * await smooth.map({ inFile: files, fwhm: sizes }, { mode: "zip", label: ({ inFile }) => subjectOf(inFile) });
   * ```
   */
  async map(
    lists: MapLists<F, N, S>,
    options: MapOptions & RunOptions & { readonly args?: Partial<NamedArgs<F, N, S>> } = {},
  ): Promise<{ [K in keyof StageResults<F, O, A>]: StageResults<F, O, A>[K][] }> {
    const { mode, concurrency, label, args = {}, ...runOptions } = options;
    const mapped = new MappedStage(this, Object.keys(lists as object), {
      ...(mode ? { mode } : {}),
      ...(concurrency ? { concurrency } : {}),
      ...(label ? { label } : {}),
    });
    const named = { ...(args as object), ...(lists as object) };
    let results: unknown;
    try {
      results = await mapped.runNamed(named, runOptions);
    } catch (error) {
      this[REMEMBER](undefined, mapped.elementDecisions);
      throw error;
    }
    // The stage says what its last map did (run if any element ran), as a MappedStage does.
    const outcome = { results, decision: mapped.lastDecision!, inputArgs: named } as Outcome;
    this[REMEMBER](outcome, mapped.elementDecisions);
    return results as { [K in keyof StageResults<F, O, A>]: StageResults<F, O, A>[K][] };
  }

  /**
   * Say whether `run(...args)` would run the function or load the results, and why, without
   * running anything or writing anything.
   * @example (await stage.explain("t1.nii")).reason // { kind: "input-changed", name: "t1w", ... }
   */
  async explain(...args: PositionalArgs<F, N, S>): Promise<Explanation> {
    return explainAlone(this, { positional: args, named: {} }, {}, availableParallelism());
  }

  /** {@link explain} with arguments by name, and the run options the run would get. */
  async explainNamed(args: NamedArgs<F, N, S>, options: RunOptions = {}): Promise<Explanation> {
    this.#checkNamed(args, "explainNamed");
    return explainAlone(
      this,
      { positional: [], named: args as Record<string, unknown> },
      options,
      availableParallelism(),
    );
  }

  #checkNamed(args: unknown, method: string): void {
    if (typeof args !== "object" || args === null || Array.isArray(args)) {
      throw new MemoriError(
        "invalid-argument",
        `stage "${this.name}": ${method}() takes an object of arguments by name, got ${describe(args)}.`,
        { stage: this.name },
      );
    }
  }
}

/** Check that the `inputs` option names the function's parameters, in order. */
function checkInputs(stage: string, signature: Signature, inputs: readonly string[]): void {
  const names = signature.names;
  if (inputs.length !== names.length || inputs.some((name, i) => name !== names[i])) {
    throw new MemoriError(
      "invalid-option",
      `stage "${stage}": \`inputs\` is ${inputs.map((n) => `"${n}"`).join(", ") || "empty"}, but the function's parameters, read from its source, are ${signature.parameterList()}; list them all, in order (a rest parameter has no name there).`,
      { stage },
    );
  }
}
