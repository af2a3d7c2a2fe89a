import path from "node:path";
import stringify from "fast-json-stable-stringify";
import { describeReason, type Decision, type Explanation, type Reason } from "./decision.js";
import { emit, type EventListener } from "./events.js";
import { MappedStage, type MapOptions } from "./map.js";
import { MemoriError, describe } from "./errors.js";
import { HashScope, alwaysHasher, defaultHasher, type FileHasher } from "./hashing/files.js";
import { codeIdentity, sourceOf, unwrap, type CodeIdentity } from "./hashing/hashable.js";
import type { ParsedSource } from "./hashing/source.js";
import {
  decodeValue,
  encodeValue,
  fileEntries,
  isFileEntry,
  mapStored,
  type FileEntry,
  type Json,
} from "./hashing/values.js";
import {
  checkStageOptions,
  refreshFromEnv,
  stderrLogger,
  type Logger,
  type RunOptions,
  type StageOptions,
} from "./options.js";
import { crashPoint } from "./state/fault.js";
import {
  StateStore,
  checkStateName,
  referencedFiles,
  trackedFiles,
  type KnownFiles,
  type ReadResult,
  type StoredState,
} from "./state/store.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyFn = (...args: any[]) => unknown;

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
      ? Returned<F> extends readonly unknown[]
        ? { [I in keyof O]: O[I] extends K ? I : never }[number] extends infer I
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

/** Arguments of one run, before binding: positional and by name. */
export interface Invocation {
  positional: readonly unknown[];
  named: Readonly<Record<string, unknown>>;
}

/** The outcome of one run, kept off the stage instance so that runs can overlap. */
export interface Outcome {
  results: Record<string, unknown>;
  decision: Decision;
  /** The named arguments the function was (or would have been) called with. */
  inputArgs: Record<string, unknown>;
}

const RUN_OPTION_KEYS = new Set(["forceRun", "forceSkip", "forceHashWrite"]);

function shorten(json: Json | undefined): string {
  if (json === undefined) return "(absent)";
  const tag =
    typeof json === "object" && json !== null && !Array.isArray(json) ? json.$memori : undefined;
  if (tag === "undefined") return "undefined";
  if (isFileEntry(json)) return `${json.file}@${json.hash.slice(0, 12)}`;
  const text = stringify(json);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** How a pipeline (or a map) runs a stage. @internal */
export interface InvokeContext {
  /** Hashes already computed in this run. */
  scope?: HashScope;
  /** Read-only caches to consult on a miss, before the stage's own. */
  readonlyCaches?: readonly string[];
  /** Where this run's state lives, instead of the stage's own files (a map element's). */
  store?: StateStore;
  /** Told when the function starts. */
  onEvent?: EventListener;
}

/** Everything one memoized run of a stage works with. */
interface Run {
  store: StateStore;
  code: CodeIdentity;
  inputs: Record<string, Json>;
  inputArgs: Record<string, unknown>;
  options: RunOptions;
  scope: HashScope;
  /** The file identities recorded in `<name>.files` when the run started. */
  known: KnownFiles;
}

/** Replace file entries for the given paths by the paths themselves. */
function filesAsPaths(
  values: Record<string, Json>,
  paths: ReadonlySet<string>,
): Record<string, Json> {
  if (paths.size === 0) return values;
  return mapStored(values, (entry) => (paths.has(entry.file) ? entry.file : entry)) as Record<
    string,
    Json
  >;
}

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
 */
export class Stage<
  F extends AnyFn = AnyFn,
  const O extends readonly string[] | string = readonly ["output"],
  const A extends Record<string, OutputNames<O>> = Record<never, never>,
> {
  readonly #fn: F;
  readonly #source: ParsedSource;
  readonly #outputs: readonly string[];
  readonly #args: Record<string, unknown>;
  readonly #logger: Logger;
  readonly #hasher: FileHasher;
  readonly #readonlyCaches: readonly string[];
  readonly #env: readonly string[];
  #hashOutput: string | undefined;
  #aliases: Record<string, string>;
  #last: Outcome | undefined;

  /** Names the state files, and the stage in messages. */
  readonly name: string;

  constructor(fn: F, options?: StageOptions<O, A>) {
    const provisional = options?.name ?? (typeof fn === "function" ? fn.name : "") ?? "";
    if (typeof fn !== "function") {
      throw new MemoriError(
        "invalid-argument",
        `stage "${provisional || "<anonymous>"}": expected a function to wrap, got ${describe(fn)}.`,
      );
    }
    const name = provisional || "";
    this.#outputs = checkStageOptions(name || "<anonymous>", options);
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
    this.name = name;
    this.#fn = fn;
    this.#source = sourceOf(unwrap(fn).inner);
    this.#hashOutput = options?.hashOutput;
    this.#logger = options?.logger ?? stderrLogger();
    this.#hasher = options?.alwaysHash ? alwaysHasher : defaultHasher;
    this.#readonlyCaches = [...(options?.readonlyCaches ?? [])];
    this.#env = [...(options?.env ?? [])];
    this.#aliases = {};
    for (const [alias, target] of Object.entries(options?.aliases ?? {})) {
      this.#setAlias(alias, target);
    }
    this.#args = {};
    for (const [key, value] of Object.entries(options?.args ?? {})) this.setArg(key, value);
  }

  /** The wrapped function. */
  get fn(): F {
    return this.#fn;
  }

  /** Parameter names, in order, read from the function's source. */
  get inputs(): string[] {
    return this.#source.parameters.map((p) => p.name);
  }

  /** The output names. */
  get outputs(): string[] {
    return [...this.#outputs];
  }

  /** The static arguments (a copy): they override what `run()` is given. */
  get args(): Record<string, unknown> {
    return { ...this.#args };
  }

  /** The named arguments of the last run, after static arguments were applied. */
  get inputArgs(): Record<string, unknown> {
    return { ...(this.#last?.inputArgs ?? {}) };
  }

  /**
   * Aliases, alias -> output name. Mutable: `stage.aliases.inFile = "mask"` adds one (checked
   * when the stage next runs).
   */
  get aliases(): Record<string, string> {
    return this.#aliases;
  }

  set aliases(value: Record<string, string>) {
    this.#aliases = {};
    for (const [alias, target] of Object.entries(value)) this.#setAlias(alias, target);
  }

  /** The results of the last run, plus one key per alias. */
  get results(): StageResults<F, O, A> | undefined {
    return this.#last?.results as StageResults<F, O, A> | undefined;
  }

  /** Whether the function executed in the last run. */
  get hasRun(): boolean {
    return this.#last?.decision.action === "run";
  }

  /** Whether the last run was served from the state files. */
  get fromCache(): boolean {
    return this.#last?.decision.action === "skip";
  }

  /** What the last run decided, and why. */
  get lastDecision(): Decision | undefined {
    return this.#last?.decision;
  }

  /** Where state files are read and written; `undefined` turns memoization off. */
  get hashOutput(): string | undefined {
    return this.#hashOutput;
  }

  set hashOutput(dir: string | undefined) {
    if (dir !== undefined && (typeof dir !== "string" || dir === "")) {
      throw new MemoriError(
        "invalid-option",
        `stage "${this.name}": expected \`hashOutput\` to be a directory path, got ${describe(dir)}.`,
        { stage: this.name },
      );
    }
    this.#hashOutput = dir;
  }

  /** The state store, when memoized. */
  get store(): StateStore | undefined {
    return this.#hashOutput === undefined ? undefined : new StateStore(this.#hashOutput, this.name);
  }

  /**
   * Set a static argument.
   * @example stage.setArg("threshold", 0.5)
   */
  setArg(name: string, value: unknown): void {
    if (!this.#accepts(name)) {
      throw new MemoriError(
        "unknown-argument",
        `stage "${this.name}" has no parameter "${name}"; its parameters are ${this.#parameterList()}.`,
        { stage: this.name },
      );
    }
    this.#args[name] = value;
  }

  /** Remove a static argument. */
  deleteArg(name: string): void {
    if (!(name in this.#args)) {
      throw new MemoriError(
        "unknown-argument",
        `stage "${this.name}" has no static argument "${name}" to delete; its static arguments are ${
          Object.keys(this.#args)
            .map((k) => `"${k}"`)
            .join(", ") || "none"
        }.`,
        { stage: this.name },
      );
    }
    delete this.#args[name];
  }

  /**
   * Run with positional arguments, matched to the function's parameters in order.
   * @example await stage.run("sub-01_T1w.nii.gz", 0.5)
   */
  async run(...args: unknown[]): Promise<StageResults<F, O, A>> {
    return this.remember(await this.invoke({ positional: args, named: {} }));
  }

  /**
   * Run with arguments by parameter name.
   * @example await stage.runNamed({ inFile: "t1.nii.gz" }, { forceRun: true })
   */
  async runNamed(
    args: Record<string, unknown>,
    options: RunOptions = {},
  ): Promise<StageResults<F, O, A>> {
    if (typeof args !== "object" || args === null || Array.isArray(args)) {
      throw new MemoriError(
        "invalid-argument",
        `stage "${this.name}": runNamed() takes an object of arguments by name, got ${describe(args)}.`,
        { stage: this.name },
      );
    }
    return this.remember(await this.invoke({ positional: [], named: args }, options));
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
   * await smooth.map({ inFile: files, fwhm: sizes }, { mode: "zip" });
   * ```
   */
  async map(
    lists: Record<string, readonly unknown[]>,
    options: MapOptions & RunOptions & { readonly args?: Record<string, unknown> } = {},
  ): Promise<{ [K in keyof StageResults<F, O, A>]: StageResults<F, O, A>[K][] }> {
    const { mode, concurrency, args = {}, ...runOptions } = options;
    const mapped = new MappedStage(this, Object.keys(lists), {
      ...(mode ? { mode } : {}),
      ...(concurrency ? { concurrency } : {}),
    });
    const outcome = await mapped.invoke(
      { positional: [], named: { ...args, ...lists } },
      runOptions,
    );
    return outcome.results as { [K in keyof StageResults<F, O, A>]: StageResults<F, O, A>[K][] };
  }

  /**
   * Say whether `run(...args)` would run the function or load the results, and why, without
   * running anything or writing anything.
   * @example (await stage.explain("t1.nii")).reason // { kind: "input-changed", name: "t1w", ... }
   */
  async explain(...args: unknown[]): Promise<Explanation> {
    return (await this.explainInvocation({ positional: args, named: {} })).explanation;
  }

  /**
   * The dry run behind `explain()`; also returns the stored results when the stage would be
   * skipped, so a pipeline can explain the stages after it. Reads files, writes nothing.
   * @internal
   */
  async explainInvocation(
    invocation: Invocation,
    options: RunOptions = {},
    context: InvokeContext = {},
  ): Promise<{ explanation: Explanation; results?: Record<string, unknown> }> {
    const inputArgs = this.#bind(invocation);
    const store = context.store ?? this.store;
    const say = (action: Explanation["action"], reason: Reason): Explanation => ({
      stage: this.name,
      action,
      reason,
    });
    if (store === undefined) return { explanation: say("run", { kind: "not-memoized" }) };
    if (options.forceRun || (refreshFromEnv() && !options.forceSkip)) {
      return { explanation: say("run", { kind: "forced" }) };
    }
    const { run, first } = await this.#prepare(
      store,
      inputArgs,
      options,
      context.scope ?? new HashScope(),
    );
    const resultsOf = (outputs: Record<string, unknown>) =>
      this.#outcome(outputs, { kind: "cached" }, "skip", inputArgs).results;
    if (options.forceSkip && first.kind === "ok") {
      return {
        explanation: say("skip", { kind: "forced" }),
        results: resultsOf(this.#decodeOutputs(first.state)),
      };
    }
    // This stage's own state first, then the read-only caches, as a run would.
    const candidates: { state: StoredState; store: StateStore; from?: string }[] = [];
    if (first.kind === "ok") candidates.push({ state: first.state, store });
    for (const { dir, store: foreign } of this.#readonlyStores(
      store,
      context.readonlyCaches ?? [],
    )) {
      const read = foreign.read();
      if (read.kind === "ok") candidates.push({ state: read.state, store: foreign, from: dir });
    }
    let reason: Reason =
      first.kind === "absent"
        ? { kind: "first-run" }
        : first.kind === "unreadable"
          ? { kind: "state-unreadable", file: first.file, detail: first.detail }
          : { kind: "cached" };
    for (const candidate of candidates) {
      const valid = await this.#validResult(run, candidate.state, candidate.store);
      if (valid.ok) {
        const cached: Reason = candidate.from
          ? { kind: "cached", from: candidate.from }
          : { kind: "cached" };
        return { explanation: say("skip", cached), results: resultsOf(valid.outputs) };
      }
      if (candidate.from === undefined) reason = valid.reason;
    }
    return { explanation: say("run", reason) };
  }

  /**
   * Make `outcome` this stage's last run (what `results`, `hasRun`, `lastDecision` show).
   * @internal
   */
  remember(outcome: Outcome): StageResults<F, O, A> {
    this.#last = outcome;
    return outcome.results as StageResults<F, O, A>;
  }

  /**
   * Run without touching this instance's `results`/`lastDecision`, so that several runs of
   * one stage can overlap. Public for the pipeline; prefer `run()`/`runNamed()`.
   * @internal
   */
  async invoke(
    invocation: Invocation,
    options: RunOptions = {},
    context: InvokeContext = {},
  ): Promise<Outcome> {
    this.#checkRunOptions(options);
    const inputArgs = this.#bind(invocation);
    const scope = context.scope ?? new HashScope();
    const store = context.store ?? this.store;
    if (store === undefined) {
      const outputs = this.#split(await this.#call(inputArgs));
      return this.#outcome(outputs, { kind: "not-memoized" }, "run", inputArgs);
    }
    if (refreshFromEnv() && !options.forceSkip) options = { ...options, forceRun: true };
    const { run, first } = await this.#prepare(store, inputArgs, options, scope);
    const { code, inputs } = run;
    if (options.forceSkip) return this.#forcedSkip(run, first);
    if (!options.forceRun) {
      const hit = await this.#check(run, first, false);
      if (hit.done) return hit.outcome;
      const borrowed = await this.#fromReadonlyCaches(run, context.readonlyCaches ?? []);
      if (borrowed !== undefined) return borrowed;
    }
    return store.withLock(
      async () => {
        let reason: Reason = { kind: "forced" };
        if (!options.forceRun) {
          const again = await this.#check(run, store.read(), true);
          if (again.done) return again.outcome;
          reason = again.reason;
        }
        this.#logger.info(`stage "${this.name}": running (${describeReason(reason)})`);
        emit(context.onEvent, { type: "stage:run", stage: this.name, reason, time: Date.now() });
        crashPoint("before-function", true);
        const returned = await this.#call(inputArgs);
        crashPoint("after-function", true);
        const outputs = this.#split(returned);
        const encoded = await this.#encodeAll(outputs, "outputs", scope);
        const written = await this.#writtenFiles(inputs, scope, first);
        await store.write(inputs, encoded, written, code, this.#outputs);
        await this.#recordKnown(run, [...fileEntries(inputs), ...fileEntries(encoded), ...written]);
        return this.#outcome(outputs, reason, "run", inputArgs);
      },
      {
        onWait: (message) => this.#logger.info(message),
        onCompromised: (message) => this.#logger.warn(message),
      },
    );
  }

  /**
   * What every memoized run (or dry run) starts from: the code identity, the stored state
   * (read first: most re-runs are hits, and reading is safe without the lock since the commit
   * record ties the files together), and the inputs, encoded with the file identities the state
   * recorded so that unchanged input files are not read again.
   */
  async #prepare(
    store: StateStore,
    inputArgs: Record<string, unknown>,
    options: RunOptions,
    scope: HashScope,
  ): Promise<{ run: Run; first: ReadResult }> {
    const code = await codeIdentity(this.#fn);
    const first = store.read();
    const known =
      first.kind === "ok" && referencedFiles(first.state).length > 0 ? store.readKnownFiles() : {};
    for (const [file, hash] of Object.entries(known)) this.#hasher.seed(file, hash);
    const inputs = await this.#encodeAll({ ...inputArgs, ...this.#environment() }, "inputs", scope);
    return { run: { store, code, inputs, inputArgs, options, scope, known }, first };
  }

  /** The same stage's state in each read-only cache (same place relative to the cache root). */
  #readonlyStores(
    store: StateStore,
    dirs: readonly string[],
  ): { dir: string; store: StateStore }[] {
    const relative = path.relative(this.#hashOutput ?? store.dir, store.dir);
    return [...dirs, ...this.#readonlyCaches].map((dir) => ({
      dir,
      store: new StateStore(path.join(dir, relative), store.name),
    }));
  }

  /**
   * Whether a stored state (this stage's, or a read-only cache's) is a valid result for this
   * run: its decoded outputs, or the reason it is not.
   */
  async #validResult(
    run: Run,
    state: StoredState,
    store: StateStore,
  ): Promise<{ ok: true; outputs: Record<string, unknown> } | { ok: false; reason: Reason }> {
    const reason = await this.#compare(state, run.code, run.inputs, run.scope);
    if (reason.kind !== "cached") return { ok: false, reason };
    try {
      return { ok: true, outputs: this.#decodeOutputs(state) };
    } catch (error) {
      const detail = `holds a value memori did not write (${(error as Error).message})`;
      return {
        ok: false,
        reason: { kind: "state-unreadable", file: store.file("outputs"), detail },
      };
    }
  }

  async #check(
    run: Run,
    read: ReadResult,
    warned: boolean,
  ): Promise<{ done: true; outcome: Outcome } | { done: false; reason: Reason }> {
    const { store, code, inputs, inputArgs, options } = run;
    if (read.kind === "absent") return { done: false, reason: { kind: "first-run" } };
    if (read.kind === "unreadable") {
      if (!warned) {
        this.#logger.warn(
          `stage "${this.name}": ${read.file} ${read.detail}; treating it as a cache miss.`,
        );
      }
      return {
        done: false,
        reason: { kind: "state-unreadable", file: read.file, detail: read.detail },
      };
    }
    const valid = await this.#validResult(run, read.state, store);
    if (!valid.ok) {
      if (valid.reason.kind === "state-unreadable") {
        this.#logger.warn(
          `stage "${this.name}": ${valid.reason.file} ${valid.reason.detail}; running again.`,
        );
      }
      return { done: false, reason: valid.reason };
    }
    if (options.forceHashWrite) {
      await store.write(inputs, read.state.outputs, read.state.written, code, this.#outputs);
    }
    await this.#recordKnown(run, referencedFiles(read.state));
    this.#logger.info(`stage "${this.name}": skipped (cached)`);
    return {
      done: true,
      outcome: this.#outcome(valid.outputs, { kind: "cached" }, "skip", inputArgs),
    };
  }

  /**
   * On a miss, take a still-valid result from a read-only cache (same stage name, same code,
   * inputs and output names, output files intact) without running and without writing there;
   * record it in this stage's own state.
   */
  async #fromReadonlyCaches(run: Run, dirs: readonly string[]): Promise<Outcome | undefined> {
    for (const { dir, store: foreign } of this.#readonlyStores(run.store, dirs)) {
      const read = foreign.read();
      if (read.kind !== "ok") continue;
      const valid = await this.#validResult(run, read.state, foreign);
      if (!valid.ok) {
        this.#logger.info(
          `stage "${this.name}": read-only cache ${dir} does not match (${describeReason(valid.reason)})`,
        );
        continue;
      }
      await run.store.withLock(() =>
        run.store.write(
          run.inputs,
          read.state.outputs,
          read.state.written,
          run.code,
          this.#outputs,
        ),
      );
      this.#logger.info(`stage "${this.name}": taken from read-only cache ${dir}`);
      return this.#outcome(valid.outputs, { kind: "cached", from: dir }, "skip", run.inputArgs);
    }
    return undefined;
  }

  /** Record the trusted identities of the stage's files, if they changed (the hash cache). */
  async #recordKnown(run: Run, entries: readonly FileEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const files: KnownFiles = {};
    for (const { file } of entries) {
      const trusted = this.#hasher.trusted(file);
      if (trusted !== undefined) files[file] = trusted;
    }
    if (stringify(files) !== stringify(run.known)) await run.store.writeKnownFiles(files);
  }

  /** Compare stored state with the current code and inputs, and check output files. */
  async #compare(
    state: StoredState,
    code: CodeIdentity,
    inputs: Record<string, Json>,
    scope: HashScope,
  ): Promise<Reason> {
    const { record } = state;
    if (record.code.hash !== code.hash) {
      const changed: string[] = [];
      if (record.code.self !== code.self) changed.push(this.name);
      const names = new Set([...Object.keys(record.code.callees), ...Object.keys(code.callees)]);
      for (const name of [...names].sort()) {
        if (record.code.callees[name] !== code.callees[name]) changed.push(name);
      }
      const extras = new Set([...Object.keys(record.code.extras), ...Object.keys(code.extras)]);
      for (const name of [...extras].sort()) {
        if (record.code.extras[name] !== code.extras[name]) changed.push(name);
      }
      if (stringify(record.code.wrappers) !== stringify(code.wrappers)) changed.push("wrappers");
      return { kind: "function-changed", changed };
    }
    if (stringify(record.outputs) !== stringify(this.#outputs)) {
      return { kind: "output-names-changed", old: record.outputs, new: [...this.#outputs] };
    }
    const tracked = trackedFiles(state);
    for (const entry of tracked) {
      const hash = await this.#hasher.hash(entry.file, scope);
      if (hash === undefined) return { kind: "output-missing", path: entry.file };
      if (hash !== entry.hash) return { kind: "output-modified", path: entry.file };
    }
    // A file the stage writes (an output, or a path argument it created or changed) is not an
    // input by content: its content was just verified to be what the stage left. Compare
    // such inputs by path, on both sides.
    const writtenPaths = new Set(tracked.map((e) => e.file));
    const storedInputs = filesAsPaths(state.inputs, writtenPaths);
    const currentInputs = filesAsPaths(inputs, writtenPaths);
    if (stringify(storedInputs) !== stringify(currentInputs)) {
      const names = [
        ...new Set([...Object.keys(storedInputs), ...Object.keys(currentInputs)]),
      ].sort();
      for (const name of names) {
        const old = storedInputs[name];
        const now = currentInputs[name];
        if (stringify(old) !== stringify(now)) {
          return { kind: "input-changed", name, old: shorten(old), new: shorten(now) };
        }
      }
    }
    for (const name of this.#outputs) {
      if (!(name in state.outputs))
        return { kind: "output-names-changed", old: record.outputs, new: [...this.#outputs] };
    }
    return { kind: "cached" };
  }

  async #forcedSkip(run: Run, read: ReadResult): Promise<Outcome> {
    const { store, code, inputs, inputArgs, options } = run;
    if (read.kind !== "ok") {
      const why = read.kind === "absent" ? "nothing is stored" : `${read.file} ${read.detail}`;
      throw new MemoriError(
        "no-state",
        `stage "${this.name}": forceSkip was given but ${why} in ${store.dir}; run it without forceSkip first.`,
        { stage: this.name },
      );
    }
    const reason = await this.#compare(read.state, code, inputs, run.scope);
    if (reason.kind !== "cached") {
      this.#logger.warn(
        `stage "${this.name}": forceSkip loads stored results although ${describeReason(reason)}.`,
      );
    }
    const outputs = this.#decodeOutputs(read.state);
    if (options.forceHashWrite) {
      await store.withLock(async () => {
        const encoded = await this.#encodeAll(outputs, "outputs", run.scope);
        await store.write(inputs, encoded, read.state.written, code, this.#outputs);
      });
    }
    return this.#outcome(outputs, { kind: "forced" }, "skip", inputArgs);
  }

  #decodeOutputs(state: StoredState): Record<string, unknown> {
    const outputs: Record<string, unknown> = {};
    for (const name of this.#outputs) outputs[name] = decodeValue(state.outputs[name]);
    return outputs;
  }

  #outcome(
    outputs: Record<string, unknown>,
    reason: Reason,
    action: "run" | "skip",
    inputArgs: Record<string, unknown>,
  ): Outcome {
    const results: Record<string, unknown> = { ...outputs };
    for (const [alias, target] of Object.entries(this.#aliases)) {
      if (!this.#outputs.includes(target)) {
        throw new MemoriError(
          "invalid-option",
          `stage "${this.name}": alias "${alias}" points to "${target}", which is not one of its outputs (${this.#outputs.join(", ")}).`,
          { stage: this.name },
        );
      }
      results[alias] = outputs[target];
    }
    return { results, decision: { stage: this.name, action, reason }, inputArgs };
  }

  async #encodeAll(
    values: Record<string, unknown>,
    where: string,
    scope: HashScope,
  ): Promise<Record<string, Json>> {
    const out: Record<string, Json> = {};
    const context = { stage: this.name, hasher: this.#hasher, scope };
    for (const [key, value] of Object.entries(values)) {
      out[key] = await encodeValue(value, `${where}.${key}`, context);
    }
    return out;
  }

  /**
   * Files named by the inputs that the run created (or changed, where the stage wrote them
   * before): the stage wrote them, so they are tracked like outputs.
   */
  async #writtenFiles(
    inputs: Record<string, Json>,
    scope: HashScope,
    previous: ReadResult,
  ): Promise<FileEntry[]> {
    // A file that existed before the run and changed during it is the stage's own only if the
    // stage's previous state already tracked that path as something it writes; otherwise
    // another process may have changed it (an unordered stage), and it stays an input,
    // compared by content, so the next run re-runs rather than trusting it.
    const ownPaths = new Set(
      previous.kind === "ok" ? trackedFiles(previous.state).map((e) => e.file) : [],
    );
    const candidates: { file: string; before: string | undefined }[] = [];
    mapStored(
      inputs,
      (entry) => {
        candidates.push({ file: entry.file, before: entry.hash });
        return null;
      },
      (value) => {
        if (value.length > 0 && value.length <= 4096 && !value.includes("\0")) {
          candidates.push({ file: value, before: undefined });
        }
        return null;
      },
    );
    const written: FileEntry[] = [];
    for (const { file, before } of candidates) {
      const hash = await this.#hasher.hash(file, scope);
      if (hash === undefined || hash === before) continue;
      if (before === undefined || ownPaths.has(file)) written.push({ file, hash });
    }
    return written;
  }

  /** The watched environment variables, as inputs named `env:NAME` (unset: undefined). */
  #environment(): Record<string, string | undefined> {
    const values: Record<string, string | undefined> = {};
    for (const name of this.#env) values[`env:${name}`] = process.env[name];
    return values;
  }

  #accepts(name: string): boolean {
    return this.#source.parameters.some((p) => p.name === name) || this.#source.rest === name;
  }

  #parameterList(): string {
    const names = this.#source.parameters.map((p) => `"${p.name}"`);
    if (this.#source.rest) names.push(`"...${this.#source.rest}"`);
    return names.length ? names.join(", ") : "none";
  }

  #setAlias(alias: string, target: string): void {
    if (typeof target !== "string" || !this.#outputs.includes(target)) {
      throw new MemoriError(
        "invalid-option",
        `stage "${this.name}": alias "${alias}" points to ${describe(target)}, which is not one of its outputs (${this.#outputs.join(", ")}).`,
        { stage: this.name },
      );
    }
    if (this.#outputs.includes(alias) && alias !== target) {
      throw new MemoriError(
        "invalid-option",
        `stage "${this.name}": alias "${alias}" is already the name of an output.`,
        { stage: this.name },
      );
    }
    this.#aliases[alias] = target;
  }

  #checkRunOptions(options: RunOptions): void {
    if (typeof options !== "object" || options === null) {
      throw new MemoriError(
        "invalid-option",
        `stage "${this.name}": run options must be an object, got ${describe(options)}.`,
        {
          stage: this.name,
        },
      );
    }
    for (const [key, value] of Object.entries(options)) {
      if (!RUN_OPTION_KEYS.has(key)) {
        throw new MemoriError(
          "invalid-option",
          `stage "${this.name}": unknown run option \`${key}\`; the options are ${[...RUN_OPTION_KEYS].join(", ")}.`,
          { stage: this.name },
        );
      }
      if (value !== undefined && typeof value !== "boolean") {
        throw new MemoriError(
          "invalid-option",
          `stage "${this.name}": expected \`${key}\` to be a boolean, got ${describe(value)}.`,
          { stage: this.name },
        );
      }
    }
    if (options.forceRun && options.forceSkip) {
      throw new MemoriError(
        "invalid-option",
        `stage "${this.name}": forceRun and forceSkip exclude each other.`,
        {
          stage: this.name,
        },
      );
    }
  }

  /** Match arguments to parameters; static arguments win. Returns them by name. */
  #bind({ positional, named }: Invocation): Record<string, unknown> {
    const source = this.#source;
    const bound: Record<string, unknown> = {};
    let given = positional;
    if (source.mode === "object" && given.length > 0) {
      const only = given[0];
      if (given.length > 1 || typeof only !== "object" || only === null || Array.isArray(only)) {
        throw new MemoriError(
          "invalid-argument",
          `stage "${this.name}": its function takes one object ({ ${this.inputs.join(", ")} }); pass that object, or use runNamed().`,
          { stage: this.name },
        );
      }
      named = { ...(only as Record<string, unknown>), ...named };
      given = [];
    }
    const parameters = source.parameters;
    given.forEach((value, i) => {
      const parameter = parameters[i];
      if (parameter !== undefined) bound[parameter.name] = value;
    });
    if (given.length > parameters.length) {
      if (source.rest === undefined) {
        throw new MemoriError(
          "invalid-argument",
          `stage "${this.name}" takes ${parameters.length} argument(s) (${this.#parameterList()}), got ${given.length}.`,
          { stage: this.name },
        );
      }
      bound[source.rest] = given.slice(parameters.length);
    }
    for (const [key, value] of Object.entries(named)) {
      if (!this.#accepts(key)) {
        throw new MemoriError(
          "unknown-argument",
          `stage "${this.name}" has no parameter "${key}"; its parameters are ${this.#parameterList()}.`,
          { stage: this.name },
        );
      }
      bound[key] = value;
    }
    Object.assign(bound, this.#args);
    const missing = parameters.filter((p) => !p.hasDefault && !(p.name in bound));
    if (missing.length > 0) {
      const available = Object.keys(bound);
      throw new MemoriError(
        "missing-argument",
        `stage "${this.name}" is missing argument ${missing.map((p) => `"${p.name}"`).join(", ")}; it was given ${available.length ? available.map((k) => `"${k}"`).join(", ") : "nothing"}.`,
        { stage: this.name },
      );
    }
    // Keep parameter order, so that the recorded inputs read naturally.
    const ordered: Record<string, unknown> = {};
    for (const p of parameters) if (p.name in bound) ordered[p.name] = bound[p.name];
    if (source.rest !== undefined && source.rest in bound)
      ordered[source.rest] = bound[source.rest];
    return ordered;
  }

  async #call(inputArgs: Record<string, unknown>): Promise<unknown> {
    const source = this.#source;
    if (source.mode === "object") return await this.#fn(inputArgs);
    const args: unknown[] = source.parameters.map((p) => inputArgs[p.name]);
    let length = args.length;
    while (length > 0 && !(source.parameters[length - 1]!.name in inputArgs)) length--;
    args.length = length;
    if (source.rest !== undefined && Array.isArray(inputArgs[source.rest])) {
      args.length = source.parameters.length;
      args.push(...(inputArgs[source.rest] as unknown[]));
    }
    return await this.#fn(...args);
  }

  /** Name the returned value(s). */
  #split(returned: unknown): Record<string, unknown> {
    const names = this.#outputs;
    if (names.length === 1) return { [names[0] as string]: returned };
    const missing = (which: string) =>
      new MemoriError(
        "missing-output",
        `stage "${this.name}" declares outputs ${names.map((n) => `"${n}"`).join(", ")} but ${which}.`,
        { stage: this.name },
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
      if (absent.length > 0) {
        throw missing(`its returned object has no ${absent.map((n) => `"${n}"`).join(", ")}`);
      }
      return Object.fromEntries(names.map((name) => [name, record[name]]));
    }
    throw missing(`returned ${describe(returned)}; return an array or an object with those keys`);
  }
}
