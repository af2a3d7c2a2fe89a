/**
 * A mapped node's elements as the scheduler tracks them: made from lists, or streamed from an
 * upstream map; and how a map's node settles once every element has.
 */
import type { Reason } from "../decision.js";
import { MemoriError } from "../errors.js";
import { elementsOf, labelsOf } from "./elements.js";
import type { Mapping, PipelineNode } from "./node.js";
import {
  mapDecision,
  mapExplanation,
  mapResults,
  waitingExplanation,
  type ElementReport,
  type NodeReport,
  type Status,
} from "./report.js";

/**
 * The elements of a map: from its lists, or, streamed, one per element of `from` (named like
 * them unless the map names its own). Throws for lists that are not lists.
 */
export function expandElements(
  node: PipelineNode,
  mapping: Mapping,
  named: Readonly<Record<string, unknown>>,
  positional: readonly unknown[],
  from: NodeReport | undefined,
): ElementReport[] {
  if (positional.length > 0) {
    throw new MemoriError(
      "invalid-argument",
      `stage "${node.name}": a mapped stage takes its arguments by name: give them with runNamed({ ... }), not run(...).`,
      { stage: node.name },
    );
  }
  if (from !== undefined) {
    return from.elements!.map((source, index) => ({
      index,
      label: mapping.label === undefined ? source.label : undefined,
      values: undefined,
      status: "waiting",
    }));
  }
  const elements = elementsOf(node.name, mapping, named);
  const labels = labelsOf(node.name, mapping, elements);
  return elements.map((values, index) => ({
    index,
    label: labels[index],
    values,
    status: "waiting",
  }));
}

/**
 * Leave out the elements `only` does not name (a run's `only`, by label), as "excluded": how
 * many are left to run. A streamed map's elements follow their source's, so it leaves out none.
 */
export function leaveOut(
  elements: readonly ElementReport[],
  only: ReadonlySet<string> | undefined,
): number {
  let open = elements.length;
  if (only === undefined) return open;
  for (const element of elements) {
    if (element.label !== undefined && only.has(element.label)) continue;
    element.status = "excluded";
    open--;
  }
  return open;
}

/**
 * Give a streamed element its values from its upstream element's results, and its label if it
 * names its own (a label already used gets `#index`). Throws if the label function does.
 */
export function fillStreamed(
  node: PipelineNode,
  mapping: Mapping,
  element: ElementReport,
  source: ElementReport,
  used: Set<string>,
): void {
  const results = source.outcome?.results ?? source.results ?? {};
  element.values = Object.fromEntries(mapping.over.map((name) => [name, results[name]]));
  if (element.label !== undefined) return;
  element.label = source.label;
  const label = labelsOf(node.name, mapping, [element.values])[0]!;
  element.label = used.has(label) ? `${label}#${element.index}` : label;
  used.add(element.label);
}

/**
 * A streamed element whose upstream element ended without results: left out with it, or
 * blocked (a dry run: unknown) by it, with why (a dry run). Whether it is settled so.
 */
export function settleWithoutSource(
  element: ElementReport,
  source: ElementReport,
  mode: "run" | "explain",
  names: { readonly node: string; readonly source: string },
  anyway?: Reason,
): boolean {
  const status = source.status;
  if (
    status !== "excluded" &&
    status !== "failed" &&
    status !== "blocked" &&
    status !== "unknown"
  ) {
    return false;
  }
  element.label ??= source.label;
  element.status =
    status === "excluded" ? "excluded" : status === "unknown" ? "unknown" : "blocked";
  if (mode === "explain" && element.status !== "excluded") {
    const upstream = `${names.source}[${source.label}]`;
    const name = `${names.node}[${element.label}]`;
    element.explanation = waitingExplanation(
      name,
      element.status,
      [upstream],
      element.label,
      anyway,
    );
  }
  return true;
}

/** A map's status from its elements': a failure first, then cancelled, blocked, unknown. */
function mapStatus(elements: readonly ElementReport[]): Status {
  for (const status of ["failed", "cancelled", "blocked", "unknown"] as const) {
    if (elements.some((e) => e.status === status)) return status;
  }
  // Some left out (`only`): done with the others; all of them: left out.
  if (elements.length > 0 && elements.every((e) => e.status === "excluded")) return "excluded";
  return "done";
}

/** Every element of a map settled: the node's status, outcome (a run) or explanation. */
export function settleMap(
  r: NodeReport,
  mode: "run" | "explain",
  named: Record<string, unknown>,
): void {
  const elements = r.elements!;
  const name = r.node.name;
  r.status = mapStatus(elements);
  if (mode === "explain") {
    if (r.status === "done") r.results = mapResults(r.node, elements);
    r.explanation = mapExplanation(
      name,
      elements.map((e) => e.explanation!),
    );
  } else if (r.status === "done") {
    r.outcome = {
      results: mapResults(r.node, elements),
      decision: mapDecision(name, elements),
      inputArgs: { ...named },
    };
  }
}
