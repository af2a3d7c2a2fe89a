/**
 * What a scheduled run (or dry run) gives back, node by node and element by element, and how
 * a map's elements add up to its node: results as one array per output, one decision, one
 * explanation.
 */
import type { Decision, Explanation, Reason } from "../decision.js";
import type { MemoriError } from "../errors.js";
import type { CallResult } from "./call.js";
import type { ExplainResult } from "./explain.js";
import { errorOf, type CallFailure } from "./failure.js";
import { DEFINITION, MAPPING, type Outcome, type PipelineNode } from "./node.js";
import { nodeHasState } from "../state/location.js";
import { forcedToRun, type RunOptions } from "./run-options.js";

/** Where a call or a node ended up. */
export type Status =
  /** Waiting for its inputs (at the end of a run: it was never started). */
  | "waiting"
  | "running"
  /** Ran or was cached (a dry run: its results are known). */
  | "done"
  | "failed"
  /** Not run: something it needs failed (a dry run: would fail). */
  | "blocked"
  /** A dry run only: it, or something it needs, would run, so its results are not known. */
  | "unknown"
  /** Interrupted while running, or dropped from the queue by an interrupt. */
  | "cancelled"
  /**
   * Left out of the run (`only`): a map element whose label is not asked for, or a node that
   * needs a map's elements that were left out (it would see only some of them).
   */
  | "excluded";

/** One element of a map. */
export interface ElementReport {
  readonly index: number;
  /** Known once the element's values are (a streamed element: when its upstream element is done). */
  label: string | undefined;
  values: Record<string, unknown> | undefined;
  status: Status;
  outcome?: Outcome;
  /** A run: when the call that gave its outcome began and ended, `Date.now()`. */
  start?: number;
  end?: number;
  failure?: CallFailure;
  explanation?: Explanation;
  /** A dry run: the results, when known. */
  results?: Record<string, unknown>;
}

/** One node of the plan. */
export interface NodeReport {
  readonly node: PipelineNode;
  status: Status;
  /** A run: the node's outcome (a map: one array per output); a dry run: `results` only. */
  outcome?: Outcome;
  /** A run of a node that is not a map: when the call that gave its outcome began and ended. */
  start?: number;
  end?: number;
  results?: Record<string, unknown>;
  explanation?: Explanation;
  /** The node's own failed calls (a map: its elements'), in order. */
  failures: CallFailure[];
  /** For a map, once its elements are known. */
  elements?: ElementReport[];
  /** What the run's arguments and the stages feeding it offered (named in a missing argument's message). */
  offered: Readonly<Record<string, unknown>>;
  /** Upstream nodes that failed (or were blocked), and that would run (a dry run). */
  failedUpstream: string[];
  unknownUpstream: string[];
  /** Upstream nodes with elements left out (`only`). */
  excludedUpstream: string[];
}

/** A node's report before anything happened to it. */
export function waitingReport(node: PipelineNode): NodeReport {
  return {
    node,
    status: "waiting",
    failures: [],
    offered: {},
    failedUpstream: [],
    unknownUpstream: [],
    excludedUpstream: [],
  };
}

/** Calls counted by what they did. */
export interface Counts {
  ran: number;
  cached: number;
  failed: number;
  blocked: number;
  cancelled: number;
  /** Left out (`only`). */
  excluded: number;
}

export interface ScheduleReport {
  readonly nodes: NodeReport[];
  readonly counts: Counts;
  /** The abort reason, when the run was interrupted. */
  readonly interrupted: unknown;
  readonly ms: number;
}

/** The result names of a node: outputs, then aliases. */
function resultNames(node: PipelineNode): string[] {
  return [...node.outputs, ...Object.keys(node.aliases)];
}

/**
 * A map's results: one array per output and alias, `undefined` where an element has none;
 * elements left out (`only`) are not in them.
 */
export function mapResults(
  node: PipelineNode,
  all: readonly ElementReport[],
): Record<string, unknown[]> {
  const names = resultNames(node);
  const results: Record<string, unknown[]> = Object.fromEntries(names.map((n) => [n, []]));
  const elements = all.some((e) => e.status === "excluded")
    ? all.filter((e) => e.status !== "excluded")
    : all;
  elements.forEach((e, i) => {
    const values = e.outcome?.results ?? e.results;
    for (const n of names) results[n]![i] = values?.[n];
  });
  return results;
}

/** A map's decision: it ran if any element ran (the first one's reason), else it was cached. */
export function mapDecision(name: string, elements: readonly ElementReport[]): Decision {
  const ran = elements.find((e) => e.outcome?.decision.action === "run");
  return ran?.outcome !== undefined
    ? { stage: name, action: "run", reason: ran.outcome.decision.reason }
    : { stage: name, action: "skip", reason: { kind: "cached" } };
}

/** Which action of a map's elements tells most about the map, most telling first. */
export const PRECEDENCE: readonly Explanation["action"][] = [
  "fail",
  "run",
  "run-if-upstream-changes",
  "blocked",
  "skip",
];

/**
 * A map's explanation: what its most telling element would do (fail, then run, then wait on
 * upstream, then blocked; the first such element in order), with every element's.
 */
export function mapExplanation(name: string, elements: readonly Explanation[]): Explanation {
  for (const action of PRECEDENCE) {
    const first = elements.find((e) => e.action === action);
    if (first !== undefined && action !== "skip") {
      return { stage: name, action, reason: first.reason, elements: [...elements] };
    }
  }
  return { stage: name, action: "skip", reason: { kind: "cached" }, elements: [...elements] };
}

/**
 * Tell `downstream` how its upstream node `r` (named `name`) ended: failed or blocked, unknown
 * (a dry run), or with elements left out. Whether it ended at all (not cancelled or waiting).
 */
export function noteUpstream(downstream: NodeReport, r: NodeReport, name: string): boolean {
  const { status } = r;
  if (status === "cancelled" || status === "waiting" || status === "running") return false;
  // A map with elements left out, or a node left out: what needs it would see only part.
  if (status === "excluded" || r.elements?.some((e) => e.status === "excluded")) {
    downstream.excludedUpstream.push(name);
  }
  if (status === "failed" || status === "blocked") downstream.failedUpstream.push(name);
  if (status === "unknown") downstream.unknownUpstream.push(name);
  return true;
}

/**
 * Whether a node whose upstream nodes all settled can start (`ready`), or how it settles
 * without starting: an upstream failed or was blocked, is unknown (a dry run), or was left
 * out. A node that streams from a map (`source`, named `sourceName`) waits until that map has
 * its elements, and settles as it does when it has none.
 */
export function readiness(
  r: NodeReport,
  source?: NodeReport,
  sourceName?: string,
): "ready" | "wait" | "blocked" | "unknown" | "excluded" {
  if (r.failedUpstream.length > 0) return "blocked";
  if (r.unknownUpstream.length > 0) return "unknown";
  if (r.excludedUpstream.length > 0) return "excluded";
  if (source === undefined || source.elements !== undefined) return "ready";
  switch (source.status) {
    case "failed":
    case "blocked":
      r.failedUpstream.push(sourceName!);
      return "blocked";
    case "unknown":
      r.unknownUpstream.push(sourceName!);
      return "unknown";
    case "excluded":
      return "excluded";
    default:
      return "wait";
  }
}

/** Count the calls of a run by what they did; with an interrupt, what did not end is cancelled. */
export function countCalls(nodes: readonly NodeReport[], interrupted: boolean): Counts {
  const counts: Counts = { ran: 0, cached: 0, failed: 0, blocked: 0, cancelled: 0, excluded: 0 };
  const add = (status: Status, action: string | undefined) => {
    if (status === "done") counts[action === "skip" ? "cached" : "ran"]++;
    else if (status === "failed") counts.failed++;
    else if (status === "blocked") counts.blocked++;
    else if (status === "excluded") counts.excluded++;
    else if (interrupted) counts.cancelled++;
  };
  nodes.forEach((r) => {
    if (r.elements === undefined) add(r.status, r.outcome?.decision.action);
    else for (const e of r.elements) add(e.status, e.outcome?.decision.action);
  });
  return counts;
}

/** Put a node's failures in input order (elements settle in any order). */
export function sortFailures(r: NodeReport): void {
  const elements = r.elements;
  if (elements === undefined) return;
  const position = (f: CallFailure) => elements.findIndex((e) => e.failure === f);
  r.failures.sort((a, b) => position(a) - position(b));
}

/** The reason a dry run gives for a call that would fail before running. */
export function invalidCall(error: MemoriError): Reason {
  return { kind: "invalid-call", error: error.reason, message: error.message };
}

/**
 * Why a node runs whatever its upstream gives it, if it does, in the lookup's order: it is not
 * memoized, it is forced (`forceRun`, `MEMORI_REFRESH`), or it has no state at all (and no
 * read-only cache to take one from). Not said with `forceSkip` (it loads what is stored, or
 * fails), nor for a run of some elements (`only`: what follows a map may be left out).
 */
export function runsAnyway(
  node: PipelineNode,
  options: {
    readonly readonlyCaches: readonly string[];
    readonly runOptions: RunOptions;
    readonly only?: ReadonlySet<string> | undefined;
  },
  refresh: boolean,
): Reason | undefined {
  const { hashOutput } = node;
  if (options.only !== undefined) return undefined;
  if (hashOutput === undefined) return { kind: "not-memoized" };
  if (forcedToRun(options.runOptions, refresh)) return { kind: "forced" };
  if (options.runOptions.forceSkip) return undefined;
  if (options.readonlyCaches.length > 0 || node[DEFINITION].readonlyCaches.length > 0) {
    return undefined;
  }
  return nodeHasState(hashOutput, node.name, node[MAPPING] !== undefined)
    ? undefined
    : { kind: "first-run" };
}

/**
 * A dry run's word for what cannot be explained: blocked by a failure, or waiting on a change;
 * or, waiting on a change but running `anyway` (a stage that has no state, or is not
 * memoized, runs whatever its inputs turn out to be), that.
 */
export function waitingExplanation(
  stage: string,
  status: "blocked" | "unknown",
  upstream: readonly string[],
  element?: string,
  anyway?: Reason,
): Explanation {
  const explanation: Explanation =
    status === "unknown" && anyway !== undefined
      ? { stage, action: "run", reason: anyway }
      : status === "blocked"
        ? {
            stage,
            action: "blocked",
            reason: { kind: "upstream-failed", upstream: [...new Set(upstream)] },
          }
        : {
            stage,
            action: "run-if-upstream-changes",
            reason: { kind: "upstream-would-run", upstream: [...new Set(upstream)] },
          };
  if (element !== undefined) explanation.element = element;
  return explanation;
}

/** A dry run's word for a call that would fail before running. */
export function failedExplanation(stage: string, f: CallFailure): Explanation {
  const explanation: Explanation = {
    stage: f.element === undefined ? stage : `${stage}[${f.element}]`,
    action: "fail",
    reason: invalidCall(errorOf(f, "stage")),
  };
  if (f.element !== undefined) explanation.element = f.element;
  return explanation;
}

/**
 * Record how a call ended in its node's (or element's) report: its outcome (a run), its
 * explanation and results (a dry run), or its failure, which is returned.
 */
export function recordCall(
  r: NodeReport,
  element: ElementReport | undefined,
  result: CallResult | ExplainResult,
): CallFailure | undefined {
  const target = element ?? r;
  if (result.ok && "outcome" in result) {
    target.outcome = result.outcome;
    target.start = result.start;
    target.end = result.end;
    target.status = "done";
    return undefined;
  }
  if (result.ok) {
    target.explanation = result.explanation;
    target.results = result.results;
    target.status = result.results === undefined ? "unknown" : "done";
    return undefined;
  }
  const f = result.failure;
  r.failures.push(f);
  if (element !== undefined) element.failure = f;
  target.status = f.failure.kind === "cancelled" ? "cancelled" : "failed";
  target.explanation = failedExplanation(r.node.name, f);
  return f;
}
