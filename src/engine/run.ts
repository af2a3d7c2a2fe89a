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
import { referencedFiles, type KnownFiles } from "../state/store.js";
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
import { directoryRule, encodeAll, takeFingerprint, type Fingerprint } from "./fingerprint.js";
import {
  failureCause,
  failureMessage,
  retryable,
  type CallFailure,
  type Failure,
} from "./failure.js";
import { recordKnownFiles, seedKnownFiles } from "./known-files.js";
import type { recordLocked } from "./locked.js";
import { lookup, type Hit, type LookupInput } from "./lookup.js";
import type { Outcome } from "./node.js";
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

/**
 * What a memoized call's lookup works from: its state as stored now (read first: most re-runs
 * are hits, and reading is safe without the lock since the commit record ties the files
 * together), the file-hash hints recorded beside it, and its fingerprint.
 */
export async function prepare(
  call: Call,
  ctx: CallContext,
  location: StateLocation,
  inputArgs: Record<string, unknown>,
): Promise<{ input: LookupInput & { fingerprint: Fingerprint }; known: KnownFiles }> {
  const { def } = call;
  const previous = location.store.read();
  const known = seedKnownFiles(def, location.store, previous);
  const fingerprint = await takeFingerprint(
    def,
    inputArgs,
    ctx.scope,
    previous.kind === "ok" ? previous.state : undefined,
  );
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
  return { input, known };
}

/** Run one call: its outcome, or why it failed. Never throws. */
export async function runCall(call: Call, ctx: CallContext): Promise<CallResult> {
  const { def } = call;
  const began = Date.now();
  const heard = ctx.onEvent !== undefined || def.onEvent !== undefined;
  if (heard) tell(call, ctx, (about) => ({ type: "stage:start", ...about, time: began }));
  let inputArgs: Record<string, unknown> | undefined;
  const failed = (failure: Failure): CallResult => ({
    ok: false,
    failure: failureOf(call, ctx, inputArgs, failure),
  });
  const finish = (action: "run" | "skip", reason: Reason, outputs: Record<string, unknown>) => {
    const outcome: Outcome = {
      results: withAliases(def.name, def.outputs, def.aliases, outputs),
      decision: decisionOf(call, ctx, action, reason),
      inputArgs: inputArgs!,
    };
    if (action === "skip") {
      def.logger.info(`stage "${outcome.decision.stage}": skipped (${describeReason(reason)})`);
    }
    if (heard) {
      tell(call, ctx, (about) => {
        const now = Date.now();
        const type = action === "skip" ? "stage:cached" : "stage:done";
        return { type, ...about, reason, ms: now - began, time: now };
      });
    }
    return { ok: true as const, outcome };
  };
  try {
    checkRunOptions(def.name, call.options);
    inputArgs = def.signature.bind(call.invocation, def.args);
    const location = locationOf(call);
    if (location === undefined) {
      const reason: Reason = { kind: "not-memoized" };
      tell(call, ctx, (about) => ({ type: "stage:run", ...about, reason, time: Date.now() }));
      const { execute } = await import("./execute.js");
      const executed = await execute(call, ctx, inputArgs, undefined);
      return executed.ok ? finish("run", reason, executed.outputs) : failed(executed.failure);
    }
    const { input, known } = await prepare(call, ctx, location, inputArgs);
    const { previous, fingerprint } = input;
    // Files a later attempt finds that the first did not were made by this call (a partial
    // output of a failed attempt): its own, not inputs.
    if (ctx.attempt === 1 && ctx.attempts > 1 && call.memo) {
      const { absentPaths } = await import("./commit.js");
      call.memo.absent = absentPaths(fingerprint.inputs);
    }
    const found = await lookup(input);
    if (found.hit) {
      await settleHit(call, ctx, found, location, fingerprint, known);
      return finish("skip", found.reason, found.outputs);
    }
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
    const { runLocked } = await import("./locked.js");
    const locked = await runLocked(call, ctx, input, known, found, inputArgs);
    return locked.ok
      ? finish(locked.action, locked.reason, locked.outputs)
      : failed(locked.failure);
  } catch (error) {
    if (ctx.signal?.aborted) return failed({ kind: "cancelled", cause: ctx.signal.reason });
    return failed({ kind: "error", error });
  }
}

/** What a hit still has to do: warn, record a borrowed or forced result, remember file hashes. */
async function settleHit(
  call: Call,
  ctx: CallContext,
  found: Hit,
  location: StateLocation,
  fingerprint: Fingerprint,
  known: KnownFiles,
): Promise<void> {
  const { def, options } = call;
  const store = location.store;
  const name = callName(def, call.element);
  type Recorded = Parameters<typeof recordLocked>[4];
  const record = async (make: Recorded) => {
    const { recordLocked } = await import("./locked.js");
    await recordLocked(def, ctx, store, fingerprint, make);
  };
  const stored: Recorded = async () => [found.state.outputs, found.state.written];
  if (found.from !== undefined) {
    await record(stored);
    def.logger.info(`stage "${name}": taken from read-only cache ${found.from}`);
    return;
  }
  if (found.reason.kind === "forced") {
    if (found.mismatch !== undefined) {
      def.logger.warn(
        `stage "${name}": forceSkip loads stored results although ${describeReason(found.mismatch)}.`,
      );
    }
    // Accept the outputs as they are now: their files, and the files written through
    // arguments, re-hashed; with the current inputs.
    if (options.forceHashWrite) {
      await record(async () => {
        const outputs = await encodeAll(def, found.outputs, "outputs", ctx.scope);
        const written = [];
        for (const { file } of found.state.written) {
          const hash = await def.hasher.hash(file, ctx.scope, directoryRule(def));
          if (hash !== undefined) written.push({ file, hash });
        }
        return [outputs, written];
      });
    }
    return;
  }
  if (options.forceHashWrite) await record(stored);
  await recordKnownFiles(def, store, referencedFiles(found.state), known);
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
