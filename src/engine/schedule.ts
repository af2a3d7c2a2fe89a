/**
 * The one scheduler, for a pipeline, a map run alone and a stage run alone, and for their dry
 * runs: it turns the nodes of a plan into calls as their inputs become ready, and runs them on
 * one queue (one concurrency for stages and map elements alike, retries, keep-going, interrupts).
 *
 * A mapped node is expanded into one call per element when its lists are known. A map whose
 * mapped parameters all come from one upstream map (plan.ts: `streamSource`) is streamed: its
 * element k starts once upstream element k is done; a failed element blocks only the elements
 * downstream of it. A work list, never recursion, drives the work: chains of any length settle
 * in constant stack. Reports pipeline:* and map:start (the stage runner, stage:*).
 */
import type { Reason } from "../decision.js";
import { emit, type MemoriEvent } from "../events.js";
import type { Call, CallResult } from "./call.js";
import { callBase, dispatch, type CallBase } from "./dispatch.js";
import { announceFailure } from "./run.js";
import {
  expandElements,
  fillStreamed,
  leaveOut,
  settleMap,
  settleWithoutSource,
} from "./expand.js";
import type { ExplainResult } from "./explain.js";
import { errorOf, type CallFailure } from "./failure.js";
import { DEFINITION, MAPPING, type StageDef } from "./node.js";
import {
  groupLimits,
  namedFor,
  offeredTo,
  priorityOf,
  startingState,
  type PlanNode,
  type ScheduleOptions,
} from "./plan.js";
import { TaskQueue, type Settled } from "./queue.js";
import { withIndexes } from "../state/state-index.js";
import { newReading } from "../hashing/reading.js";
import {
  countCalls,
  failedExplanation,
  noteUpstream,
  readiness,
  recordCall,
  runsAnyway,
  sortFailures,
  waitingExplanation,
  type ElementReport,
  type NodeReport,
  type ScheduleReport,
} from "./report.js";
import { NO_POSITIONAL, type Invocation } from "./signature.js";

export type { PlanNode, ScheduleOptions } from "./plan.js";

/** Work items, three numbers each in one flat list: what to do, the node, the element. */
const ACTIVATE = 0;
const SETTLED = 1;
const ELEMENT = 2;

/**
 * Run (or explain) a plan. Never throws for a failing call: see the report. Its state
 * directories' indexes serve it (state-index.ts), and a run's end writes what they learned.
 * It begins a new reading of what the stages' code reaches (hashing/reading.ts).
 */
export function schedule(
  plan: readonly PlanNode[],
  options: ScheduleOptions,
): Promise<ScheduleReport> {
  newReading();
  return withIndexes(options.mode === "run", () => new Scheduling(plan, options).run());
}

class Scheduling {
  readonly #plan: readonly PlanNode[];
  readonly #options: ScheduleOptions;
  readonly #reports: NodeReport[];
  /** Per node: how many upstream nodes (not counting a stream source) have not settled. */
  readonly #waiting: number[];
  /** Per node: the map it streams from. */
  readonly #streams: (number | undefined)[];
  /** Per node: the maps that stream from it. */
  readonly #followers: (number[] | undefined)[];
  /** Per mapped node: its arguments besides the mapped values, and how many elements are open. */
  readonly #named: Record<string, unknown>[] = [];
  readonly #open: number[] = [];
  readonly #labels = new Map<number, Set<string>>();
  /** A dry run's answers of `#anyway`, by node. */
  readonly #anyways = new Map<number, Reason | undefined>();
  readonly #queue: TaskQueue<CallResult | ExplainResult>;
  readonly #base: CallBase;
  readonly #work: number[] = [];
  #draining = false;
  #outstanding = 0;
  #stopping = false;
  #interrupted: unknown = undefined;
  #finish: (() => void) | undefined;

  constructor(plan: readonly PlanNode[], options: ScheduleOptions) {
    this.#plan = plan;
    this.#options = options;
    const start = startingState(plan);
    this.#reports = start.reports;
    this.#streams = start.streams;
    this.#followers = start.followers;
    this.#waiting = start.waiting;
    this.#queue = new TaskQueue(options.concurrency, groupLimits(plan));
    this.#base = callBase(options);
  }

  async run(): Promise<ScheduleReport> {
    const began = Date.now();
    const { signal, onEvent, where, mode } = this.#options;
    const announce = where === "pipeline" && mode === "run";
    if (announce) emit(onEvent, { type: "pipeline:start", stages: this.#plan.length, time: began });
    const abort = () => this.#halt(signal?.reason ?? new Error("aborted"));
    if (signal?.aborted) abort();
    signal?.addEventListener("abort", abort, { once: true });
    await new Promise<void>((resolve) => {
      this.#finish = resolve;
      this.#plan.forEach((_, id) => this.#waiting[id] === 0 && this.#work.push(ACTIVATE, id, 0));
      this.#drain();
    });
    signal?.removeEventListener("abort", abort);
    const counts = countCalls(this.#reports, this.#interrupted !== undefined);
    const ms = Date.now() - began;
    if (announce) emit(onEvent, { type: "pipeline:done", ms, ...counts, time: Date.now() });
    this.#reports.forEach(sortFailures);
    return { nodes: this.#reports, counts, interrupted: this.#interrupted, ms };
  }

  /** Start nothing more (a failure without keep-going, or an interrupt). */
  #halt(interrupted?: unknown): void {
    this.#stopping = true;
    if (interrupted !== undefined) this.#interrupted ??= interrupted;
    this.#queue.halt();
  }

  #drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    try {
      const work = this.#work;
      // The calls this work makes ready wait in the queue, then start by priority; a call
      // that ends at once (a hit) stops the starting, and what it makes ready joins them.
      let more = false;
      do {
        this.#queue.hold();
        try {
          for (let i = 0; i < work.length; i += 3) {
            const kind = work[i];
            const id = work[i + 1]!;
            if (kind === ACTIVATE) this.#tryActivate(id);
            else if (kind === SETTLED) this.#propagate(id);
            else this.#stepElement(id, work[i + 2]!);
          }
          work.length = 0;
        } finally {
          more = this.#queue.release();
        }
      } while (more || work.length > 0);
    } finally {
      this.#draining = false;
    }
    if (this.#outstanding === 0) this.#finish?.();
  }

  /** Tell the run's listener and the stage's own. */
  #tell(def: StageDef, event: MemoriEvent): void {
    emit(this.#options.onEvent, event);
    if (def.onEvent !== this.#options.onEvent) emit(def.onEvent, event);
  }

  #name(id: number): string {
    return this.#plan[id]!.node.name;
  }

  /** A dry run: why node `id` runs whatever its upstream gives it, if it does (asked once). */
  #anyway(id: number): Reason | undefined {
    if (!this.#anyways.has(id))
      this.#anyways.set(id, runsAnyway(this.#plan[id]!.node, this.#options, this.#base.refresh));
    return this.#anyways.get(id);
  }

  #tryActivate(id: number): void {
    const r = this.#reports[id]!;
    if (r.status !== "waiting" || this.#waiting[id]! > 0) return;
    const from = this.#streams[id];
    const ready =
      from === undefined ? readiness(r) : readiness(r, this.#reports[from], this.#name(from));
    if (ready === "wait") return; // until the source's elements are known
    if (ready !== "ready") return this.#settleAs(id, ready);
    if (!this.#stopping) this.#activate(id);
  }

  #activate(id: number): void {
    const { node, start } = this.#plan[id]!;
    const r = this.#reports[id]!;
    const mapping = node[MAPPING];
    r.status = "running";
    r.offered = offeredTo(
      this.#plan,
      id,
      this.#options.start.named,
      this.#reports,
      this.#streams[id],
    );
    const named = namedFor(node, r.offered, this.#options.where);
    if (mapping === undefined) {
      const positional = start ? this.#options.start.positional : NO_POSITIONAL;
      return this.#submit(id, undefined, { positional, named });
    }
    this.#named[id] = named;
    const from = this.#streams[id];
    try {
      const positional = start ? this.#options.start.positional : NO_POSITIONAL;
      const upstream = from === undefined ? undefined : this.#reports[from];
      r.elements = expandElements(node, mapping, named, positional, upstream);
    } catch (error) {
      return this.#failNode(id, error);
    }
    const elements = r.elements;
    const only = this.#options.mode === "run" ? this.#options.only : undefined;
    const open = from === undefined ? leaveOut(elements, only) : elements.length;
    this.#open[id] = open;
    if (this.#options.mode === "run") {
      const event = { type: "map:start", stage: node.name, elements: elements.length } as const;
      this.#tell(node[DEFINITION], { ...event, time: Date.now() });
    }
    for (const follower of this.#followers[id] ?? []) this.#work.push(ACTIVATE, follower, 0);
    if (open === 0) return this.#settleMap(id);
    for (const element of elements) {
      if (element.status === "excluded") continue;
      if (from === undefined) {
        this.#submit(id, element, {
          positional: NO_POSITIONAL,
          named: { ...named, ...element.values },
        });
      } else {
        this.#work.push(ELEMENT, id, element.index);
      }
    }
  }

  /** Element k of a streamed map, when element k upstream may have settled. */
  #stepElement(id: number, k: number): void {
    const element = this.#reports[id]!.elements?.[k];
    if (element === undefined || element.status !== "waiting") return;
    const from = this.#streams[id]!;
    const source = this.#reports[from]!.elements![k]!;
    const names = { node: this.#name(id), source: this.#name(from) };
    const anyway = this.#options.mode === "explain" ? this.#anyway(id) : undefined;
    if (settleWithoutSource(element, source, this.#options.mode, names, anyway)) {
      return this.#elementSettled(id);
    }
    if (source.status !== "done" || this.#stopping) return;
    const { node } = this.#plan[id]!;
    const used = this.#labels.get(id) ?? new Set<string>();
    this.#labels.set(id, used);
    try {
      fillStreamed(node, node[MAPPING]!, element, source, used);
    } catch (error) {
      const failure = this.#invalid(id, error, element.label);
      const settled = { kind: "done", attempt: 1, value: { ok: false, failure } } as const;
      return this.#settled(id, element, settled);
    }
    const values = element.values!;
    this.#submit(id, element, {
      positional: NO_POSITIONAL,
      named: { ...this.#named[id], ...values },
    });
  }

  #submit(id: number, element: ElementReport | undefined, invocation: Invocation): void {
    const { node } = this.#plan[id]!;
    const call: Call = {
      def: node[DEFINITION],
      invocation,
      values: element?.values,
      element: element?.label,
      options: this.#options.runOptions,
      // What a first attempt leaves for the next ones.
      memo: node[DEFINITION].retries > 0 ? {} : undefined,
      node: this.#options.where === "pipeline" ? id : undefined,
    };
    (element ?? this.#reports[id]!).status = "running";
    this.#outstanding++;
    const how = {
      mode: this.#options.mode,
      where: this.#options.where,
      priority: priorityOf(id, element?.index),
      group: node[MAPPING]?.concurrency === undefined ? undefined : id,
      offered: () => Object.keys(this.#reports[id]!.offered),
    };
    dispatch(this.#queue, call, this.#base, how, (settled) => {
      this.#outstanding--;
      this.#settled(id, element, settled);
      this.#drain();
    });
  }

  /** A failure of memori's own checks, before a call could start. */
  #invalid(id: number, error: unknown, element?: string): CallFailure {
    return {
      stage: this.#name(id),
      element,
      inputArgs: this.#named[id],
      attempt: 1,
      attempts: 1,
      failure: { kind: "error", error },
    };
  }

  /** A call ended (or was dropped from the queue). */
  #settled(
    id: number,
    element: ElementReport | undefined,
    settled: Settled<CallResult | ExplainResult>,
  ): void {
    const r = this.#reports[id]!;
    const target = element ?? r;
    if (settled.kind === "dropped") {
      target.status = "waiting"; // never started
      return;
    }
    const failure = recordCall(r, element, settled.value);
    if (failure !== undefined && this.#options.mode === "run" && !this.#options.keepGoing) {
      if (failure.failure.kind !== "cancelled") this.#halt();
    }
    if (element === undefined) {
      this.#work.push(SETTLED, id, 0);
      return;
    }
    for (const follower of this.#followers[id] ?? []) {
      if (this.#reports[follower]!.elements !== undefined) {
        this.#work.push(ELEMENT, follower, element.index);
      }
    }
    if (target.status !== "cancelled") this.#elementSettled(id);
  }

  #elementSettled(id: number): void {
    this.#open[id]! -= 1;
    if (this.#open[id] === 0) this.#settleMap(id);
  }

  /** All elements of a map settled. */
  #settleMap(id: number): void {
    settleMap(this.#reports[id]!, this.#options.mode, this.#named[id] ?? {});
    this.#work.push(SETTLED, id, 0);
  }

  /** A node that cannot run: blocked by a failure upstream, or (a dry run) waiting on a change. */
  #settleAs(id: number, status: "blocked" | "unknown" | "excluded"): void {
    const r = this.#reports[id]!;
    r.status = status;
    if (this.#options.mode === "explain" && status !== "excluded") {
      const upstream = status === "blocked" ? r.failedUpstream : r.unknownUpstream;
      const anyway = status === "unknown" ? this.#anyway(id) : undefined;
      r.explanation = waitingExplanation(this.#name(id), status, upstream, undefined, anyway);
    }
    this.#work.push(SETTLED, id, 0);
  }

  /** A mapped node whose elements cannot be made (its lists are not lists, say). */
  #failNode(id: number, error: unknown): void {
    const r = this.#reports[id]!;
    const failure = this.#invalid(id, error);
    r.failures.push(failure);
    r.status = "failed";
    if (this.#options.mode === "explain") {
      r.explanation = failedExplanation(this.#name(id), failure);
    } else {
      const def = r.node[DEFINITION];
      const invocation = { positional: [], named: this.#named[id] ?? {} };
      const call = { def, invocation, element: undefined, options: {} };
      const error = errorOf(failure, this.#options.where, Object.keys(r.offered));
      announceFailure(call, { ...this.#base, attempt: 1, attempts: 1 }, error, 0);
      if (!this.#options.keepGoing) this.#halt();
    }
    this.#work.push(SETTLED, id, 0);
  }

  /** Tell the nodes downstream that a node settled. */
  #propagate(id: number): void {
    const r = this.#reports[id]!;
    const { successors } = this.#plan[id]!;
    for (let i = 0; i < successors.length; i++) {
      const next = successors[i]!;
      if (this.#streams[next] === id) {
        this.#work.push(ACTIVATE, next, 0); // it follows element by element
        continue;
      }
      // Cancelled (or still waiting: dropped): what follows does not start.
      if (!noteUpstream(this.#reports[next]!, r, this.#name(id))) continue;
      this.#waiting[next]! -= 1;
      if (this.#waiting[next] === 0) this.#work.push(ACTIVATE, next, 0);
    }
  }
}
