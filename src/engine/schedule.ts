/**
 * The one scheduler, for a pipeline, a map run alone and a stage run alone, and for their dry
 * runs: it turns the nodes of a plan into calls as their inputs become ready, and runs them on
 * one queue (one concurrency for stages and map elements alike, retries, keep-going, interrupts).
 *
 * A mapped node is expanded into one call per element when its lists are known. A map whose
 * mapped parameters all come from one upstream map, element by element, is streamed: its
 * element k starts as soon as the upstream element k is done, and a failed element blocks only
 * the elements downstream of it. Work is driven by a work list, never by recursion, so chains of
 * any length settle in constant stack. Reports pipeline:* and map:start events; the stage
 * runner reports stage:*.
 */
import { emit, type EventListener } from "../events.js";
import { MemoriError, messageOf } from "../errors.js";
import { HashScope } from "../hashing/files.js";
import type { RunOptions } from "../options.js";
import { elementLocation, stageLocation } from "../state/location.js";
import { elementsOf, labelsOf } from "./elements.js";
import { errorOf, type CallFailure } from "./failure.js";
import { DEFINITION, MAPPING, type PipelineNode } from "./node.js";
import { TaskQueue, type Settled } from "./queue.js";
import {
  mapDecision,
  mapExplanation,
  mapResults,
  type Counts,
  type ElementReport,
  type NodeReport,
  type ScheduleReport,
} from "./report.js";
import {
  announceFailure,
  announceRetry,
  callName,
  explainCall,
  runCall,
  willRetry,
  type Call,
  type CallContext,
  type CallResult,
  type ExplainResult,
} from "./run.js";
import type { Invocation } from "./signature.js";

/** A node of the plan, with its edges (node ids are definition order). */
export interface PlanNode {
  readonly node: PipelineNode;
  /** Whether it receives the run's arguments. */
  readonly start: boolean;
  /** Upstream nodes, in definition order (the right-most wins a name clash). */
  readonly sources: readonly number[];
  /** Downstream nodes, each once. */
  readonly successors: readonly number[];
}

export interface ScheduleOptions {
  readonly mode: "run" | "explain";
  /** The arguments of the nodes fed by `"start"`. */
  readonly start: Invocation;
  readonly runOptions: RunOptions;
  readonly concurrency: number;
  readonly keepGoing: boolean;
  readonly readonlyCaches: readonly string[];
  readonly onEvent: EventListener | undefined;
  /** Aborting it interrupts the run: nothing new starts, running calls are cancelled. */
  readonly signal: AbortSignal | undefined;
  /** A pipeline (pipeline:* events, its error wording), or a stage or map run alone. */
  readonly where: "pipeline" | "stage";
}

/** Priorities: node id first, then element index. */
const ELEMENT_SPAN = 2 ** 21;

type Work =
  readonly ["activate", number] | readonly ["settled", number] | readonly ["lane", number, number];

/** Run (or explain) a plan. Never throws for a failing call: see the report. */
export function schedule(
  plan: readonly PlanNode[],
  options: ScheduleOptions,
): Promise<ScheduleReport> {
  return new Scheduling(plan, options).run();
}

/** The source that feeds a mapped node element by element, if there is one. */
function laneSourceOf(plan: readonly PlanNode[], id: number): number | undefined {
  const { node, sources, start } = plan[id]!;
  const mapping = node[MAPPING];
  if (mapping === undefined || (mapping.over.length > 1 && mapping.mode !== "zip"))
    return undefined;
  const args = node[DEFINITION].args;
  const providerOf = (name: string): number | "static" | "start" | undefined => {
    if (name in args) return "static";
    for (let j = sources.length - 1; j >= 0; j--) {
      const source = plan[sources[j]!]!.node;
      if (source.outputs.includes(name) || name in source.aliases) return sources[j];
    }
    return start ? "start" : undefined;
  };
  const lane = providerOf(mapping.over[0]!);
  if (typeof lane !== "number" || plan[lane]!.node[MAPPING] === undefined) return undefined;
  if (!mapping.over.every((name) => providerOf(name) === lane)) return undefined;
  const others = node.inputs.filter((name) => !mapping.over.includes(name));
  return others.some((name) => providerOf(name) === lane) ? undefined : lane;
}

class Scheduling {
  readonly #plan: readonly PlanNode[];
  readonly #options: ScheduleOptions;
  readonly #reports: NodeReport[];
  readonly #waiting: number[];
  readonly #lanes: (number | undefined)[];
  readonly #followers: number[][];
  readonly #named: Record<string, unknown>[] = [];
  readonly #unsettled: number[] = [];
  readonly #usedLabels = new Map<number, Set<string>>();
  readonly #queue: TaskQueue<CallResult | ExplainResult>;
  readonly #scope: HashScope;
  readonly #work: Work[] = [];
  #draining = false;
  #outstanding = 0;
  #stopping = false;
  #interrupted: unknown = undefined;
  #finish: (() => void) | undefined;

  constructor(plan: readonly PlanNode[], options: ScheduleOptions) {
    this.#plan = plan;
    this.#options = options;
    this.#reports = plan.map((p) => ({
      node: p.node,
      status: "waiting",
      failures: [],
      offered: [],
      failedUpstream: [],
      unknownUpstream: [],
    }));
    this.#lanes = plan.map((_, id) => laneSourceOf(plan, id));
    this.#followers = plan.map(() => []);
    this.#lanes.forEach((lane, id) => lane !== undefined && this.#followers[lane]!.push(id));
    this.#waiting = plan.map(
      (p, id) => new Set(p.sources.filter((s) => s !== this.#lanes[id])).size,
    );
    const groups = new Map<number, number>();
    plan.forEach((p, id) => {
      const limit = p.node[MAPPING]?.concurrency;
      if (limit !== undefined) groups.set(id, limit);
    });
    this.#queue = new TaskQueue(options.concurrency, groups);
    const { onEvent } = options;
    this.#scope = new HashScope(
      onEvent &&
        ((file, bytes, total) =>
          emit(onEvent, { type: "hash:progress", file, bytes, total, time: Date.now() })),
    );
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
      this.#plan.forEach((_, id) => this.#waiting[id] === 0 && this.#work.push(["activate", id]));
      this.#drain();
    });
    signal?.removeEventListener("abort", abort);
    const counts = this.#count();
    const ms = Date.now() - began;
    if (announce) emit(onEvent, { type: "pipeline:done", ms, ...counts, time: Date.now() });
    for (const r of this.#reports) r.failures.sort((a, b) => order(r, a) - order(r, b));
    return { nodes: this.#reports, counts, interrupted: this.#interrupted, ms };
  }

  #halt(interrupted?: unknown): void {
    this.#stopping = true;
    if (interrupted !== undefined && this.#interrupted === undefined)
      this.#interrupted = interrupted;
    this.#queue.halt();
  }

  #drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    try {
      for (let i = 0; i < this.#work.length; i++) {
        const item = this.#work[i]!;
        if (item[0] === "activate") this.#tryActivate(item[1]);
        else if (item[0] === "settled") this.#propagate(item[1]);
        else this.#laneStep(item[1], item[2]);
      }
      this.#work.length = 0;
    } finally {
      this.#draining = false;
    }
    if (this.#outstanding === 0) this.#finish?.();
  }

  #name(id: number): string {
    return this.#plan[id]!.node.name;
  }

  #resultsOf(id: number): Record<string, unknown> {
    const r = this.#reports[id]!;
    return r.outcome?.results ?? r.results ?? {};
  }

  #tryActivate(id: number): void {
    const r = this.#reports[id]!;
    if (r.status !== "waiting" || this.#waiting[id]! > 0) return;
    if (r.failedUpstream.length > 0) return this.#settleAs(id, "blocked");
    if (r.unknownUpstream.length > 0) return this.#settleAs(id, "unknown");
    const lane = this.#lanes[id];
    if (lane !== undefined && this.#reports[lane]!.elements === undefined) {
      const source = this.#reports[lane]!;
      if (source.status === "failed" || source.status === "blocked") {
        r.failedUpstream.push(this.#name(lane));
        return this.#settleAs(id, "blocked");
      }
      if (source.status === "unknown") {
        r.unknownUpstream.push(this.#name(lane));
        return this.#settleAs(id, "unknown");
      }
      return; // waits for the source's elements
    }
    if (this.#stopping) return;
    this.#activate(id);
  }

  #activate(id: number): void {
    const { node, start, sources } = this.#plan[id]!;
    const r = this.#reports[id]!;
    const mapping = node[MAPPING];
    r.status = "running";
    const offered: Record<string, unknown> = start ? { ...this.#options.start.named } : {};
    for (const source of sources) {
      if (source !== this.#lanes[id]) Object.assign(offered, this.#resultsOf(source));
    }
    r.offered = Object.keys(offered);
    // A pipeline passes each node the names it takes; a stage run alone takes what it is given
    // (and rejects a name it has no parameter for).
    let named = offered;
    if (this.#options.where === "pipeline") {
      const accepted = new Set(node.inputs);
      named = {};
      for (const [key, value] of Object.entries(offered)) if (accepted.has(key)) named[key] = value;
    }
    if (mapping === undefined) {
      const positional = start ? this.#options.start.positional : [];
      return this.#submit(id, undefined, { positional, named });
    }
    this.#named[id] = named;
    const lane = this.#lanes[id];
    try {
      if (start && this.#options.start.positional.length > 0) {
        throw new MemoriError(
          "invalid-argument",
          `stage "${node.name}": a mapped stage takes its arguments by name.`,
          { stage: node.name },
        );
      }
      if (lane === undefined) {
        const elements = elementsOf(node.name, mapping, named);
        const labels = labelsOf(node.name, mapping, elements);
        r.elements = elements.map((values, index) => ({
          index,
          label: labels[index],
          values,
          status: "waiting",
        }));
      } else {
        r.elements = this.#reports[lane]!.elements!.map((source, index) => ({
          index,
          label: mapping.label === undefined ? source.label : undefined,
          values: undefined,
          status: "waiting",
        }));
      }
    } catch (error) {
      return this.#failNode(id, error);
    }
    const elements = r.elements;
    this.#unsettled[id] = elements.length;
    if (this.#options.mode === "run") {
      const { onEvent } = this.#options;
      const event = {
        type: "map:start",
        stage: node.name,
        elements: elements.length,
        time: Date.now(),
      } as const;
      emit(onEvent, event);
      if (node[DEFINITION].onEvent !== onEvent) emit(node[DEFINITION].onEvent, event);
    }
    for (const follower of this.#followers[id]!) this.#work.push(["activate", follower]);
    if (elements.length === 0) return this.#settleMap(id);
    for (const element of elements) {
      if (lane === undefined) {
        this.#submit(id, element, { positional: [], named: { ...named, ...element.values } });
      } else {
        this.#work.push(["lane", id, element.index]);
      }
    }
  }

  /** Element k of a streamed map, once element k upstream has settled. */
  #laneStep(id: number, k: number): void {
    const r = this.#reports[id]!;
    const element = r.elements?.[k];
    const lane = this.#lanes[id]!;
    const source = this.#reports[lane]!.elements![k]!;
    if (element === undefined || element.status !== "waiting") return;
    const mapping = this.#plan[id]!.node[MAPPING]!;
    const upstream = `${this.#name(lane)}[${source.label}]`;
    if (source.status === "failed" || source.status === "blocked" || source.status === "unknown") {
      element.label ??= source.label;
      element.blockedBy = upstream;
      element.status = source.status === "unknown" ? "unknown" : "blocked";
      if (this.#options.mode === "explain") {
        element.explanation = {
          stage: `${this.#name(id)}[${element.label}]`,
          action: element.status === "unknown" ? "run-if-upstream-changes" : "blocked",
          reason:
            element.status === "unknown"
              ? { kind: "upstream-would-run", upstream: [upstream] }
              : { kind: "upstream-failed", upstream: [upstream] },
          element: element.label!,
        };
      }
      return this.#elementSettled(id);
    }
    if (source.status !== "done" || this.#stopping) return;
    const results = source.outcome?.results ?? source.results ?? {};
    const values = Object.fromEntries(mapping.over.map((name) => [name, results[name]]));
    element.values = values;
    if (element.label === undefined) {
      try {
        const used = this.#usedLabels.get(id) ?? new Set<string>();
        this.#usedLabels.set(id, used);
        let label = labelsOf(this.#name(id), mapping, [values])[0]!;
        if (used.has(label)) label = `${label}#${k}`;
        used.add(label);
        element.label = label;
      } catch (error) {
        element.label = source.label;
        return this.#callSettled(id, element, undefined, {
          kind: "done",
          attempt: 1,
          value: { ok: false, failure: this.#invalid(id, error, element.label) },
        });
      }
    }
    this.#submit(id, element, { positional: [], named: { ...this.#named[id], ...values } });
  }

  #submit(id: number, element: ElementReport | undefined, invocation: Invocation): void {
    const { node } = this.#plan[id]!;
    const def = node[DEFINITION];
    const { mode, runOptions, readonlyCaches, onEvent, signal } = this.#options;
    const location =
      def.hashOutput === undefined
        ? undefined
        : element === undefined
          ? stageLocation(def.hashOutput, def.name)
          : elementLocation(def.hashOutput, def.name, element.values!);
    const call: Call = { def, invocation, location, element: element?.label, options: runOptions };
    (element ?? this.#reports[id]!).status = "running";
    const attempts = mode === "run" ? def.retries + 1 : 1;
    const context = (attempt: number): CallContext => ({
      scope: this.#scope,
      readonlyCaches,
      onEvent,
      signal,
      attempt,
      attempts,
    });
    let began = Date.now();
    this.#outstanding++;
    void this.#queue
      .add({
        priority: id * ELEMENT_SPAN + (element === undefined ? 0 : element.index + 1),
        group: node[MAPPING]?.concurrency === undefined ? undefined : id,
        run: (attempt) => {
          began = Date.now();
          return mode === "run"
            ? runCall(call, context(attempt))
            : explainCall(call, context(attempt));
        },
        again: (result) => !result.ok && willRetry(result.failure),
        onRetry: (result, attempt) => {
          if (!result.ok) announceRetry(call, context(attempt), result.failure, Date.now() - began);
        },
      })
      .then((settled) => {
        this.#outstanding--;
        if (settled.kind === "done" && !settled.value.ok && mode === "run") {
          const error = errorOf(
            settled.value.failure,
            this.#options.where,
            this.#reports[id]!.offered,
          );
          announceFailure(call, context(settled.attempt), error, Date.now() - began);
        }
        this.#callSettled(id, element, call, settled);
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

  #callSettled(
    id: number,
    element: ElementReport | undefined,
    call: Call | undefined,
    settled: Settled<CallResult | ExplainResult>,
  ): void {
    const r = this.#reports[id]!;
    const target = element ?? r;
    if (settled.kind === "dropped") {
      target.status = "waiting"; // never started
      return;
    }
    const result = settled.value;
    if (result.ok) {
      if ("outcome" in result) {
        target.outcome = result.outcome;
        target.status = "done";
      } else {
        target.explanation = result.explanation;
        target.results = result.results;
        target.status = result.results === undefined ? "unknown" : "done";
      }
    } else {
      const f = result.failure;
      r.failures.push(f);
      if (element !== undefined) element.failure = f;
      target.status = f.failure.kind === "cancelled" ? "cancelled" : "failed";
      if (this.#options.mode === "explain") {
        target.explanation = {
          stage: callName(r.node[DEFINITION], call?.element ?? element?.label),
          action: "fail",
          reason: failedReason(errorOf(f, "stage")),
          ...(element?.label === undefined ? {} : { element: element.label }),
        };
      } else if (!this.#options.keepGoing && f.failure.kind !== "cancelled") {
        this.#halt();
      }
    }
    if (element === undefined) {
      this.#work.push(["settled", id]);
      return;
    }
    for (const follower of this.#followers[id]!) {
      if (this.#reports[follower]!.elements !== undefined)
        this.#work.push(["lane", follower, element.index]);
    }
    if (target.status !== "cancelled") this.#elementSettled(id);
  }

  #elementSettled(id: number): void {
    this.#unsettled[id]! -= 1;
    if (this.#unsettled[id] === 0) this.#settleMap(id);
  }

  /** All elements of a map settled: the node's status, outcome and explanation. */
  #settleMap(id: number): void {
    const r = this.#reports[id]!;
    const elements = r.elements!;
    const name = this.#name(id);
    const has = (status: string) => elements.some((e) => e.status === status);
    r.status = has("failed")
      ? "failed"
      : has("cancelled")
        ? "cancelled"
        : has("blocked")
          ? "blocked"
          : has("unknown")
            ? "unknown"
            : "done";
    if (this.#options.mode === "run") {
      if (r.status === "done") {
        r.outcome = {
          results: mapResults(r.node, elements),
          decision: mapDecision(name, elements),
          inputArgs: { ...this.#named[id] },
        };
      }
    } else {
      if (r.status === "done") r.results = mapResults(r.node, elements);
      r.explanation = mapExplanation(
        name,
        elements.map((e) => e.explanation!),
      );
    }
    this.#work.push(["settled", id]);
  }

  /** A node that cannot run: blocked by a failure upstream, or (a dry run) waiting on unknowns. */
  #settleAs(id: number, status: "blocked" | "unknown"): void {
    const r = this.#reports[id]!;
    r.status = status;
    if (this.#options.mode === "explain") {
      r.explanation = {
        stage: this.#name(id),
        action: status === "blocked" ? "blocked" : "run-if-upstream-changes",
        reason:
          status === "blocked"
            ? { kind: "upstream-failed", upstream: [...new Set(r.failedUpstream)] }
            : { kind: "upstream-would-run", upstream: [...new Set(r.unknownUpstream)] },
      };
    }
    this.#work.push(["settled", id]);
  }

  #failNode(id: number, error: unknown): void {
    const r = this.#reports[id]!;
    const failure = this.#invalid(id, error);
    r.failures.push(failure);
    r.status = "failed";
    if (this.#options.mode === "explain") {
      r.explanation = {
        stage: this.#name(id),
        action: "fail",
        reason: failedReason(errorOf(failure, "stage")),
      };
    } else {
      const def = r.node[DEFINITION];
      const call: Call = {
        def,
        invocation: { positional: [], named: {} },
        location: undefined,
        element: undefined,
        options: {},
      };
      const ctx = {
        scope: this.#scope,
        readonlyCaches: [],
        onEvent: this.#options.onEvent,
        signal: undefined,
        attempt: 1,
        attempts: 1,
      };
      announceFailure(call, ctx, errorOf(failure, this.#options.where, r.offered), 0);
      if (!this.#options.keepGoing) this.#halt();
    }
    this.#work.push(["settled", id]);
  }

  /** Tell the nodes downstream that a node settled. */
  #propagate(id: number): void {
    const r = this.#reports[id]!;
    for (const next of this.#plan[id]!.successors) {
      if (this.#lanes[next] === id) {
        this.#work.push(["activate", next]);
        continue;
      }
      if (r.status === "cancelled" || r.status === "waiting" || r.status === "running") continue;
      if (r.status === "failed" || r.status === "blocked")
        this.#reports[next]!.failedUpstream.push(this.#name(id));
      if (r.status === "unknown") this.#reports[next]!.unknownUpstream.push(this.#name(id));
      this.#waiting[next]! -= 1;
      if (this.#waiting[next] === 0) this.#work.push(["activate", next]);
    }
  }

  #count(): Counts {
    const counts: Counts = { ran: 0, cached: 0, failed: 0, blocked: 0, cancelled: 0 };
    const add = (status: string, action: string | undefined) => {
      if (status === "done") counts[action === "skip" ? "cached" : "ran"]++;
      else if (status === "failed") counts.failed++;
      else if (status === "blocked") counts.blocked++;
      else if (this.#interrupted !== undefined) counts.cancelled++;
    };
    for (const r of this.#reports) {
      if (r.elements !== undefined && r.node[MAPPING] !== undefined) {
        for (const e of r.elements) add(e.status, e.outcome?.decision.action);
        if (r.status === "failed" && r.elements.length === 0) counts.failed++;
      } else {
        add(r.status, r.outcome?.decision.action);
      }
    }
    return counts;
  }
}

function order(r: NodeReport, f: CallFailure): number {
  return r.elements?.findIndex((e) => e.failure === f) ?? 0;
}

/** The reason a dry run gives for a call that would fail before running. */
function failedReason(error: MemoriError): {
  kind: "invalid-call";
  error: MemoriError["reason"];
  message: string;
} {
  return { kind: "invalid-call", error: error.reason, message: messageOf(error) };
}
