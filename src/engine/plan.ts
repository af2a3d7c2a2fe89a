/**
 * The plan a scheduler runs: nodes with their edges, which map streams from which, and what
 * each node is offered by the nodes before it.
 */
import type { EventListener } from "../events.js";
import type { Executor } from "./executor.js";
import { DEFINITION, MAPPING, type PipelineNode } from "./node.js";
import type { RunOptions } from "./run-options.js";
import type { Invocation } from "./signature.js";
import { waitingReport, type NodeReport } from "./report.js";

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

/** How a plan is run (or explained). */
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
  /** The signal is (or includes) the caller's own: see `CallContext.attribute`. */
  readonly attribute?: boolean;
  /** A pipeline (pipeline:* events, its error wording), or a stage or map run alone. */
  readonly where: "pipeline" | "stage";
  /**
   * Run only the map elements with these labels (a run, not a dry run): the others, and the
   * nodes that need a map's elements that were left out, are `excluded`.
   */
  readonly only?: ReadonlySet<string> | undefined;
  /** Where calls run whose stage names no executor of its own (a pipeline's `executor`). */
  readonly executor?: Executor | undefined;
}

/** Where a parameter of a node gets its value: a static argument, a source, the run's arguments. */
function providerOf(
  plan: readonly PlanNode[],
  id: number,
  name: string,
): number | "static" | "start" | undefined {
  const { node, sources, start } = plan[id]!;
  if (name in node[DEFINITION].args) return "static";
  for (let j = sources.length - 1; j >= 0; j--) {
    const source = plan[sources[j]!]!.node;
    if (source[DEFINITION].outputs.includes(name) || name in source.aliases) return sources[j];
  }
  return start ? "start" : undefined;
}

/**
 * The upstream map a mapped node streams from, if any: every mapped parameter comes from that
 * one map (so element k needs only its element k: one parameter, or `zip`), and no other
 * parameter does (that would need all of its elements).
 */
export function streamSource(plan: readonly PlanNode[], id: number): number | undefined {
  const { node } = plan[id]!;
  const mapping = node[MAPPING];
  if (mapping === undefined || (mapping.over.length > 1 && mapping.mode !== "zip"))
    return undefined;
  const source = providerOf(plan, id, mapping.over[0]!);
  if (typeof source !== "number" || plan[source]!.node[MAPPING] === undefined) return undefined;
  if (!mapping.over.every((name) => providerOf(plan, id, name) === source)) return undefined;
  const others = node.inputs.filter((name) => !mapping.over.includes(name));
  return others.some((name) => providerOf(plan, id, name) === source) ? undefined : source;
}

/** Where a run of a plan begins, made in one pass over a plan that may have 10,000 nodes. */
export interface StartingState {
  /** Every node waiting. */
  readonly reports: NodeReport[];
  /** Per node: the map it streams from ({@link streamSource}). */
  readonly streams: (number | undefined)[];
  /** Per node: the maps that stream from it. */
  readonly followers: (number[] | undefined)[];
  /** Per node: how many upstream nodes (not counting a stream source) it waits for. */
  readonly waiting: number[];
}

export function startingState(plan: readonly PlanNode[]): StartingState {
  const state: StartingState = { reports: [], streams: [], followers: [], waiting: [] };
  for (let id = 0; id < plan.length; id++) {
    const { node, sources } = plan[id]!;
    state.reports.push(waitingReport(node));
    const from = node[MAPPING] === undefined ? undefined : streamSource(plan, id);
    state.streams.push(from);
    if (from !== undefined) (state.followers[from] ??= []).push(id);
    state.waiting.push(upstreamCount(sources, from));
  }
  return state;
}

/** How many distinct upstream nodes a node waits for (not the map it streams from). */
export function upstreamCount(sources: readonly number[], stream: number | undefined): number {
  if (sources.length === 1) return sources[0] === stream ? 0 : 1;
  if (sources.length === 0) return 0;
  return new Set(sources.filter((s) => s !== stream)).size;
}

/** The maps with a concurrency of their own: their limit, by node id (the queue's groups). */
export function groupLimits(plan: readonly PlanNode[]): Map<number, number> {
  const limits = new Map<number, number>();
  plan.forEach(({ node }, id) => {
    const limit = node[MAPPING]?.concurrency;
    if (limit !== undefined) limits.set(id, limit);
  });
  return limits;
}

/**
 * Task priorities, lowest first: stages in definition order, then map elements by index, and
 * for one index, the maps in definition order. Depth first: once element k of a map is done,
 * element k of the map streaming from it goes before element k + 1 of the first, so a subject
 * moves through the pipeline instead of waiting for every subject's first step.
 */
export function priorityOf(id: number, element: number | undefined): number {
  return (element === undefined ? 0 : element + 1) * 2 ** 24 + id;
}

/**
 * What a node is offered: the run's named arguments (if fed by "start"), then each source's
 * results in definition order (the right-most wins), from their `reports`; not from `streamed`,
 * the source whose results come element by element.
 */
export function offeredTo(
  plan: readonly PlanNode[],
  id: number,
  start: Readonly<Record<string, unknown>>,
  reports: readonly NodeReport[],
  streamed: number | undefined,
): Record<string, unknown> {
  const { start: fedByStart, sources } = plan[id]!;
  const offered: Record<string, unknown> = fedByStart ? { ...start } : {};
  for (let i = 0; i < sources.length; i++) {
    const source = sources[i]!;
    if (source === streamed) continue;
    const report = reports[source]!;
    Object.assign(offered, report.outcome?.results ?? report.results);
  }
  return offered;
}

/**
 * The arguments a node is called with: in a pipeline, the offered names it takes; run alone,
 * everything it is given (so a name it has no parameter for is an error).
 */
export function namedFor(
  node: PipelineNode,
  offered: Record<string, unknown>,
  where: "pipeline" | "stage",
): Record<string, unknown> {
  if (where !== "pipeline") return offered;
  const named: Record<string, unknown> = {};
  const names = node[DEFINITION].signature.names;
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    if (name in offered) named[name] = offered[name];
  }
  return named;
}
