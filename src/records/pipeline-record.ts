/**
 * A pipeline run's record: where it goes (the state directory most of its stages use), the
 * listener that hears the run, and the record made from the scheduler's report once it ended.
 * `Pipeline.run()` calls {@link startRecording} and {@link finishRecording}; nothing else of
 * the run depends on them.
 */
import path from "node:path";
import { messageOf } from "../errors.js";
import { alsoTell, type EventListener } from "../events.js";
import { errorOf } from "../engine/failure.js";
import { MAPPING } from "../engine/node.js";
import type { NodeReport, ScheduleReport, Status } from "../engine/report.js";
import type { PlanNode } from "../engine/schedule.js";
import { diagramEdges } from "../pipeline/graph.js";
import { RunRecorder, type CallStatus } from "./recorder.js";
import { keepRunsOf, saveRunRecord } from "./run-history.js";
import type { GraphEdge, GraphNode, RunCommand, TaskDecision } from "./run-record.js";

/** Where `memori run` says what started a run (shared by every copy of memori in the process). */
const RUN_COMMAND: unique symbol = Symbol.for("memori.runCommand") as never;

/**
 * Say what starts the runs that follow (`memori run`: the module and its parameters), for
 * their records; `undefined` again after.
 */
export function setRunCommand(command: Omit<RunCommand, "argv"> | undefined): void {
  (globalThis as Record<symbol, unknown>)[RUN_COMMAND] = command;
}

function runCommand(): RunCommand {
  const set = (globalThis as Record<symbol, unknown>)[RUN_COMMAND] as
    Omit<RunCommand, "argv"> | undefined;
  return { via: "api", ...set, argv: [...process.argv] };
}

/** A run being recorded. */
export interface Recording {
  readonly recorder: RunRecorder;
  /** The state directory the record goes to. */
  readonly dir: string;
  readonly keep: number;
  /** The run's listener: the recorder, then the pipeline's own. */
  readonly listener: EventListener;
}

/**
 * The state directory most of the nodes use (the first such in definition order on a tie),
 * absolute; `undefined` when no node is memoized.
 */
export function recordDir(nodes: readonly PlanNode[]): string | undefined {
  const uses = new Map<string, number>();
  for (const { node } of nodes) {
    if (node.hashOutput === undefined) continue;
    uses.set(node.hashOutput, (uses.get(node.hashOutput) ?? 0) + 1);
  }
  let best: string | undefined;
  for (const [dir, n] of uses) if (best === undefined || n > uses.get(best)!) best = dir;
  return best === undefined ? undefined : path.resolve(best);
}

/** Start recording a run (nothing when no node is memoized or `keepRuns` is 0). */
export function startRecording(
  nodes: readonly PlanNode[],
  keepRuns: number | undefined,
  onEvent: EventListener | undefined,
): Recording | undefined {
  const keep = keepRunsOf(keepRuns);
  if (keep === 0) return undefined;
  let dir: string | undefined;
  try {
    dir = recordDir(nodes);
  } catch {
    return undefined; // no working directory
  }
  if (dir === undefined) return undefined;
  const recorder = new RunRecorder();
  return { recorder, dir, keep, listener: alsoTell(recorder.listener, onEvent) };
}

function decisionOf(status: Status, action: "run" | "skip" | undefined): TaskDecision {
  switch (status) {
    case "done":
      return action === "skip" ? "cached" : "ran";
    case "failed":
    case "blocked":
    case "excluded":
    case "cancelled":
      return status;
    default:
      // Never started (the run stopped at a failure, or was interrupted), or still running.
      return "cancelled";
  }
}

function nodeState(r: NodeReport): GraphNode["state"] {
  if (r.status === "done") {
    if (r.elements !== undefined) {
      return r.elements.some((e) => e.outcome?.decision.action === "run") ? "ran" : "cached";
    }
    return r.outcome?.decision.action === "skip" ? "cached" : "ran";
  }
  return decisionOf(r.status, undefined);
}

/** Every call of the run, node by node, as the scheduler saw it end. */
function callsOf(report: ScheduleReport): CallStatus[] {
  const calls: CallStatus[] = [];
  const failed = (r: NodeReport, f: NodeReport["failures"][number] | undefined) =>
    f === undefined ? undefined : errorOf(f, "pipeline", Object.keys(r.offered));
  for (let node = 0; node < report.nodes.length; node++) {
    const r = report.nodes[node]!;
    if (r.elements === undefined) {
      calls.push({
        node,
        decision: decisionOf(r.status, r.outcome?.decision.action),
        reason: r.outcome?.decision.reason,
        error: r.status === "failed" ? failed(r, r.failures[0]) : undefined,
        start: r.start,
        end: r.end,
      });
      continue;
    }
    for (const e of r.elements) {
      calls.push({
        node,
        element: e.label,
        decision: decisionOf(e.status, e.outcome?.decision.action),
        reason: e.outcome?.decision.reason,
        error: e.status === "failed" ? failed(r, e.failure) : undefined,
        start: e.start,
        end: e.end,
      });
    }
  }
  return calls;
}

/** The DAG's edges, by graph: they do not change from run to run. */
const edges = new WeakMap<readonly PlanNode[], GraphEdge[]>();

function edgesOf(nodes: readonly PlanNode[]): GraphEdge[] {
  let found = edges.get(nodes);
  if (found === undefined) edges.set(nodes, (found = diagramEdges(nodes)));
  return found;
}

/** Make the run's record and write it (a failure to is a warning, said once). */
export function finishRecording(
  recording: Recording,
  nodes: readonly PlanNode[],
  report: ScheduleReport,
): void {
  saveRunRecord(
    recording.dir,
    () => {
      const interrupted = report.interrupted !== undefined;
      const error = interrupted ? `interrupted (${messageOf(report.interrupted)})` : undefined;
      return recording.recorder.record({
        command: runCommand(),
        nodes: nodes.map(({ node }, id) => {
          const graphNode: GraphNode = {
            id: `s${id}`,
            name: node.name,
            mapped: node[MAPPING] !== undefined,
            state: nodeState(report.nodes[id]!),
          };
          if (node.hashOutput !== undefined) graphNode.hashOutput = node.hashOutput;
          return graphNode;
        }),
        edges: edgesOf(nodes),
        calls: callsOf(report),
        interrupted,
        error,
      });
    },
    recording.keep,
  );
}
