/**
 * One call of a stage (a stage run alone, a pipeline node, one element of a map) and how it is
 * reported: its name in messages, its `stage:*` events, its decision.
 */
import type { RecordListing } from "../state/listing.js";
import type { Decision, Reason } from "../decision.js";
import { emit, sameListener, type EventListener, type MemoriEvent } from "../events.js";
import type { HashScope } from "../hashing/files.js";
import type { RunOptions } from "./run-options.js";
import type { Locker } from "../state/lock.js";
import { elementLocation, stageLocation, type StateLocation } from "../state/location.js";
import type { Executor } from "./executor.js";
import type { CallFailure } from "./failure.js";
import type { Outcome, StageDef } from "./node.js";
import type { Invocation } from "./signature.js";

/** One call of a stage. */
export interface Call {
  readonly def: StageDef;
  readonly invocation: Invocation;
  /** A map element's mapped values (they key its state), for one element of a map. */
  readonly values?: Readonly<Record<string, unknown>> | undefined;
  /** The map element's label, for one element of a map. */
  readonly element: string | undefined;
  readonly options: RunOptions;
  /** What the first attempt saw, for the later ones: path arguments that named no file. */
  readonly memo?: { absent?: Set<string> };
  /** The pipeline node's index, for a pipeline's call: its events carry `s<index>`. */
  readonly node?: number | undefined;
}

/** What a call runs with. */
export interface CallContext {
  /** Hashes already computed in this run. */
  readonly scope: HashScope;
  /** The pipeline's read-only caches. */
  readonly readonlyCaches: readonly string[];
  /** The pipeline's listener (the stage's own `onEvent` is told too). */
  readonly onEvent: EventListener | undefined;
  /** Aborted when the run is interrupted. */
  readonly signal: AbortSignal | undefined;
  /**
   * The signal is the caller's: stop what the call started when it fires, not every process
   * (a process signal stops every process anyway). See `executeBounded`.
   */
  readonly attribute?: boolean | undefined;
  /** `MEMORI_REFRESH`, read once per run: every call runs again unless told to skip. */
  readonly refresh: boolean;
  readonly attempt: number;
  readonly attempts: number;
  /** The lock between runs of the same state. @default fileLocker */
  readonly locker?: Locker | undefined;
  /** The records this run found missing (a run, not a dry run). */
  readonly listing?: RecordListing | undefined;
  /** Where a call runs when its stage names no executor (a pipeline's `executor`). */
  readonly executor?: Executor | undefined;
}

/** How a call ended: its outcome, or why it failed. */
export type CallResult =
  | {
      ok: true;
      outcome: Outcome;
      /** When the call (this attempt) began and ended, `Date.now()`. */
      start: number;
      end: number;
    }
  | { ok: false; failure: CallFailure };

/**
 * Where a call's state lives: the stage's, or its map element's (keyed by its values);
 * `undefined` when the stage is not memoized. Throws for element values that cannot key a
 * state (a cycle).
 */
export function locationOf(call: Call): StateLocation | undefined {
  const { hashOutput, name } = call.def;
  if (hashOutput === undefined) return undefined;
  return call.values === undefined
    ? stageLocation(hashOutput, name)
    : elementLocation(hashOutput, name, call.values, call.element);
}

/** `name`, or `name[label]` for an element. */
export function callName(def: StageDef, element: string | undefined): string {
  return element === undefined ? def.name : `${def.name}[${element}]`;
}

/** The fields every `stage:*` event of a call carries. */
export interface About {
  stage: string;
  element?: string;
  attempt?: number;
  node?: string;
}

function about(call: Call, ctx: CallContext): About {
  const fields: About = { stage: callName(call.def, call.element) };
  if (call.element !== undefined) fields.element = call.element;
  if (ctx.attempt > 1) fields.attempt = ctx.attempt;
  if (call.node !== undefined) fields.node = `s${call.node}`;
  return fields;
}

/**
 * Tell the run's listener and the stage's own about a call; the event is only made when
 * someone listens.
 */
export function tell(call: Call, ctx: CallContext, make: (about: About) => MemoriEvent): void {
  const own = call.def.onEvent;
  const heard = own === undefined || sameListener(own, ctx.onEvent) ? undefined : own;
  if (ctx.onEvent === undefined && heard === undefined) return;
  const event = make(about(call, ctx));
  emit(ctx.onEvent, event);
  emit(heard, event);
}

/** The decision a call made. */
export function decisionOf(
  call: Call,
  ctx: CallContext,
  action: "run" | "skip",
  reason: Reason,
): Decision {
  const decision: Decision = { stage: callName(call.def, call.element), action, reason };
  if (call.element !== undefined) decision.element = call.element;
  if (ctx.attempt > 1) decision.attempt = ctx.attempt;
  return decision;
}

/** The failure of a call, with what names it. */
export function failureOf(
  call: Call,
  ctx: CallContext,
  inputArgs: Record<string, unknown> | undefined,
  failure: CallFailure["failure"],
): CallFailure {
  return {
    stage: call.def.name,
    element: call.element,
    inputArgs,
    attempt: ctx.attempt,
    attempts: ctx.attempts,
    failure,
  };
}
