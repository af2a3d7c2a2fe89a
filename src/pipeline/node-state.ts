/**
 * A pipeline node's state as its diagrams show it (`toMermaid`, `toDot`): after a run, from the
 * scheduler's report of it; after a dry run, from its explanation.
 */
import type { Explanation } from "../decision.js";
import type { NodeState } from "../diagram.js";
import type { NodeReport } from "../engine/report.js";

/** The state a run left a node in. */
export function runState(r: NodeReport): NodeState {
  switch (r.status) {
    case "done":
      return r.outcome?.decision.action === "skip" ? "cached" : "ran";
    case "failed":
      return "failed";
    case "blocked":
      return "blocked";
    case "excluded":
      return "excluded";
    default:
      return "unknown";
  }
}

/** The state a dry run predicts for a node. */
export function explainState(e: Explanation): NodeState {
  switch (e.action) {
    case "skip":
      return "cached";
    case "run":
      return "would-run";
    case "run-if-upstream-changes":
      return "run-if-upstream-changes";
    case "fail":
      return "failed";
    case "blocked":
      return "blocked";
  }
}
