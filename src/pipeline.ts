import { stat } from "node:fs/promises";
import { availableParallelism } from "node:os";
import path from "node:path";
import { Graph } from "@dagrejs/graphlib";
import type { Decision, Explanation } from "./decision.js";
import { toDot, toMermaid, type DiagramEdge, type DiagramNode, type NodeState } from "./diagram.js";
import { emit, type EventListener } from "./events.js";
import { HashScope } from "./hashing/files.js";
import { MemoriError, describe, messageOf } from "./errors.js";
import { MappedStage } from "./map.js";
import { Stage, type Invocation, type InvokeContext, type Outcome } from "./stage.js";
import type { RunOptions } from "./options.js";

type GraphT = Graph;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyStage = Stage<any, any, any> | MappedStage;

/** Where a stage's inputs come from: the pipeline's arguments, one stage, or several. */
export type PipelineSource = "start" | AnyStage | readonly AnyStage[];

/** A pipeline definition: `[source, stage]` pairs. */
export type PipelineDefinition = ReadonlyArray<readonly [PipelineSource, AnyStage]>;

interface Node {
  stage: AnyStage;
  /** Index of first appearance in the definition: ties in the order are broken by it. */
  index: number;
  /** Whether the stage receives the pipeline's arguments. */
  start: boolean;
  /** Upstream stages, in definition order (right-most wins on a name clash). */
  sources: number[];
}

function isStage(value: unknown): value is AnyStage {
  return value instanceof Stage || value instanceof MappedStage;
}

/** A binary min-heap of numbers, for a topological order with ties in definition order. */
class MinHeap {
  readonly #items: number[] = [];
  get size(): number {
    return this.#items.length;
  }
  push(value: number): void {
    const items = this.#items;
    items.push(value);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (items[parent]! <= value) break;
      items[i] = items[parent]!;
      i = parent;
    }
    items[i] = value;
  }
  pop(): number {
    const items = this.#items;
    const top = items[0]!;
    const last = items.pop()!;
    if (items.length > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= items.length) break;
        const right = left + 1;
        const child = right < items.length && items[right]! < items[left]! ? right : left;
        if (items[child]! >= last) break;
        items[i] = items[child]!;
        i = child;
      }
      items[i] = last;
    }
    return top;
  }
}

/**
 * Stages chained into a directed acyclic graph. Each stage's parameters are filled by name
 * from the results (aliases included) of the stages that feed it; stages fed by `"start"`
 * receive the pipeline's arguments.
 *
 * @example
 * ```ts
 * const pipeline = new Pipeline([
 *   ["start", skullStrip],
 *   [skullStrip, segment],
 *   [skullStrip, register],
 *   [[segment, register], report],
 * ]);
 * const results = await pipeline.run("sub-01_T1w.nii.gz");
 * ```
 */
export class Pipeline {
  readonly #nodes: Node[] = [];
  readonly #order: number[];
  readonly #successors: number[][];
  readonly #graph: GraphT;
  readonly #options: CheckedOptions;
  /** What each stage last did (a run) or would do (a dry run), for the diagrams. */
  #states = new Map<number, NodeState>();
  #results: Record<string, unknown> | undefined;
  #decisions: Decision[] = [];

  constructor(definition: PipelineDefinition, options: PipelineOptions = {}) {
    this.#options = checkPipelineOptions(options);
    if (!Array.isArray(definition) || definition.length === 0) {
      throw new MemoriError(
        "invalid-pipeline",
        `a pipeline definition is a non-empty array of [source, stage] pairs, got ${describe(definition)}.`,
      );
    }
    const ids = new Map<AnyStage, number>();
    const graph: GraphT = new Graph({ directed: true });
    const nodeOf = (stage: AnyStage): Node => {
      let id = ids.get(stage);
      if (id === undefined) {
        id = this.#nodes.length;
        ids.set(stage, id);
        this.#nodes.push({ stage, index: id, start: false, sources: [] });
        graph.setNode(String(id), stage.name);
      }
      return this.#nodes[id]!;
    };
    definition.forEach((entry, i) => {
      const where = `pipeline definition entry ${i} ([source, stage])`;
      if (!Array.isArray(entry) || entry.length !== 2) {
        throw new MemoriError(
          "invalid-pipeline",
          `${where}: expected a pair, got ${describe(entry)}.`,
        );
      }
      const [source, target] = entry as [unknown, unknown];
      if (!isStage(target)) {
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
        if (!isStage(s)) {
          const at = Array.isArray(source) ? `source ${j}` : "the source";
          throw new MemoriError(
            "invalid-pipeline",
            `${where}: ${at} must be a Stage or "start", got ${describe(s)}.`,
          );
        }
      });
      const node = nodeOf(target);
      if (source === "start") node.start = true;
      for (const s of sources as AnyStage[]) {
        const from = nodeOf(s);
        node.sources.push(from.index);
        graph.setEdge(String(from.index), String(node.index));
      }
    });
    this.#graph = graph;
    // Kahn's algorithm, iterative (graphlib's recursive topsort overflows the stack on long
    // chains): nodes it cannot order lie on or behind a cycle.
    this.#successors = this.#nodes.map(() => []);
    for (const node of this.#nodes) {
      for (const source of new Set(node.sources)) this.#successors[source]!.push(node.index);
    }
    this.#order = this.#topologicalOrder();
    if (this.#order.length < this.#nodes.length) throw this.#cycleError();
    this.#checkCollisions();
  }

  /** The stages, in the order they run. */
  get stages(): AnyStage[] {
    return this.#order.map((id) => this.#nodes[id]!.stage);
  }

  /** The graph (graphlib): node ids are stage indices, labels stage names. */
  get graph(): GraphT {
    return this.#graph;
  }

  /** Merged results of the last run; strings that name existing files are made absolute. */
  get results(): Record<string, unknown> | undefined {
    return this.#results;
  }

  /** What each stage decided in the last run, in run order. */
  get decisions(): Decision[] {
    return [...this.#decisions];
  }

  /** Run with positional arguments for the stages fed by `"start"`. */
  async run(...args: unknown[]): Promise<Record<string, unknown>> {
    return this.#run({ positional: args, named: {} }, {});
  }

  /** Run with named arguments for the stages fed by `"start"`. */
  async runNamed(
    args: Record<string, unknown>,
    options: RunOptions = {},
  ): Promise<Record<string, unknown>> {
    if (typeof args !== "object" || args === null || Array.isArray(args)) {
      throw new MemoriError(
        "invalid-argument",
        `pipeline.runNamed() takes an object of arguments, got ${describe(args)}.`,
      );
    }
    return this.#run({ positional: [], named: args }, options);
  }

  /**
   * Run every stage whose inputs are ready, up to `concurrency` at a time (ties started in
   * definition order). Results are merged in topological order, so they never depend on
   * which stage finished first.
   */
  async #run(start: Invocation, options: RunOptions): Promise<Record<string, unknown>> {
    this.#checkCollisions();
    const { concurrency, keepGoing } = this.#options;
    const nodes = this.#nodes;
    const outcomes = new Map<number, Outcome>();
    const failures = new Map<number, MemoriError>();
    const blocked = new Set<number>(); // downstream of a failure
    // One hash scope for the whole run: a file shared by many stages is read at most once.
    const { onEvent } = this.#options;
    const context: InvokeContext = {
      scope: new HashScope(
        onEvent &&
          ((file, bytes, total) =>
            emit(onEvent, { type: "hash:progress", file, bytes, total, time: Date.now() })),
      ),
      readonlyCaches: this.#options.readonlyCaches,
      ...(onEvent ? { onEvent } : {}),
    };
    const runStarted = Date.now();
    this.#states = new Map();
    emit(onEvent, { type: "pipeline:start", stages: nodes.length, time: runStarted });
    const waitingOn = nodes.map((node) => new Set(node.sources).size);
    const ready = new MinHeap();
    waitingOn.forEach((count, id) => count === 0 && ready.push(id));
    let running = 0;
    let stopping = false;

    await new Promise<void>((resolve) => {
      const settle = (id: number) => {
        for (const next of this.#successors[id]!) {
          if (failures.has(id) || blocked.has(id)) blocked.add(next);
          waitingOn[next]! -= 1;
          if (waitingOn[next] === 0) {
            if (blocked.has(next)) settle(next);
            else ready.push(next);
          }
        }
      };
      const pump = () => {
        while (!stopping && running < concurrency && ready.size > 0) {
          const id = ready.pop();
          const name = nodes[id]!.stage.name;
          const began = Date.now();
          running++;
          emit(onEvent, { type: "stage:start", stage: name, time: began });
          this.#runNode(nodes[id]!, start, outcomes, options, context)
            .then(
              (outcome) => {
                outcomes.set(id, outcome);
                nodes[id]!.stage.remember(outcome);
                const cached = outcome.decision.action === "skip";
                this.#states.set(id, cached ? "cached" : "ran");
                const now = Date.now();
                const { reason } = outcome.decision;
                emit(onEvent, {
                  type: cached ? "stage:cached" : "stage:done",
                  stage: name,
                  reason,
                  ms: now - began,
                  time: now,
                });
              },
              (error: unknown) => {
                failures.set(id, error as MemoriError);
                this.#states.set(id, "failed");
                if (!keepGoing) stopping = true;
                const now = Date.now();
                emit(onEvent, {
                  type: "stage:error",
                  stage: name,
                  error,
                  ms: now - began,
                  time: now,
                });
              },
            )
            .finally(() => {
              running--;
              settle(id);
              pump();
            });
        }
        if (running === 0 && (stopping || ready.size === 0)) resolve();
      };
      pump();
    });

    this.#decisions = this.#order
      .filter((id) => outcomes.has(id))
      .map((id) => outcomes.get(id)!.decision);
    for (const id of blocked) this.#states.set(id, "blocked");
    emit(onEvent, {
      type: "pipeline:done",
      ms: Date.now() - runStarted,
      ran: this.#decisions.filter((d) => d.action === "run").length,
      cached: this.#decisions.filter((d) => d.action === "skip").length,
      failed: failures.size,
      time: Date.now(),
    });
    if (failures.size > 0) {
      const ordered = this.#order.filter((id) => failures.has(id)).map((id) => failures.get(id)!);
      if (!keepGoing || ordered.length === 1) throw ordered[0]!;
      throw new PipelineError(
        ordered,
        [...blocked].map((id) => nodes[id]!.stage.name),
      );
    }
    const merged: Record<string, unknown> = {};
    for (const id of this.#order) Object.assign(merged, outcomes.get(id)!.results);
    this.#results = await absolutize(merged);
    return this.#results;
  }

  /**
   * A dry run: for every stage, in order, whether it would run and why, without running or
   * writing anything. A stage after one that would run is reported as
   * `run-if-upstream-changes` (its inputs are not known until then), not guessed.
   *
   * @example
   * ```ts
   * for (const e of await pipeline.explain("sub-01_T1w.nii.gz")) console.log(e.stage, e.action, describeReason(e.reason));
   * ```
   */
  async explain(...args: unknown[]): Promise<Explanation[]> {
    return this.#explain({ positional: args, named: {} }, {});
  }

  /** {@link explain} with named arguments. */
  async explainNamed(
    args: Record<string, unknown>,
    options: RunOptions = {},
  ): Promise<Explanation[]> {
    return this.#explain({ positional: [], named: args }, options);
  }

  async #explain(start: Invocation, options: RunOptions): Promise<Explanation[]> {
    const known = new Map<number, Outcome>();
    const explanations: Explanation[] = [];
    const context: InvokeContext = {
      scope: new HashScope(),
      readonlyCaches: this.#options.readonlyCaches,
    };
    this.#states = new Map();
    for (const id of this.#order) {
      const node = this.#nodes[id]!;
      const upstream = [...new Set(node.sources.filter((s) => !known.has(s)))];
      let explanation: Explanation;
      if (upstream.length > 0) {
        const names = upstream.map((s) => this.#nodes[s]!.stage.name);
        explanation = {
          stage: node.stage.name,
          action: "run-if-upstream-changes",
          reason: { kind: "upstream-would-run", upstream: names },
        };
      } else {
        try {
          const result = await node.stage.explainInvocation(
            this.#inputsOf(node, start, known).invocation,
            options,
            context,
          );
          explanation = result.explanation;
          if (result.results !== undefined) {
            const decision: Decision = {
              stage: node.stage.name,
              action: "skip",
              reason: explanation.reason,
            };
            known.set(id, { results: result.results, decision, inputArgs: {} });
          }
        } catch (error) {
          explanation = {
            stage: node.stage.name,
            action: "run",
            reason: {
              kind: "state-unreadable",
              file: "",
              detail: `cannot be checked: ${messageOf(error)}`,
            },
          };
        }
      }
      const state: NodeState =
        explanation.action === "skip"
          ? "cached"
          : explanation.action === "run"
            ? "would-run"
            : "run-if-upstream-changes";
      this.#states.set(id, state);
      explanations.push(explanation);
    }
    return explanations;
  }

  /** The DAG as a Mermaid flowchart, coloured by the last run or dry run. */
  toMermaid(): string {
    return toMermaid(...this.#diagram());
  }

  /** The DAG as a Graphviz DOT graph, coloured by the last run or dry run. */
  toDot(): string {
    return toDot(...this.#diagram());
  }

  #diagram(): [DiagramNode[], DiagramEdge[]] {
    const nodes = this.#nodes.map((node): DiagramNode => ({
      id: `s${node.index}`,
      label: node.stage.name,
      state: this.#states.get(node.index) ?? "unknown",
    }));
    const edges: DiagramEdge[] = [];
    for (const node of this.#nodes) {
      const inputs = new Set(node.stage.inputs);
      const fed = new Set<string>();
      for (const source of new Set(node.sources)) {
        const stage = this.#nodes[source]!.stage;
        const aliases = stage instanceof Stage ? stage.aliases : stage.stage.aliases;
        const passed = [...stage.outputs, ...Object.keys(aliases)].filter((name) =>
          inputs.has(name),
        );
        passed.forEach((name) => fed.add(name));
        edges.push({ from: `s${source}`, to: `s${node.index}`, label: passed.join(", ") });
      }
      if (node.start) {
        const rest = node.stage.inputs.filter((name) => !fed.has(name));
        edges.push({ from: "start", to: `s${node.index}`, label: rest.join(", ") });
      }
    }
    return [nodes, edges];
  }

  /** The arguments a node receives, and every name its sources offered. */
  #inputsOf(
    node: Node,
    start: Invocation,
    outcomes: Map<number, Outcome>,
  ): { invocation: Invocation; offered: Record<string, unknown>; named: Record<string, unknown> } {
    const offered: Record<string, unknown> = node.start ? { ...start.named } : {};
    for (const source of node.sources) Object.assign(offered, outcomes.get(source)!.results);
    const accepted = new Set(node.stage.inputs);
    const named: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(offered)) if (accepted.has(key)) named[key] = value;
    return {
      invocation: { positional: node.start ? start.positional : [], named },
      offered,
      named,
    };
  }

  async #runNode(
    node: Node,
    start: Invocation,
    outcomes: Map<number, Outcome>,
    options: RunOptions,
    context: InvokeContext,
  ): Promise<Outcome> {
    const { stage } = node;
    const { invocation, offered, named } = this.#inputsOf(node, start, outcomes);
    try {
      return await stage.invoke(invocation, options, context);
    } catch (error) {
      if (error instanceof MemoriError && error.reason === "missing-argument") {
        const names = Object.keys(offered);
        throw new MemoriError(
          "missing-argument",
          `pipeline: ${error.message} The stages feeding it offered ${names.length ? names.map((n) => `"${n}"`).join(", ") : "nothing"}; rename an output, add an alias, or set a static argument.`,
          { stage: stage.name, cause: error },
        );
      }
      if (error instanceof MemoriError && error.stage === stage.name) throw error;
      const inputs = Object.entries(named)
        .map(([k, v]) => `${k}=${preview(v)}`)
        .join(", ");
      throw new MemoriError(
        "stage-failed",
        `pipeline: stage "${stage.name}" failed with inputs {${inputs}}: ${messageOf(error)}. Earlier stages' state is kept; a re-run resumes from this stage.`,
        { stage: stage.name, cause: error },
      );
    }
  }

  #cycleError(): MemoriError {
    // Every node left out of the order has a predecessor that was left out too: walking
    // predecessors from one of them must repeat a node, and the walk between the repeats is
    // a cycle.
    const ordered = new Set(this.#order);
    const left = (id: number) => !ordered.has(id);
    let current = this.#nodes.findIndex((node) => left(node.index));
    const seenAt = new Map<number, number>();
    const walk: number[] = [];
    while (!seenAt.has(current)) {
      seenAt.set(current, walk.length);
      walk.push(current);
      current = this.#nodes[current]!.sources.find(left)!;
    }
    const cycle = walk.slice(seenAt.get(current)).reverse();
    const first = cycle.indexOf(Math.min(...cycle)); // start at the earliest-defined stage
    const loop = [...cycle.slice(first), ...cycle.slice(0, first)];
    const names = [...loop, loop[0]!].map((id) => `"${this.#nodes[id]!.stage.name}"`);
    return new MemoriError(
      "cycle",
      `the pipeline has a cycle: ${names.join(" feeds ")}. A pipeline must be acyclic; remove one of these links.`,
    );
  }

  #checkCollisions(): void {
    const owners = new Map<string, AnyStage>();
    for (const { stage } of this.#nodes) {
      if (stage.hashOutput === undefined) continue;
      const key = path.join(path.resolve(stage.hashOutput), stage.name);
      const owner = owners.get(key);
      if (owner !== undefined && owner !== stage) {
        throw new MemoriError(
          "state-collision",
          `two stages named "${stage.name}" would write the same state files in ${path.resolve(stage.hashOutput)}; give one of them another \`name\` or \`hashOutput\`.`,
          { stage: stage.name },
        );
      }
      owners.set(key, stage);
    }
  }

  #topologicalOrder(): number[] {
    const indegree = this.#nodes.map((node) => new Set(node.sources).size);
    const ready = new MinHeap();
    indegree.forEach((d, i) => d === 0 && ready.push(i));
    const order: number[] = [];
    while (ready.size > 0) {
      const id = ready.pop();
      order.push(id);
      for (const next of this.#successors[id]!) {
        indegree[next]! -= 1;
        if (indegree[next] === 0) ready.push(next);
      }
    }
    return order;
  }
}

/**
 * Several stages of a pipeline failed (with `keepGoing`). `failures` holds each stage's error,
 * in topological order; `blocked` names the stages that did not run because they depend on a
 * failed one. A re-run resumes from the failed stages.
 */
export class PipelineError extends MemoriError {
  constructor(
    readonly failures: readonly MemoriError[],
    readonly blocked: readonly string[],
  ) {
    super(
      "stage-failed",
      `pipeline: ${failures.length} stages failed (${failures.map((f) => `"${f.stage}"`).join(", ")})${blocked.length ? `; not run because they depend on them: ${blocked.map((b) => `"${b}"`).join(", ")}` : ""}:\n${failures.map((f) => `  - ${f.message}`).join("\n")}`,
      { cause: failures[0] },
    );
  }
}

/** Options of a {@link Pipeline}. */
export interface PipelineOptions {
  /**
   * How many stages may run at once.
   * @default the number of available CPUs
   */
  readonly concurrency?: number;
  /**
   * On a failure, go on with every stage that does not depend on a failed one, then report all
   * failures together (a {@link PipelineError}). Without it, no new stage starts after the
   * first failure; running ones finish (and are cached), and that failure is thrown.
   * @default false
   */
  readonly keepGoing?: boolean;
  /**
   * Read-only caches every stage may take valid results from on a miss (see the stage option).
   * @default []
   */
  readonly readonlyCaches?: readonly string[];
  /**
   * Told what happens as the pipeline runs: stages starting, running (and why), cached, done
   * or failed, with timings, and the progress of long file hashes. `terminalReporter()` is a
   * ready-made listener.
   * @default undefined
   * @example onEvent: terminalReporter()
   */
  readonly onEvent?: EventListener;
}

function checkPipelineOptions(options: PipelineOptions): CheckedOptions {
  if (typeof options !== "object" || options === null) {
    throw new MemoriError(
      "invalid-option",
      `pipeline options must be an object, got ${describe(options)}.`,
    );
  }
  const {
    concurrency = availableParallelism(),
    keepGoing = false,
    readonlyCaches = [],
    onEvent,
  } = options;
  if (onEvent !== undefined && typeof onEvent !== "function") {
    throw new MemoriError(
      "invalid-option",
      `pipeline: expected \`onEvent\` to be a function, got ${describe(onEvent)}.`,
    );
  }
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new MemoriError(
      "invalid-option",
      `pipeline: expected \`concurrency\` to be a whole number >= 1, got ${describe(concurrency)}.`,
    );
  }
  if (typeof keepGoing !== "boolean") {
    throw new MemoriError(
      "invalid-option",
      `pipeline: expected \`keepGoing\` to be a boolean, got ${describe(keepGoing)}.`,
    );
  }
  if (
    !Array.isArray(readonlyCaches) ||
    !readonlyCaches.every((d) => typeof d === "string" && d !== "")
  ) {
    throw new MemoriError(
      "invalid-option",
      `pipeline: expected \`readonlyCaches\` to be an array of directory paths, got ${describe(readonlyCaches)}.`,
    );
  }
  for (const key of Object.keys(options)) {
    if (!["concurrency", "keepGoing", "readonlyCaches", "onEvent"].includes(key)) {
      throw new MemoriError(
        "invalid-option",
        `pipeline: unknown option \`${key}\`; the options are concurrency, keepGoing, readonlyCaches, onEvent.`,
      );
    }
  }
  return { concurrency, keepGoing, readonlyCaches, onEvent };
}

interface CheckedOptions {
  concurrency: number;
  keepGoing: boolean;
  readonlyCaches: readonly string[];
  onEvent: EventListener | undefined;
}

function preview(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = describe(value);
  }
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

/** A copy of `value` in which every string that names an existing file is made absolute. */
async function absolutize(value: unknown): Promise<never> {
  if (typeof value === "string") {
    if (value.length === 0 || value.includes("\0")) return value as never;
    try {
      if ((await stat(value)).isFile()) return path.resolve(value) as never;
    } catch {
      // not a file
    }
    return value as never;
  }
  if (Array.isArray(value)) return (await Promise.all(value.map(absolutize))) as never;
  if (
    typeof value === "object" &&
    value !== null &&
    Object.getPrototypeOf(value) === Object.prototype
  ) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = await absolutize(v);
    return out as never;
  }
  return value as never;
}
