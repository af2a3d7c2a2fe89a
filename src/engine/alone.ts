/**
 * A stage or a map run (or explained) alone: a plan of one node on the one scheduler, with
 * the failures turned into the exceptions `run()`, `runNamed()` and `map()` document.
 */
import type { Decision, Explanation } from "../decision.js";
import type { RunOptions } from "./run-options.js";
import { MapError, errorOf, failureCause } from "./failure.js";
import { DEFINITION, MAPPING, REMEMBER, type Outcome, type PipelineNode } from "./node.js";
import { mapResults, type NodeReport, type ScheduleReport } from "./report.js";
import { schedule } from "./schedule.js";
import type { Invocation } from "./signature.js";

function alone(
  node: PipelineNode,
  mode: "run" | "explain",
  start: Invocation,
  runOptions: RunOptions,
  concurrency: number,
): Promise<ScheduleReport> {
  return schedule([{ node, start: true, sources: [], successors: [] }], {
    mode,
    start,
    runOptions,
    concurrency,
    keepGoing: true,
    readonlyCaches: [],
    onEvent: node[DEFINITION].onEvent,
    signal: undefined,
    where: "stage",
  });
}

/** The decisions of a map's elements that completed, in input order. */
export function elementDecisions(report: NodeReport): Decision[] {
  return (report.elements ?? []).flatMap((e) => (e.outcome ? [e.outcome.decision] : []));
}

/** Run a node alone: its outcome, remembered as its last run; or the documented exception. */
export async function runAlone(
  node: PipelineNode,
  start: Invocation,
  runOptions: RunOptions,
  concurrency: number,
): Promise<Outcome> {
  const report = (await alone(node, "run", start, runOptions, concurrency)).nodes[0]!;
  if (report.status === "done") {
    node[REMEMBER](report.outcome!, elementDecisions(report));
    return report.outcome!;
  }
  const { elements } = report;
  if (node[MAPPING] !== undefined && elements !== undefined) {
    node[REMEMBER](undefined, elementDecisions(report));
    const failures = report.failures.map((f) => {
      const element = elements.find((e) => e.failure === f)!;
      return {
        index: element.index,
        label: element.label!,
        values: element.values!,
        error: failureCause(f),
      };
    });
    throw new MapError(node.name, failures, mapResults(node, elements), elements.length);
  }
  throw errorOf(report.failures[0]!, "stage");
}

/** Explain a node alone. A call that would fail before running throws, as its run would. */
export async function explainAlone(
  node: PipelineNode,
  start: Invocation,
  runOptions: RunOptions,
  concurrency: number,
): Promise<Explanation> {
  const report = (await alone(node, "explain", start, runOptions, concurrency)).nodes[0]!;
  const failure = report.failures[0];
  if (failure !== undefined && report.elements === undefined) throw errorOf(failure, "stage");
  return report.explanation!;
}
