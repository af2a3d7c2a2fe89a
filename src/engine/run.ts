/**
 * The stage runner: the one path from a call to committed state, for a stage run alone, a
 * pipeline node and each element of a map alike:
 *
 *   bind -> fingerprint -> lookup -> (miss) lock -> look again -> execute -> commit -> events
 *
 * A dry run (explain.ts) is the same path stopped after the lookup. Failures come back as
 * values. This module and call.ts emit every `stage:*` event; decisions go to the stage's
 * logger from here. What follows a miss (locked.ts, execute.ts) is loaded when a call has to
 * run: a skip loads only what the lookup needs.
 */
import { describeReason, type Reason } from "../decision.js";
import type { KnownFiles, ReadResult, StoredState } from "../state/store.js";
import { fileEntries, type FileEntry } from "../hashing/values.js";
import { wantsEveryEvent } from "../events.js";
import { logsInfo } from "../logger.js";
import type { StateLocation } from "../state/location.js";
import {
  callName,
  decisionOf,
  locationOf,
  failureOf,
  tell,
  type Call,
  type CallContext,
  type CallResult,
} from "./call.js";
import { fingerprintNow, type Fingerprint } from "./fingerprint.js";
import {
  failureCause,
  failureMessage,
  retryable,
  type CallFailure,
  type Failure,
} from "./failure.js";
import { settleHit } from "./hit.js";
import { seedKnownFiles } from "./known-files.js";
import { lookupNow, trackedOf, type Lookup, type LookupInput, type Miss } from "./lookup.js";
import type { Outcome, StageDef } from "./node.js";
import { checkRunOptions } from "./run-options.js";
import { withAliases } from "./signature.js";

const warned = new WeakMap<object, Set<string>>();

/** Name, once per stage function and process, each value its code reaches but cannot hash. */
function warnUnhashable(def: Call["def"], fingerprint: Fingerprint): void {
  if (fingerprint.unhashable === undefined || fingerprint.unhashable.length === 0) return;
  let seen = warned.get(def.fn);
  if (seen === undefined) warned.set(def.fn, (seen = new Set()));
  const fresh = fingerprint.unhashable.filter((key) => !seen.has(key));
  if (fresh.length === 0) return;
  for (const key of fresh) seen.add(key);
  const them = fresh.length === 1 ? "it" : "them";
  def.logger.warn(
    `stage "${def.name}": its code uses ${fresh.join(", ")}, which cannot be hashed, so a change to ${them} will not re-run the stage. Pass ${them} as arguments, or set codeVersion to say when the code changed.`,
  );
}

/** Every file a state refers to (`referencedFiles`), without copying lists that are empty. */
function referencedBy(state: StoredState, tracked: FileEntry[]): FileEntry[] {
  const inputs = fileEntries(state.inputs);
  if (tracked.length === 0) return inputs;
  return inputs.length === 0 ? tracked : [...inputs, ...tracked];
}

const ABSENT: ReadResult = { kind: "absent" };

/** What a memoized call's lookup works from. */
export interface Prepared {
  input: LookupInput & { fingerprint: Fingerprint };
  known: KnownFiles;
  /** The files the state as stored now refers to. */
  referenced: readonly FileEntry[];
  /** The files it says the call wrote (`trackedOf`). */
  tracked: readonly FileEntry[];
}

/**
 * What a memoized call's lookup works from: its state as stored now (read first: most re-runs
 * are hits, and reading is safe without the lock since the commit record ties the files
 * together), the file-hash hints recorded beside it, and its fingerprint. At once (no promise)
 * when the fingerprint is (see `fingerprintNow`).
 */
export function prepare(
  call: Call,
  ctx: CallContext,
  location: StateLocation,
  inputArgs: Record<string, unknown>,
): Prepared | Promise<Prepared> {
  const { def } = call;
  const { listing } = ctx;
  const previous = listing?.knowsAbsent(location.store) ? ABSENT : location.store.read();
  if (previous.kind === "absent") listing?.missed(location.store);
  const tracked = previous.kind === "ok" ? trackedOf(previous.state) : [];
  const referenced = previous.kind === "ok" ? referencedBy(previous.state, tracked) : [];
  const known = seedKnownFiles(
    def,
    location.store,
    previous.kind === "ok" ? referenced : undefined,
  );
  const state = previous.kind === "ok" ? previous.state : undefined;
  const taken = fingerprintNow(def, inputArgs, ctx.scope, state);
  const files = { known, referenced, tracked };
  if (taken instanceof Promise) {
    return taken.then((fingerprint) =>
      preparedWith(call, ctx, location, previous, fingerprint, files),
    );
  }
  return preparedWith(call, ctx, location, previous, taken, files);
}

function preparedWith(
  call: Call,
  ctx: CallContext,
  location: StateLocation,
  previous: ReadResult,
  fingerprint: Fingerprint,
  files: Omit<Prepared, "input">,
): Prepared {
  const { def } = call;
  warnUnhashable(def, fingerprint);
  const input = {
    def,
    location,
    previous,
    fingerprint,
    options: call.options,
    readonlyCaches: ctx.readonlyCaches,
    scope: ctx.scope,
    refresh: ctx.refresh,
  };
  return { input, ...files };
}

/**
 * Run one call: its outcome, or why it failed. Never throws. A hit that waits for nothing (no
 * file to hash) is decided without a promise of its own: the result is settled at once.
 */
export function runCall(call: Call, ctx: CallContext): CallResult | Promise<CallResult> {
  const run = new CallRun(call, ctx);
  try {
    const result = run.start();
    if (!(result instanceof Promise)) return result;
    return result.catch((error: unknown) => run.caught(error));
  } catch (error) {
    return run.caught(error);
  }
}

/** One call being run, step by step: bind, prepare, look up, then a hit or a run. */
class CallRun {
  readonly #call: Call;
  readonly #ctx: CallContext;
  readonly #def: StageDef;
  readonly #began = Date.now();
  /**
   * Whether a listener wants every event of the call. Only the run's recorder listening
   * (events.ts `hitsFromReport`), a first attempt that is a plain hit tells nothing: the
   * report gives the recorder its times. Any other path tells `stage:start` first (`#announce`).
   */
  readonly #heard: boolean;
  /** `stage:start` was told (then the call's end is too). */
  #told = false;
  #inputArgs: Record<string, unknown> | undefined;

  constructor(call: Call, ctx: CallContext) {
    this.#call = call;
    this.#ctx = ctx;
    this.#def = call.def;
    this.#heard = call.def.onEvent !== undefined || ctx.attempt > 1 || wantsEveryEvent(ctx.onEvent);
  }

  /** Tell `stage:start` (with the time the call began), once. */
  #announce(): void {
    if (this.#told) return;
    this.#told = true;
    tell(this.#call, this.#ctx, (about) => ({ type: "stage:start", ...about, time: this.#began }));
  }

  /** Up to the lookup; a hit ends here. Throws for a failure before anything ran. */
  start(): CallResult | Promise<CallResult> {
    const call = this.#call;
    const ctx = this.#ctx;
    const def = this.#def;
    if (this.#heard) this.#announce();
    checkRunOptions(def.name, call.options);
    const inputArgs = (this.#inputArgs = def.signature.bind(call.invocation, def.args));
    const location = locationOf(call);
    if (location === undefined) return this.#unmemoized(inputArgs);
    const prepared = prepare(call, ctx, location, inputArgs);
    if (prepared instanceof Promise) return prepared.then((p) => this.#lookUp(location, p));
    return this.#lookUp(location, prepared);
  }

  #lookUp(location: StateLocation, prepared: Prepared): CallResult | Promise<CallResult> {
    const call = this.#call;
    const ctx = this.#ctx;
    // Files a later attempt finds that the first did not were made by this call (a partial
    // output of a failed attempt): its own, not inputs.
    const memo = call.memo;
    if (ctx.attempt === 1 && ctx.attempts > 1 && memo) {
      return import("./commit.js").then(({ absentPaths }) => {
        memo.absent = absentPaths(prepared.input.fingerprint.inputs);
        return this.#found(location, prepared);
      });
    }
    return this.#found(location, prepared);
  }

  #found(location: StateLocation, prepared: Prepared): CallResult | Promise<CallResult> {
    const found = lookupNow(prepared.input, prepared.tracked);
    if (found instanceof Promise) return found.then((f) => this.#decided(location, prepared, f));
    return this.#decided(location, prepared, found);
  }

  #decided(
    location: StateLocation,
    prepared: Prepared,
    found: Lookup,
  ): CallResult | Promise<CallResult> {
    if (!found.hit) return this.#miss(location, prepared, found);
    const { input, known, referenced } = prepared;
    const settling = settleHit(
      this.#call,
      this.#ctx,
      found,
      location,
      input.fingerprint,
      known,
      referenced,
    );
    if (settling === undefined) return this.finish("skip", found.reason, found.outputs);
    return settling.then(() => this.finish("skip", found.reason, found.outputs));
  }

  /** A stage that is not memoized: it runs. */
  async #unmemoized(inputArgs: Record<string, unknown>): Promise<CallResult> {
    this.#announce();
    const reason: Reason = { kind: "not-memoized" };
    tell(this.#call, this.#ctx, (about) => ({
      type: "stage:run",
      ...about,
      reason,
      time: Date.now(),
    }));
    const { execute } = await (executeLoaded ??= import("./execute.js"));
    const executed = await execute(this.#call, this.#ctx, inputArgs, undefined);
    return executed.ok
      ? this.finish("run", reason, executed.outputs)
      : this.failed(executed.failure);
  }

  /** No valid result: under the call's lock, look again, then run and commit. */
  async #miss(location: StateLocation, prepared: Prepared, found: Miss): Promise<CallResult> {
    this.#announce();
    const call = this.#call;
    const ctx = this.#ctx;
    const def = this.#def;
    const inputArgs = this.#inputArgs!;
    const { input, known } = prepared;
    const { previous } = input;
    const name = callName(def, call.element);
    for (const { dir, reason } of found.rejected) {
      def.logger.info(
        `stage "${name}": read-only cache ${dir} does not match (${describeReason(reason)})`,
      );
    }
    if (found.reason.kind === "state-unreadable") {
      const how = previous.kind === "unreadable" ? "treating it as a cache miss" : "running again";
      def.logger.warn(`stage "${name}": ${found.reason.file} ${found.reason.detail}; ${how}.`);
    }
    const { runLocked } = await lockedModule();
    const locked = await runLocked(call, ctx, input, known, found, inputArgs);
    return locked.ok
      ? this.finish(locked.action, locked.reason, locked.outputs)
      : this.failed(locked.failure);
  }

  /** The call's outcome, told to the logger (a skip) and to listeners. */
  finish(action: "run" | "skip", reason: Reason, outputs: Record<string, unknown>): CallResult {
    const call = this.#call;
    const def = this.#def;
    const outcome: Outcome = {
      results: withAliases(def.name, def.outputs, def.aliases, outputs),
      decision: decisionOf(call, this.#ctx, action, reason),
      inputArgs: this.#inputArgs!,
    };
    if (action === "skip" && logsInfo(def.logger)) {
      def.logger.info(`stage "${outcome.decision.stage}": skipped (${describeReason(reason)})`);
    }
    const end = Date.now();
    if (this.#told) {
      tell(call, this.#ctx, (about) => {
        const type = action === "skip" ? "stage:cached" : "stage:done";
        return { type, ...about, reason, ms: end - this.#began, time: end };
      });
    }
    return { ok: true, outcome, start: this.#began, end };
  }

  failed(failure: Failure): CallResult {
    this.#announce();
    return { ok: false, failure: failureOf(this.#call, this.#ctx, this.#inputArgs, failure) };
  }

  /** What an error thrown on the way means: cancelled by an interrupt, or a failure. */
  caught(error: unknown): CallResult {
    const { signal } = this.#ctx;
    if (signal?.aborted) return this.failed({ kind: "cancelled", cause: signal.reason });
    return this.failed({ kind: "error", error });
  }
}

let executeLoaded: Promise<typeof import("./execute.js")> | undefined;
let lockedLoaded: Promise<typeof import("./locked.js")> | undefined;

/**
 * What follows a miss (locked.ts), imported once: an `import()` of a loaded module still costs
 * a trip through the module loader, per call.
 */
function lockedModule(): Promise<typeof import("./locked.js")> {
  return (lockedLoaded ??= import("./locked.js"));
}

/** Whether a failed attempt gets another one. */
export function willRetry(f: CallFailure): boolean {
  return f.attempt < f.attempts && retryable(f.failure);
}

/** Say that a failed attempt will be tried again. */
export function announceRetry(call: Call, ctx: CallContext, f: CallFailure, ms: number): void {
  call.def.logger.warn(
    `stage "${callName(call.def, call.element)}": attempt ${f.attempt} of ${f.attempts} failed (${failureMessage(f)}); trying again.`,
  );
  const error = failureCause(f);
  tell(call, ctx, (about) => ({
    type: "stage:retry",
    ...about,
    attempt: f.attempt,
    attempts: f.attempts,
    error,
    ms,
    time: Date.now(),
  }));
}

/** Say that a call failed for good. */
export function announceFailure(call: Call, ctx: CallContext, error: unknown, ms: number): void {
  tell(call, ctx, (about) => ({ type: "stage:error", ...about, error, ms, time: Date.now() }));
}
