/**
 * A pipeline's definition as a graph: parsing and checking `[source, stage]` pairs, the
 * topological order (ties in definition order, no recursion), the cycle error with its path,
 * state-file collisions, wiring (a parameter nothing provides), and the diagram's edges.
 */
import path from "node:path";
import { Graph } from "@dagrejs/graphlib";
import type { DiagramEdge } from "../diagram.js";
import { MemoriError, describe } from "../errors.js";
import { DEFINITION, MAPPING, isNode, type PipelineNode } from "../engine/node.js";
import { MinHeap } from "../engine/heap.js";
import { missingInPipeline } from "../engine/failure.js";
import type { PlanNode } from "../engine/schedule.js";
import { nodeStateKey } from "../state/location.js";

/** The checked graph of a pipeline. */
export interface PipelineGraph {
  /** By id: the order of first appearance in the definition. */
  readonly nodes: readonly PlanNode[];
  /** Topological order, ties in definition order. */
  readonly order: readonly number[];
  /**
   * The graph as graphlib sees it: node ids are indices, labels stage names. Made when first
   * asked for (`pipeline.graph`): a run never needs it, and for 10,000 stages it holds 11 MB.
   */
  readonly graph: Graph;
  /**
   * Before a run with named arguments (`runNamed`) of every stage (no `only`), the nodes fed by
   * `"start"`: a required parameter that neither those arguments nor a source nor a static
   * argument provide fails the run before anything runs, not when the node's turn comes.
   */
  checkStart(named: readonly string[]): void;
}

/** A graphlib graph of the nodes (in id order) and the edges (in definition order). */
function graphlibOf(plan: readonly PlanNode[], edges: readonly number[]): Graph {
  const graph = new Graph({ directed: true });
  plan.forEach(({ node }, id) => graph.setNode(String(id), node.name));
  for (let i = 0; i < edges.length; i += 2) graph.setEdge(String(edges[i]), String(edges[i + 1]));
  return graph;
}

/** Parse and check a definition; throws `invalid-pipeline`, `cycle`, `state-collision` or `missing-argument`. */
export function buildGraph(definition: unknown): PipelineGraph {
  if (!Array.isArray(definition) || definition.length === 0) {
    throw new MemoriError(
      "invalid-pipeline",
      `a pipeline definition is a non-empty array of [source, stage] pairs, got ${describe(definition)}.`,
    );
  }
  const ids = new Map<PipelineNode, number>();
  const nodes: { node: PipelineNode; start: boolean; sources: number[] }[] = [];
  /** The edges as the definition gives them: from, to, from, to, ... */
  const edges: number[] = [];
  const idOf = (node: PipelineNode): number => {
    let id = ids.get(node);
    if (id === undefined) {
      id = nodes.length;
      ids.set(node, id);
      nodes.push({ node, start: false, sources: [] });
    }
    return id;
  };
  definition.forEach((entry: unknown, i) => {
    const where = `pipeline definition entry ${i} ([source, stage])`;
    if (!Array.isArray(entry) || entry.length !== 2) {
      throw new MemoriError(
        "invalid-pipeline",
        `${where}: expected a pair, got ${describe(entry)}.`,
      );
    }
    const [source, target] = entry as [unknown, unknown];
    if (!isNode(target)) {
      throw new MemoriError(
        "invalid-pipeline",
        `${where}: the second item must be a Stage, got ${describe(target)}.`,
      );
    }
    const sources: unknown[] =
      source === "start" ? [] : Array.isArray(source) ? (source as unknown[]) : [source];
    if (Array.isArray(source) && source.length === 0) {
      throw new MemoriError("invalid-pipeline", `${where}: the list of source stages is empty.`);
    }
    sources.forEach((s, j) => {
      if (!isNode(s)) {
        const at = Array.isArray(source) ? `source ${j}` : "the source";
        throw new MemoriError(
          "invalid-pipeline",
          `${where}: ${at} must be a Stage or "start", got ${describe(s)}.`,
        );
      }
    });
    const to = idOf(target);
    if (source === "start") nodes[to]!.start = true;
    for (const s of sources as PipelineNode[]) {
      const from = idOf(s);
      nodes[to]!.sources.push(from);
      edges.push(from, to);
    }
  });
  const successors: number[][] = nodes.map(() => []);
  nodes.forEach((node, id) => {
    for (const source of new Set(node.sources)) successors[source]!.push(id);
  });
  const plan: PlanNode[] = nodes.map((n, id) => ({ ...n, successors: successors[id]! }));
  const order = topologicalOrder(plan);
  if (order.length < plan.length) throw cycleError(plan, order);
  checkCollisions(plan);
  checkWiring(plan);
  let graph: Graph | undefined;
  return {
    nodes: plan,
    order,
    checkStart: (named) => checkWiring(plan, named),
    get graph() {
      return (graph ??= graphlibOf(plan, edges));
    },
  };
}

/** Kahn's algorithm, iterative: nodes it cannot order lie on or behind a cycle. */
function topologicalOrder(nodes: readonly PlanNode[]): number[] {
  const indegree = nodes.map((node) => new Set(node.sources).size);
  const ready = new MinHeap<number>((id) => id);
  indegree.forEach((d, id) => d === 0 && ready.push(id));
  const order: number[] = [];
  for (let id = ready.pop(); id !== undefined; id = ready.pop()) {
    order.push(id);
    for (const next of nodes[id]!.successors) {
      indegree[next]! -= 1;
      if (indegree[next] === 0) ready.push(next);
    }
  }
  return order;
}

function cycleError(nodes: readonly PlanNode[], order: readonly number[]): MemoriError {
  // Every node left out of the order has a predecessor that was left out too: walking
  // predecessors from one of them must repeat a node, and the walk between the repeats is a cycle.
  const ordered = new Set(order);
  const left = (id: number) => !ordered.has(id);
  let current = nodes.findIndex((_, id) => left(id));
  const seenAt = new Map<number, number>();
  const walk: number[] = [];
  while (!seenAt.has(current)) {
    seenAt.set(current, walk.length);
    walk.push(current);
    current = nodes[current]!.sources.find(left)!;
  }
  const cycle = walk.slice(seenAt.get(current)).reverse();
  const first = cycle.indexOf(Math.min(...cycle)); // start at the earliest-defined stage
  const loop = [...cycle.slice(first), ...cycle.slice(0, first)];
  const names = [...loop, loop[0]!].map((id) => `"${nodes[id]!.node.name}"`);
  return new MemoriError(
    "cycle",
    `the pipeline has a cycle: ${names.join(" feeds ")}. A pipeline must be acyclic; remove one of these links.`,
  );
}

/** Two nodes that would write the same state files are an error. */
export function checkCollisions(nodes: readonly PlanNode[]): void {
  const owners = new Map<string, PipelineNode>();
  const resolved = new Map<string, string>(); // most stages share a few directories
  for (const { node } of nodes) {
    const dir = node.hashOutput;
    if (dir === undefined) continue;
    let root = resolved.get(dir);
    if (root === undefined) resolved.set(dir, (root = path.resolve(dir)));
    const key = nodeStateKey(root, node.name, node[MAPPING] !== undefined);
    const owner = owners.get(key);
    if (owner !== undefined && owner !== node) {
      throw new MemoriError(
        "state-collision",
        `two stages named "${node.name}" would write the same state files in ${root}; give one of them another \`name\` or \`hashOutput\`.`,
        { stage: node.name },
      );
    }
    owners.set(key, node);
  }
}

/** The names a node's sources offer it: outputs and aliases, in definition order. */
function offeredBy(nodes: readonly PlanNode[], id: number): string[] {
  const offered = new Set<string>();
  for (const source of nodes[id]!.sources) {
    const { node } = nodes[source]!;
    for (const name of [...node.outputs, ...Object.keys(node.aliases)]) offered.add(name);
  }
  return [...offered];
}

/**
 * A required parameter (no default, or mapped over) of a node not fed by `"start"` that no
 * source's output or alias and no static argument provides is a mistake knowable now, not after
 * hours of upstream work. A node fed by `"start"` is checked when the run's named arguments
 * are known (`startNames`: then only those nodes), before anything runs.
 */
function checkWiring(nodes: readonly PlanNode[], startNames?: readonly string[]): void {
  nodes.forEach(({ node, start }, id) => {
    if (start !== (startNames !== undefined)) return;
    const def = node[DEFINITION];
    const offered = offeredBy(nodes, id);
    const provided = new Set([...offered, ...Object.keys(def.args), ...(startNames ?? [])]);
    // A map's mapped parameters need lists from somewhere, defaults or not.
    const required = new Set([...def.signature.required, ...(node[MAPPING]?.over ?? [])]);
    const missing = [...required].filter((name) => !provided.has(name));
    if (missing.length === 0) return;
    const given = node.inputs.filter((name) => provided.has(name));
    const error = missingInPipeline(def.signature.missing(missing, given), offered);
    if (startNames === undefined) throw error;
    const named = startNames.length ? startNames.map((n) => `"${n}"`).join(", ") : "nothing";
    throw new MemoriError(
      error.reason,
      `${error.message} The pipeline was given ${named}. Nothing ran.`,
      { stage: error.stage, cause: error.cause },
    );
  });
}

/** The diagram's edges, labelled with the names passed along (and what `"start"` gives). */
export function diagramEdges(nodes: readonly PlanNode[]): DiagramEdge[] {
  // Made once per run for its record, over every node of a graph that may have 10,000, mostly
  // by code V8 has not compiled yet: indexed loops over the definitions' own arrays (the
  // signature's names, not a copy; no iterator), no sets, and no array but the edges.
  const edges: DiagramEdge[] = [];
  for (let id = 0; id < nodes.length; id++) {
    const { node, start, sources } = nodes[id]!;
    const inputs = node[DEFINITION].signature.names;
    const to = `s${id}`;
    for (let i = 0; i < sources.length; i++) {
      const source = sources[i]!;
      if (i > 0 && sources.indexOf(source) !== i) continue; // one edge per source
      const { outputs, aliases } = nodes[source]!.node[DEFINITION];
      let label = "";
      for (let k = 0; k < outputs.length; k++) {
        const name = outputs[k]!;
        if (inputs.includes(name)) label = label === "" ? name : `${label}, ${name}`;
      }
      for (const name in aliases) {
        if (inputs.includes(name)) label = label === "" ? name : `${label}, ${name}`;
      }
      edges.push({ from: `s${source}`, to, label });
    }
    if (start) {
      const fed = (name: string) =>
        sources.some((source) => {
          const upstream = nodes[source]!.node;
          return (
            upstream[DEFINITION].outputs.includes(name) || Object.hasOwn(upstream.aliases, name)
          );
        });
      edges.push({ from: "start", to, label: inputs.filter((name) => !fed(name)).join(", ") });
    }
  }
  return edges;
}
