/**
 * `Pipeline`: stages chained into a DAG. A facade: the graph is checked by pipeline/graph.ts,
 * and runs and dry runs are scheduled by the engine.
 */
import { stat } from "node:fs/promises";
import path from "node:path";
import type { Graph } from "@dagrejs/graphlib";
import type { Decision, Explanation } from "./decision.js";
import { toDot, toMermaid, type DiagramNode, type NodeState } from "./diagram.js";
import { MemoriError, describe } from "./errors.js";
import { stderrLogger, type RunOptions } from "./options.js";
import {
  checkPipelineOptions,
  type CheckedPipelineOptions,
  type PipelineOptions,
} from "./pipeline-options.js";
import { elementDecisions } from "./engine/alone.js";
import { PipelineError, errorOf } from "./engine/failure.js";
import { interruptSummary, reraise, trapInterrupts } from "./engine/interrupt.js";
import { REMEMBER } from "./engine/node.js";
import type { ScheduleReport } from "./engine/report.js";
import { explainState, runState } from "./pipeline/node-state.js";
import { schedule } from "./engine/schedule.js";
import type { Invocation } from "./engine/signature.js";
import { buildGraph, checkCollisions, diagramEdges, type PipelineGraph } from "./pipeline/graph.js";
import { finishRecording, startRecording } from "./records/pipeline-record.js";
import type { MappedStage } from "./map.js";
import type { PipelineResults } from "./pipeline-results.js";
import type { Stage } from "./stage.js";

/** A node of a pipeline: a `Stage` (of any function) or a `MappedStage`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyStage = Stage<any, any, any, any, any> | MappedStage<any>;

/** Where a stage's inputs come from: the pipeline's arguments, one stage, or several. */
export type PipelineSource = "start" | AnyStage | readonly AnyStage[];

/** A pipeline definition: `[source, stage]` pairs. */
export type PipelineDefinition = ReadonlyArray<readonly [PipelineSource, AnyStage]>;
export type { PipelineOptions } from "./pipeline-options.js";
export { PipelineError } from "./engine/failure.js";
export type { PipelineResults } from "./pipeline-results.js";

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
 *
 * The results are typed from the stages' outputs when the definition is written in place (or
 * `as const`): see {@link PipelineResults}.
 *
 * @typeParam D - the definition, as written; an array type that is not a tuple (`upTo()`,
 *   `withOptions({ only })`) stands for "some of these stages": every result is then optional
 */
export class Pipeline<const D extends PipelineDefinition = PipelineDefinition> {
  readonly #definition: PipelineDefinition;
  readonly #given: PipelineOptions;
  readonly #graph: PipelineGraph;
  readonly #options: CheckedPipelineOptions;
  /** What each stage last did (a run) or would do (a dry run), for the diagrams. */
  #states: NodeState[] = [];
  /** What the last collision check saw: each node's hashOutput, and the working directory. */
  #checked: { dirs: (string | undefined)[]; cwd: string } | undefined;
  #results: PipelineResults<D> | undefined;
  #decisions: Decision[] = [];

  constructor(definition: D, options: PipelineOptions = {}) {
    this.#options = checkPipelineOptions(options);
    this.#graph = buildGraph(definition); // checks collisions too
    this.#checked = this.#seen();
    this.#definition = [...definition];
    this.#given = { ...options };
  }

  /** The options it was made with (without the defaults filled in). */
  get options(): PipelineOptions {
    return { ...this.#given };
  }

  /**
   * The same stages with other options: `options` over the ones it was made with (`memori run
   * --concurrency 4 --keep-going` sets them on the pipeline a module exports).
   *
   * @example
   * ```ts
   * await pipeline.withOptions({ keepGoing: true }).run(t1);
   * ```
   */
  withOptions<const W extends PipelineOptions>(
    options: W,
  ): Pipeline<
    "only" extends keyof W
      ? W extends { readonly only?: undefined }
        ? D
        : ReadonlyArray<D[number]>
      : D
  > {
    // With `only`, a run may leave stages out: typed as some of these stages.
    return new Pipeline(this.#definition as never, { ...this.#given, ...options });
  }

  /**
   * The part of the pipeline the named stages need: them and every stage upstream of them,
   * wired as before, with the same options (`memori run --target`). Running it writes the same
   * state files as running the whole pipeline would for those stages. Throws `not-found`,
   * naming the stages there are, for a name no stage has.
   *
   * @example
   * ```ts
   * await pipeline.upTo("register").run(t1); // skullStrip and register, not segment or report
   * ```
   */
  upTo(...names: string[]): Pipeline<ReadonlyArray<D[number]>> {
    const { nodes } = this.#graph;
    const wanted: number[] = [];
    for (const name of names) {
      const ids = nodes.flatMap(({ node }, id) => (node.name === name ? [id] : []));
      if (ids.length === 0) {
        const known = [...new Set(nodes.map(({ node }) => node.name))];
        throw new MemoriError(
          "not-found",
          `pipeline: no stage named "${name}"; its stages are ${known.map((n) => `"${n}"`).join(", ")}.`,
        );
      }
      wanted.push(...ids);
    }
    const needed = new Set<AnyStage>();
    for (let id = wanted.pop(); id !== undefined; id = wanted.pop()) {
      const { node, sources } = nodes[id]!;
      if (needed.has(node as AnyStage)) continue;
      needed.add(node as AnyStage);
      wanted.push(...sources);
    }
    const kept = this.#definition.filter(([, target]) => needed.has(target));
    // Typed as some of these stages (every result optional), which it is.
    return new Pipeline(kept as ReadonlyArray<D[number]>, this.#given);
  }

  /** The stages, in the order they run. */
  get stages(): AnyStage[] {
    return this.#graph.order.map((id) => this.#graph.nodes[id]!.node as AnyStage);
  }

  /** The graph (graphlib): node ids are stage indices, labels stage names. */
  get graph(): Graph {
    return this.#graph.graph;
  }

  /** Merged results of the last run; strings that name existing files are made absolute. */
  get results(): PipelineResults<D> | undefined {
    return this.#results;
  }

  /** What each stage decided in the last run, in run order. */
  get decisions(): Decision[] {
    return [...this.#decisions];
  }

  /** Run with positional arguments for the stages fed by `"start"`. */
  async run(...args: unknown[]): Promise<PipelineResults<D>> {
    return this.#run({ positional: args, named: {} }, {});
  }

  /** Run with named arguments for the stages fed by `"start"`. */
  async runNamed(
    args: Record<string, unknown>,
    options: RunOptions = {},
  ): Promise<PipelineResults<D>> {
    return this.#run({ positional: [], named: this.#checkNamed(args, "runNamed") }, options);
  }

  /**
   * Run every call (stage or map element) whose inputs are ready, up to `concurrency` at a
   * time (ties started in definition order). Results are merged in topological order, so they
   * never depend on which stage finished first.
   */
  async #run(start: Invocation, runOptions: RunOptions): Promise<PipelineResults<D>> {
    const { nodes, order } = this.#graph;
    this.#checkCollisions();
    const { concurrency, keepGoing, readonlyCaches, onEvent, signal, only, executor } =
      this.#options;
    // (Positional arguments: each stage fed by "start" binds them its own way.)
    if (start.positional.length === 0 && only === undefined)
      this.#graph.checkStart(Object.keys(start.named));
    const recording = startRecording(nodes, this.#options.keepRuns, onEvent);
    const trap = trapInterrupts(signal);
    let report: ScheduleReport;
    try {
      report = await schedule(nodes, {
        mode: "run",
        start,
        runOptions,
        concurrency,
        keepGoing,
        readonlyCaches,
        onEvent: recording?.listener ?? onEvent,
        signal: trap.signal,
        attribute: signal !== undefined,
        where: "pipeline",
        only,
        executor,
      });
    } finally {
      trap.release();
    }
    if (recording !== undefined) finishRecording(recording, nodes, report);
    this.#states = [];
    report.nodes.forEach((r, id) => {
      const elements = r.elements === undefined ? undefined : elementDecisions(r);
      if (r.status === "done") r.node[REMEMBER](r.outcome, elements);
      else if (elements !== undefined) r.node[REMEMBER](undefined, elements);
      this.#states[id] = runState(r);
    });
    const decisions: Decision[] = (this.#decisions = []);
    order.forEach((id) => {
      const outcome = report.nodes[id]!.outcome;
      if (outcome !== undefined) decisions.push(outcome.decision);
    });
    if (report.interrupted !== undefined) {
      const why =
        trap.received === undefined ? "interrupted (aborted)" : `interrupted by ${trap.received}`;
      const summary = interruptSummary(report, why);
      if (trap.received !== undefined) {
        stderrLogger().warn(summary);
        await reraise(trap);
      }
      throw new MemoriError("interrupted", `pipeline: ${summary}`, { cause: report.interrupted });
    }
    const failures: MemoriError[] = [];
    order.forEach((id) => {
      const r = report.nodes[id]!;
      for (const f of r.failures) failures.push(errorOf(f, "pipeline", Object.keys(r.offered)));
    });
    if (failures.length > 0) {
      if (!keepGoing) throw failures[0]!;
      throw new PipelineError(failures, blockedNames(report, order));
    }
    const merged: Record<string, unknown> = {};
    // Stages left out (`only`) have no results.
    order.forEach((id) => Object.assign(merged, report.nodes[id]!.outcome?.results));
    // Typed from the stages' result types: what each stage's run() returns, merged.
    const results: PipelineResults<D> = await absolutize(merged);
    this.#results = results;
    return results;
  }

  /**
   * A dry run: for every stage, in order, whether it would run and why, without running or
   * writing anything. A stage after one that would run is reported as
   * `run-if-upstream-changes` (its inputs are not known until then), not guessed, unless what
   * runs before it is `cheap` (then it is called, and what follows is explained). A map is
   * explained element by element (`elements`).
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
    return this.#explain(
      { positional: [], named: this.#checkNamed(args, "explainNamed") },
      options,
    );
  }

  async #explain(start: Invocation, runOptions: RunOptions): Promise<Explanation[]> {
    const { nodes, order } = this.#graph;
    const report = await schedule(nodes, {
      mode: "explain",
      start,
      runOptions,
      concurrency: this.#options.concurrency,
      keepGoing: true,
      readonlyCaches: this.#options.readonlyCaches,
      onEvent: undefined,
      signal: this.#options.signal,
      attribute: this.#options.signal !== undefined,
      where: "pipeline",
      only: this.#options.only,
    });
    this.#states = [];
    return order.map((id) => {
      const explanation = report.nodes[id]!.explanation!;
      this.#states[id] = explainState(explanation);
      return explanation;
    });
  }

  /** The DAG as a Mermaid flowchart, coloured by the last run or dry run. */
  toMermaid(): string {
    return toMermaid(this.#diagramNodes(), diagramEdges(this.#graph.nodes));
  }

  /** The DAG as a Graphviz DOT graph, coloured by the last run or dry run. */
  toDot(): string {
    return toDot(this.#diagramNodes(), diagramEdges(this.#graph.nodes));
  }

  #diagramNodes(): DiagramNode[] {
    return this.#graph.nodes.map(({ node }, id) => ({
      id: `s${id}`,
      label: node.name,
      state: this.#states[id] ?? "unknown",
    }));
  }

  /**
   * Two nodes must not write the same state files (checked at each run: `hashOutput` can be
   * changed), unless nothing the check depends on changed since the last one passed.
   */
  #checkCollisions(): void {
    const { nodes } = this.#graph;
    let cwd: string;
    try {
      cwd = process.cwd(); // relative state directories are resolved against it
    } catch {
      return checkCollisions(nodes);
    }
    const last = this.#checked;
    if (last?.cwd === cwd && nodes.every(({ node }, id) => node.hashOutput === last.dirs[id])) {
      return;
    }
    checkCollisions(nodes);
    this.#checked = this.#seen();
  }

  /** What a collision check that just passed saw (`undefined` without a working directory). */
  #seen(): { dirs: (string | undefined)[]; cwd: string } | undefined {
    try {
      const cwd = process.cwd();
      return { cwd, dirs: this.#graph.nodes.map(({ node }) => node.hashOutput) };
    } catch {
      return undefined;
    }
  }

  #checkNamed(args: unknown, method: string): Record<string, unknown> {
    if (typeof args !== "object" || args === null || Array.isArray(args)) {
      throw new MemoriError(
        "invalid-argument",
        `pipeline.${method}() takes an object of arguments, got ${describe(args)}.`,
      );
    }
    return args as Record<string, unknown>;
  }
}

/** What did not run because something it needs failed: stages, and elements of streamed maps. */
function blockedNames(report: ScheduleReport, order: readonly number[]): string[] {
  return order.flatMap((id) => {
    const r = report.nodes[id]!;
    if (r.elements === undefined) return r.status === "blocked" ? [r.node.name] : [];
    return r.elements
      .filter((e) => e.status === "blocked")
      .map((e) => `${r.node.name}[${e.label}]`);
  });
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
