/**
 * Split/map: one stage run over many inputs, each element memoized on its own (pydra's
 * splitters). A facade: the elements are calls on the engine's one scheduler.
 */
import { availableParallelism } from "node:os";
import type { Explanation } from "./decision.js";
import { MemoriError, describe } from "./errors.js";
import { checkMapOptions, type MapOptions, type RunOptions } from "./options.js";
import { explainAlone, runAlone } from "./engine/alone.js";
import { elementsOf } from "./engine/elements.js";
import {
  DEFINITION,
  MAPPING,
  NodeBase,
  type Mapping,
  type PipelineNode,
  type StageDef,
} from "./engine/node.js";

export type { MapOptions } from "./options.js";
export { MapError, type ElementFailure } from "./engine/failure.js";

/** What a map needs of the stage it maps: any `Stage`. */
export type MappableStage = PipelineNode & { readonly [MAPPING]: undefined };

/**
 * What a map of stage `S` resolves to: one array per output (and alias), each element typed as
 * the stage's result (`Record<string, unknown[]>` when the stage's results are not known).
 */
export type MappedResults<S> = S extends { readonly results: infer R }
  ? 0 extends 1 & R
    ? Record<string, unknown[]>
    : string extends keyof NonNullable<R>
      ? Record<string, unknown[]>
      : { [K in keyof NonNullable<R>]: NonNullable<R>[K][] }
  : Record<string, unknown[]>;

/**
 * A stage mapped over lists of inputs. It can be a node of a Pipeline: its mapped parameters
 * receive lists from upstream, its other parameters single values, and downstream stages
 * receive one array per output (a "combine"). Each element is a call of its own on the
 * pipeline's scheduler: elements share the pipeline's concurrency, and a map whose lists come
 * element by element from an upstream map streams (element k starts when upstream element k
 * is done).
 *
 * @example
 * ```ts
 * const perSubject = new MappedStage(skullStrip, ["t1w"], { label: ({ t1w }) => subjectOf(t1w) });
 * new Pipeline([["start", findFiles], [findFiles, perSubject], [perSubject, groupReport]]);
 * ```
 */
export class MappedStage<S extends MappableStage = MappableStage> extends NodeBase<
  MappedResults<S>
> {
  /** @internal The mapped stage's definition. */
  readonly [DEFINITION]: StageDef;
  /** @internal What it maps over. */
  readonly [MAPPING]: Mapping;

  constructor(
    /** The stage mapped. */
    readonly stage: S,
    /** The parameters mapped over. */
    readonly over: readonly string[],
    options: MapOptions = {},
  ) {
    super();
    const name = stage.name;
    if (typeof options !== "object" || options === null) {
      throw new MemoriError(
        "invalid-option",
        `stage "${name}": map options must be an object, got ${describe(options)}.`,
        { stage: name },
      );
    }
    checkMapOptions(name, options);
    if (!Array.isArray(over) || over.length === 0) {
      throw new MemoriError(
        "invalid-argument",
        `stage "${name}": map over at least one parameter.`,
        {
          stage: name,
        },
      );
    }
    for (const parameter of over) {
      if (!stage.inputs.includes(parameter)) {
        throw new MemoriError(
          "unknown-argument",
          `stage "${name}" has no parameter "${parameter}" to map over; its parameters are ${stage.inputs.map((p) => `"${p}"`).join(", ")}.`,
          { stage: name },
        );
      }
    }
    this[DEFINITION] = stage[DEFINITION];
    this[MAPPING] = {
      over: [...over],
      mode: options.mode ?? "cross",
      label: options.label,
      concurrency: options.concurrency,
    };
  }

  /** The elements of a run with these arguments: one object of mapped values each, in order. */
  elements(named: Readonly<Record<string, unknown>>): Record<string, unknown>[] {
    return elementsOf(this.name, this[MAPPING], named);
  }

  /**
   * Run over the mapped lists given by name (other parameters take single values). Elements
   * that fail are reported together in a {@link MapError}; the others complete and are cached.
   */
  async run(args: Record<string, unknown>, options: RunOptions = {}): Promise<MappedResults<S>> {
    return this.runNamed(args, options);
  }

  /** {@link run}, under the name stages use. */
  async runNamed(
    args: Record<string, unknown>,
    options: RunOptions = {},
  ): Promise<MappedResults<S>> {
    const outcome = await runAlone(
      this,
      { positional: [], named: args },
      options,
      this.#concurrency(),
    );
    return outcome.results as MappedResults<S>;
  }

  /** What a run would do, element by element (in `elements`), without running or writing anything. */
  async explain(args: Record<string, unknown>, options: RunOptions = {}): Promise<Explanation> {
    return explainAlone(this, { positional: [], named: args }, options, this.#concurrency());
  }

  #concurrency(): number {
    return this[MAPPING].concurrency ?? availableParallelism();
  }
}
