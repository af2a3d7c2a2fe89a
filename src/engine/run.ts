/**
 * The stage runner: the one path from a call to committed state, for a stage run alone, a
 * pipeline node and each element of a map alike:
 *
 *   bind -> fingerprint -> lookup -> (miss) lock -> look again -> execute -> commit -> events
 *
 * A dry run (explain.ts) is the same path stopped after the lookup. Failures come back as
 * values. This module and call.ts emit every `stage:*` event; decisions go to the stage's
 * logger from here.
 */
import { FileAccess } from "../call-signal.js";
import { describeReason, type Reason } from "../decision.js";
import {
  referencedFiles,
  type KnownFiles,
  type ReadResult,
  type StoredState,
} from "../state/store.js";
import { fileEntries, type FileEntry } from "../hashing/values.js";
import { logsInfo } from "../logger.js";
import type { StateLocation } from "../state/location.js";
import { fileLocker, withLock } from "../state/lock.js";
import { crashPoint } from "../state/fault.js";
import {
  callName,
  decisionOf,
  locationOf,
  failureOf,
  lockOptions,
  tell,
  type Call,
  type CallContext,
  type CallResult,
} from "./call.js";
import { absentPaths, commitRun, recordKnownFiles, seedKnownFiles } from "./commit.js";
import { fingerprintNow, type Fingerprint } from "./fingerprint.js";
import { executeBounded } from "./execute.js";
import {
  failureCause,
  failureMessage,
  retryable,
  type CallFailure,
  type Failure,
} from "./failure.js";
import { settleHit } from "./hit.js";
import { lookup, lookupNow, trackedOf, type LookupInput } from "./lookup.js";
import type { Outcome } from "./node.js";
import { checkRunOptions } from "./run-options.js";
import { nameOutputs, withAliases } from "./signature.js";

/** Execute a bound call: its named outputs, or why not. */
export async function execute(
  call: Call,
  ctx: CallContext,
  inputArgs: Record<string, unknown>,
  fingerprint: Fingerprint | undefined,
): Promise<
  | { ok: true; outputs: Record<string, unknown>; access: FileAccess | undefined }
  | { ok: false; failure: Failure }
> {
  const { def } = call;
  // Files matter for memoized calls only: reads become inputs of the state, writes tell which
  // files in a directory argument the call wrote.
  const access = def.trackReads && fingerprint !== undefined ? new FileAccess() : undefined;
  const executed = await executeBounded(
    def,
    { element: call.element, inputArgs, fingerprint, attempt: ctx.attempt, access },
    ctx.signal,
    ctx.attribute ?? false,
  );
  if (executed.ok) {
    const outputs = nameOutputs(def.name, def.outputs, executed.returned);
    return { ok: true, outputs, access };
  }
  return {
    ok: false,
    failure: "stopped" in executed ? executed.stopped : { kind: "threw", error: executed.error },
  };
}

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
function referencedBy(state: StoredState): FileEntry[] {
  const inputs = fileEntries(state.inputs);
  const tracked = trackedOf(state);
  if (tracked.length === 0) return inputs;
  return inputs.length === 0 ? tracked : [...inputs, ...tracked];
}

/** What a memoized call's lookup works from. */
export interface Prepared {
  input: LookupInput & { fingerprint: Fingerprint };
  known: KnownFiles;
  /** The files the state as stored now refers to. */
  referenced: readonly FileEntry[];
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
  const previous = location.store.read();
  const referenced = previous.kind === "ok" ? referencedBy(previous.state) : [];
  const known = seedKnownFiles(def, location.store, referenced);
  const state = previous.kind === "ok" ? previous.state : undefined;
  const taken = fingerprintNow(def, inputArgs, ctx.scope, state);
  const make = (fingerprint: Fingerprint): Prepared => {
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
    return { input, known, referenced };
  };
  return taken instanceof Promise ? taken.then(make) : make(taken);
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
    if (action === "skip" && logsInfo(def.logger)) {
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
      const executed = await execute(call, ctx, inputArgs, undefined);
      return executed.ok ? finish("run", reason, executed.outputs) : failed(executed.failure);
    }
    const store = location.store;
    const prepared = prepare(call, ctx, location, inputArgs);
    const { input, known, referenced } = prepared instanceof Promise ? await prepared : prepared;
    const { previous, fingerprint } = input;
    // Files a later attempt finds that the first did not were made by this call (a partial
    // output of a failed attempt): its own, not inputs.
    if (ctx.attempt === 1 && ctx.attempts > 1 && call.memo)
      call.memo.absent = absentPaths(fingerprint.inputs);
    const looked = lookupNow(input);
    const found = looked instanceof Promise ? await looked : looked;
    if (found.hit) {
      const settling = settleHit(call, ctx, found, location, fingerprint, known, referenced);
      if (settling !== undefined) await settling;
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
    return await withLock(
      store,
      async () => {
        let reason = found.reason;
        let current: ReadResult = previous;
        if (reason.kind !== "forced") {
          // Another run may have committed while this one waited for the lock.
          current = store.read();
          const again = await lookup({ ...input, previous: current, ownOnly: true });
          if (again.hit) {
            await recordKnownFiles(def, store, referencedFiles(again.state), known);
            return finish("skip", again.reason, again.outputs);
          }
          reason = again.reason;
        }
        def.logger.info(`stage "${name}": running (${describeReason(reason)})`);
        tell(call, ctx, (about) => ({ type: "stage:run", ...about, reason, time: Date.now() }));
        crashPoint("before-function", true);
        const executed = await execute(call, ctx, inputArgs!, fingerprint);
        crashPoint("after-function", true);
        if (!executed.ok) return failed(executed.failure);
        const created = call.memo?.absent;
        const changed = await commitRun(
          def,
          store,
          fingerprint,
          executed.outputs,
          current,
          known,
          ctx.scope,
          created,
          executed.access,
        );
        if (changed.length > 0) {
          def.logger.warn(
            `stage "${name}": ${changed.join(", ")} changed while it ran, and memori cannot tell who changed it (it existed before, and the stage's last run did not write it: the stage itself, another process, or a stage it is not ordered after). Recorded as changed, so the next run runs it again.`,
          );
        }
        return finish("run", reason, executed.outputs);
      },
      lockOptions(def, ctx.signal),
      ctx.locker ?? fileLocker,
    );
  } catch (error) {
    if (ctx.signal?.aborted) return failed({ kind: "cancelled", cause: ctx.signal.reason });
    return failed({ kind: "error", error });
  }
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
