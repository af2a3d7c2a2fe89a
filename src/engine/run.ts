/**
 * The stage runner: the one path from a call to committed state, for a stage run alone, a
 * pipeline node and each element of a map alike:
 *
 *   bind -> fingerprint -> lookup -> (miss) lock -> look again -> execute -> commit -> events
 *
 * A dry run ({@link explainCall}) is the same path stopped after the lookup. Failures come
 * back as values; this module emits every `stage:*` event and writes every decision to the
 * stage's logger.
 */
import { describeReason, type Decision, type Explanation, type Reason } from "../decision.js";
import { emit, type MemoriEvent } from "../events.js";
import { MemoriError } from "../errors.js";
import type { HashScope } from "../hashing/files.js";
import { referencedFiles, type ReadResult } from "../state/store.js";
import { fileLocker, withLock, type Locker } from "../state/lock.js";
import type { StateLocation } from "../state/location.js";
import { crashPoint } from "../state/fault.js";
import { refreshFromEnv, type RunOptions } from "../options.js";
import { commitRun, recordKnownFiles, recordResult, seedKnownFiles } from "./commit.js";
import { encodeAll, takeFingerprint, type Fingerprint } from "./fingerprint.js";
import { executorOf, type Executed } from "./executor.js";
import { retryable, type CallFailure, type Failure } from "./failure.js";
import { lookup, type Hit, type LookupInput } from "./lookup.js";
import type { Outcome, StageDef } from "./node.js";
import { checkRunOptions, nameOutputs, withAliases, type Invocation } from "./signature.js";

/** One call of a stage. */
export interface Call {
  readonly def: StageDef;
  readonly invocation: Invocation;
  /** Where its state lives; `undefined`: not memoized. */
  readonly location: StateLocation | undefined;
  /** The map element's label, for one element of a map. */
  readonly element: string | undefined;
  readonly options: RunOptions;
}

/** What a call runs with. */
export interface CallContext {
  /** Hashes already computed in this run. */
  readonly scope: HashScope;
  /** The pipeline's read-only caches. */
  readonly readonlyCaches: readonly string[];
  /** The pipeline's listener (the stage's own `onEvent` is told too). */
  readonly onEvent: ((event: MemoriEvent) => void) | undefined;
  /** Aborted when the run is interrupted. */
  readonly signal: AbortSignal | undefined;
  readonly attempt: number;
  readonly attempts: number;
  readonly locker?: Locker;
}

export type CallResult = { ok: true; outcome: Outcome } | { ok: false; failure: CallFailure };

/** How long a function may take to stop after its signal is aborted, before it is abandoned. */
const STOP_GRACE_MS = 5000;

/** `name`, or `name[label]` for an element. */
export function callName(def: StageDef, element: string | undefined): string {
  return element === undefined ? def.name : `${def.name}[${element}]`;
}

function tell(call: Call, ctx: CallContext, event: MemoriEvent): void {
  emit(ctx.onEvent, event);
  if (call.def.onEvent !== ctx.onEvent) emit(call.def.onEvent, event);
}

/** The fields every `stage:*` event of a call carries. */
function about(call: Call, ctx: CallContext) {
  return {
    stage: callName(call.def, call.element),
    ...(call.element === undefined ? {} : { element: call.element }),
    ...(ctx.attempt > 1 ? { attempt: ctx.attempt } : {}),
  };
}

function decision(call: Call, ctx: CallContext, action: "run" | "skip", reason: Reason): Decision {
  return {
    stage: callName(call.def, call.element),
    action,
    reason,
    ...(call.element === undefined ? {} : { element: call.element }),
    ...(ctx.attempt > 1 ? { attempt: ctx.attempt } : {}),
  };
}

/**
 * Execute the function on its executor, bounded by the stage's `timeout` and the run's signal.
 * Once either fires, the result is abandoned (never committed), whatever comes back later.
 */
async function execute(
  call: Call,
  ctx: CallContext,
  inputArgs: Record<string, unknown>,
  fingerprint: Fingerprint | undefined,
): Promise<Executed | { ok: false; failure: Failure }> {
  const { def } = call;
  if (ctx.signal?.aborted)
    return { ok: false, failure: { kind: "cancelled", cause: ctx.signal.reason } };
  const controller = new AbortController();
  let timedOut = false;
  const stopped = new Promise<"stopped">((resolve) =>
    controller.signal.addEventListener("abort", () => resolve("stopped"), { once: true }),
  );
  const forward = () => controller.abort(ctx.signal?.reason);
  ctx.signal?.addEventListener("abort", forward, { once: true });
  const timer =
    def.timeout === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          controller.abort(new MemoriError("timeout", `stage "${def.name}" timed out`));
        }, def.timeout);
  try {
    const running = executorOf(def).execute({
      def,
      element: call.element,
      inputArgs,
      fingerprint,
      signal: controller.signal,
      attempt: ctx.attempt,
    });
    const first = await Promise.race([running, stopped]);
    if (first !== "stopped") return first;
    // Give the function a moment to stop (processes it started are being killed).
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([
      running,
      new Promise((resolve) => (grace = setTimeout(resolve, STOP_GRACE_MS))),
    ]);
    clearTimeout(grace);
    return {
      ok: false,
      failure: timedOut
        ? { kind: "timeout", ms: def.timeout ?? 0 }
        : { kind: "cancelled", cause: ctx.signal?.reason },
    };
  } finally {
    clearTimeout(timer);
    ctx.signal?.removeEventListener("abort", forward);
  }
}

/** Run one call: its outcome, or why it failed. Never throws. */
export async function runCall(call: Call, ctx: CallContext): Promise<CallResult> {
  const { def } = call;
  const began = Date.now();
  tell(call, ctx, { type: "stage:start", ...about(call, ctx), time: began });
  let inputArgs: Record<string, unknown> | undefined;
  const failed = (failure: Failure): CallResult => ({
    ok: false,
    failure: {
      stage: def.name,
      element: call.element,
      inputArgs,
      attempt: ctx.attempt,
      attempts: ctx.attempts,
      failure,
    },
  });
  const finish = (action: "run" | "skip", reason: Reason, outputs: Record<string, unknown>) => {
    const outcome: Outcome = {
      results: withAliases(def.name, def.outputs, def.aliases, outputs),
      decision: decision(call, ctx, action, reason),
      inputArgs: inputArgs!,
    };
    const now = Date.now();
    if (action === "skip")
      def.logger.info(`stage "${outcome.decision.stage}": skipped (${describeReason(reason)})`);
    tell(call, ctx, {
      type: action === "skip" ? "stage:cached" : "stage:done",
      ...about(call, ctx),
      reason,
      ms: now - began,
      time: now,
    } as MemoriEvent);
    return { ok: true as const, outcome };
  };
  try {
    checkRunOptions(def.name, call.options);
    inputArgs = def.signature.bind(call.invocation, def.args);
    const { location } = call;
    if (location === undefined) {
      const reason: Reason = { kind: "not-memoized" };
      tell(call, ctx, { type: "stage:run", ...about(call, ctx), reason, time: Date.now() });
      const executed = await execute(call, ctx, inputArgs, undefined);
      if (!executed.ok)
        return failed(
          "failure" in executed ? executed.failure : { kind: "threw", error: executed.error },
        );
      return finish("run", reason, nameOutputs(def.name, def.outputs, executed.returned));
    }
    const store = location.store;
    const previous = store.read();
    const known = seedKnownFiles(def, store, previous);
    const fingerprint = await takeFingerprint(def, inputArgs, ctx.scope);
    const input: LookupInput = {
      def,
      location,
      previous,
      fingerprint,
      options: call.options,
      readonlyCaches: ctx.readonlyCaches,
      scope: ctx.scope,
      refresh: refreshFromEnv(),
    };
    const found = await lookup(input);
    const lockOptions = {
      onWait: (message: string) => def.logger.info(message),
      onCompromised: (message: string) => def.logger.warn(message),
    };
    const locker = ctx.locker ?? fileLocker;
    if (found.hit) {
      await settleHit(call, found, fingerprint, previous, known, ctx);
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
          current = store.read();
          const again = await lookup({ ...input, previous: current, ownOnly: true });
          if (again.hit) {
            await recordKnownFiles(def, store, referencedFiles(again.state), known);
            return finish("skip", again.reason, again.outputs);
          }
          reason = again.reason;
        }
        def.logger.info(`stage "${name}": running (${describeReason(reason)})`);
        tell(call, ctx, { type: "stage:run", ...about(call, ctx), reason, time: Date.now() });
        crashPoint("before-function", true);
        const executed = await execute(call, ctx, inputArgs!, fingerprint);
        crashPoint("after-function", true);
        if (!executed.ok)
          return failed(
            "failure" in executed ? executed.failure : { kind: "threw", error: executed.error },
          );
        const outputs = nameOutputs(def.name, def.outputs, executed.returned);
        await commitRun(def, store, fingerprint, outputs, current, known, ctx.scope);
        return finish("run", reason, outputs);
      },
      lockOptions,
      locker,
    );
  } catch (error) {
    if (ctx.signal?.aborted) return failed({ kind: "cancelled", cause: ctx.signal.reason });
    return failed({ kind: "error", error });
  }
}

/** What a hit still has to do: warn, record a borrowed or forced result, remember file hashes. */
async function settleHit(
  call: Call,
  found: Hit,
  fingerprint: Fingerprint,
  previous: ReadResult,
  known: Record<string, never> | ReturnType<typeof seedKnownFiles>,
  ctx: CallContext,
): Promise<void> {
  const { def, options } = call;
  const store = call.location!.store;
  const name = callName(def, call.element);
  const lockOptions = {
    onWait: (message: string) => def.logger.info(message),
    onCompromised: (message: string) => def.logger.warn(message),
  };
  const locker = ctx.locker ?? fileLocker;
  if (found.from !== undefined) {
    await withLock(
      store,
      () => recordResult(def, store, fingerprint, found.state.outputs, found.state.written),
      lockOptions,
      locker,
    );
    def.logger.info(`stage "${name}": taken from read-only cache ${found.from}`);
    return;
  }
  if (found.reason.kind === "forced") {
    if (found.mismatch !== undefined) {
      def.logger.warn(
        `stage "${name}": forceSkip loads stored results although ${describeReason(found.mismatch)}.`,
      );
    }
    if (options.forceHashWrite) {
      await withLock(
        store,
        async () => {
          const encoded = await encodeAll(def, found.outputs, "outputs", ctx.scope);
          await recordResult(def, store, fingerprint, encoded, found.state.written);
        },
        lockOptions,
        locker,
      );
    }
    return;
  }
  if (options.forceHashWrite) {
    await withLock(
      store,
      () => recordResult(def, store, fingerprint, found.state.outputs, found.state.written),
      lockOptions,
      locker,
    );
  }
  await recordKnownFiles(def, store, referencedFiles(found.state), known);
  void previous;
}

/** Say that a failed attempt will be tried again. */
export function announceRetry(call: Call, ctx: CallContext, f: CallFailure, ms: number): void {
  call.def.logger.warn(
    `stage "${callName(call.def, call.element)}": attempt ${f.attempt} of ${f.attempts} failed; trying again.`,
  );
  tell(call, ctx, {
    type: "stage:retry",
    ...about(call, ctx),
    attempt: f.attempt,
    attempts: f.attempts,
    error: f.failure.kind === "threw" || f.failure.kind === "error" ? f.failure.error : f.failure,
    ms,
    time: Date.now(),
  });
}

/** Say that a call failed for good. */
export function announceFailure(call: Call, ctx: CallContext, error: unknown, ms: number): void {
  tell(call, ctx, { type: "stage:error", ...about(call, ctx), error, ms, time: Date.now() });
}

/** Whether a failed attempt gets another one. */
export function willRetry(f: CallFailure): boolean {
  return f.attempt < f.attempts && retryable(f.failure);
}

/** A dry run of one call: what it would do, with its results when they are known. */
export type ExplainResult =
  | { ok: true; explanation: Explanation; results?: Record<string, unknown> }
  | { ok: false; failure: CallFailure };

/**
 * Explain one call: the runner's path stopped after the lookup. Reads files, writes nothing.
 * A `cheap` stage that would run is called (without its state being written), so that what
 * follows it can be explained too.
 */
export async function explainCall(call: Call, ctx: CallContext): Promise<ExplainResult> {
  const { def } = call;
  let inputArgs: Record<string, unknown> | undefined;
  const explanation = (action: Explanation["action"], reason: Reason): Explanation => ({
    stage: callName(def, call.element),
    action,
    reason,
    ...(call.element === undefined ? {} : { element: call.element }),
  });
  const failed = (failure: Failure): ExplainResult => ({
    ok: false,
    failure: {
      stage: def.name,
      element: call.element,
      inputArgs,
      attempt: 1,
      attempts: 1,
      failure,
    },
  });
  try {
    checkRunOptions(def.name, call.options);
    inputArgs = def.signature.bind(call.invocation, def.args);
    let reason: Reason = { kind: "not-memoized" };
    let fingerprint: Fingerprint | undefined;
    if (call.location !== undefined) {
      const store = call.location.store;
      const previous = store.read();
      seedKnownFiles(def, store, previous);
      fingerprint = await takeFingerprint(def, inputArgs, ctx.scope);
      const found = await lookup({
        def,
        location: call.location,
        previous,
        fingerprint,
        options: call.options,
        readonlyCaches: ctx.readonlyCaches,
        scope: ctx.scope,
        refresh: refreshFromEnv(),
      });
      if (found.hit) {
        const results = withAliases(def.name, def.outputs, def.aliases, found.outputs);
        return { ok: true, explanation: explanation("skip", found.reason), results };
      }
      reason = found.reason;
    }
    if (!def.cheap) return { ok: true, explanation: explanation("run", reason) };
    const executed = await execute(call, ctx, inputArgs, fingerprint);
    if (!executed.ok)
      return failed(
        "failure" in executed ? executed.failure : { kind: "threw", error: executed.error },
      );
    const outputs = nameOutputs(def.name, def.outputs, executed.returned);
    return {
      ok: true,
      explanation: explanation("run", reason),
      results: withAliases(def.name, def.outputs, def.aliases, outputs),
    };
  } catch (error) {
    return failed({ kind: "error", error });
  }
}
