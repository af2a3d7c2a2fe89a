/**
 * Split/map: one stage run over many inputs, each element memoized on its own (pydra's
 * splitters), and blocks of an N-D extent to map over (nd-multicore).
 */
import { availableParallelism } from "node:os";
import path from "node:path";
import stringify from "fast-json-stable-stringify";
import pLimit from "p-limit";
import type { Decision, Explanation } from "./decision.js";
import { MemoriError, describe, messageOf } from "./errors.js";
import { HashScope, sha256 } from "./hashing/files.js";
import type { RunOptions } from "./options.js";
import type { InvokeContext, Invocation, Outcome, Stage } from "./stage.js";
import { StateStore } from "./state/store.js";

/** Options of {@link Stage.map} and {@link MappedStage}. */
export interface MapOptions {
  /**
   * `"cross"`: every combination of the mapped lists (pydra's list splitter); `"zip"`: element
   * i of each list together (pydra's tuple splitter; the lists must have equal lengths).
   * @default "cross"
   */
  readonly mode?: "cross" | "zip";
  /**
   * How many elements may run at once.
   * @default the number of available CPUs
   */
  readonly concurrency?: number;
}

/** One element of a map that failed. */
export interface ElementFailure {
  /** Position in the map's order of elements. */
  index: number;
  /** How the element is named in messages: a block's key, or `#index`. */
  label: string;
  /** The mapped values of the element. */
  values: Record<string, unknown>;
  error: unknown;
}

/**
 * Some elements of a map failed; the others completed and are cached. `failures` says which
 * (by block key or index) and why; `results` holds every output as an array in input order,
 * with `undefined` where an element failed.
 */
export class MapError extends MemoriError {
  constructor(
    stage: string,
    readonly failures: readonly ElementFailure[],
    readonly results: Record<string, unknown[]>,
    total: number,
  ) {
    super(
      "stage-failed",
      `stage "${stage}": ${failures.length} of ${total} mapped elements failed: ${failures
        .slice(0, 10)
        .map((f) => `${f.label} (${messageOf(f.error)})`)
        .join(
          "; ",
        )}${failures.length > 10 ? "; ..." : ""}. The other elements completed and are cached.`,
      { stage, cause: failures[0]?.error },
    );
  }
}

function labelOf(values: Record<string, unknown>, index: number): string {
  for (const value of Object.values(values)) {
    if (typeof value === "object" && value !== null && typeof (value as Block).key === "string") {
      return (value as Block).key;
    }
  }
  return `#${index}`;
}

/**
 * A stage mapped over lists of inputs. It can be a node of a Pipeline: its mapped parameters
 * receive lists from upstream, its other parameters single values, and downstream stages
 * receive one array per output (a "combine").
 *
 * @example
 * ```ts
 * const perSubject = new MappedStage(skullStrip, ["t1w"]);
 * new Pipeline([["start", findFiles], [findFiles, perSubject], [perSubject, groupReport]]);
 * ```
 */
export class MappedStage {
  readonly #mode: "cross" | "zip";
  readonly #concurrency: number;
  #last: Outcome | undefined;
  #elements: Decision[] = [];

  constructor(
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    readonly stage: Stage<any, any, any>,
    /** The parameters mapped over. */
    readonly over: readonly string[],
    options: MapOptions = {},
  ) {
    const { mode = "cross", concurrency = availableParallelism() } = options;
    if (mode !== "cross" && mode !== "zip") {
      throw new MemoriError(
        "invalid-option",
        `stage "${stage.name}": expected \`mode\` to be "cross" or "zip", got ${describe(mode)}.`,
        { stage: stage.name },
      );
    }
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new MemoriError(
        "invalid-option",
        `stage "${stage.name}": expected \`concurrency\` to be a whole number >= 1, got ${describe(concurrency)}.`,
        { stage: stage.name },
      );
    }
    if (over.length === 0) {
      throw new MemoriError(
        "invalid-argument",
        `stage "${stage.name}": map over at least one parameter.`,
        {
          stage: stage.name,
        },
      );
    }
    for (const name of over) {
      if (!stage.inputs.includes(name)) {
        throw new MemoriError(
          "unknown-argument",
          `stage "${stage.name}" has no parameter "${name}" to map over; its parameters are ${stage.inputs.map((p) => `"${p}"`).join(", ")}.`,
          { stage: stage.name },
        );
      }
    }
    this.#mode = mode;
    this.#concurrency = concurrency;
  }

  get name(): string {
    return this.stage.name;
  }
  get inputs(): string[] {
    return this.stage.inputs;
  }
  get outputs(): string[] {
    return this.stage.outputs;
  }
  get hashOutput(): string | undefined {
    return this.stage.hashOutput;
  }
  /** One array per output (and alias), in input order. */
  get results(): Record<string, unknown[]> | undefined {
    return this.#last?.results as Record<string, unknown[]> | undefined;
  }
  /** Whether any element's function executed in the last run. */
  get hasRun(): boolean {
    return this.#last?.decision.action === "run";
  }
  /** Whether every element came from the state files in the last run. */
  get fromCache(): boolean {
    return this.#last?.decision.action === "skip";
  }
  /** What the last run decided (for the whole map), and why. */
  get lastDecision(): Decision | undefined {
    return this.#last?.decision;
  }
  /** What each element decided in the last run, in input order. */
  get elementDecisions(): Decision[] {
    return [...this.#elements];
  }

  /** Run over the mapped lists given by name (other parameters take single values). */
  async run(
    args: Record<string, unknown>,
    options: RunOptions = {},
  ): Promise<Record<string, unknown[]>> {
    const outcome = await this.invoke({ positional: [], named: args }, options);
    this.remember(outcome);
    return outcome.results as Record<string, unknown[]>;
  }

  /** @internal */
  explainInvocation(
    invocation: Invocation,
    options: RunOptions = {},
    context: InvokeContext = {},
  ): Promise<{ explanation: Explanation; results?: Record<string, unknown> }> {
    return explainMapped(this, invocation, options, context);
  }

  /** @internal */
  remember(outcome: Outcome): void {
    this.#last = outcome;
  }

  /** The elements: one object of mapped values each, in order. */
  elements(named: Readonly<Record<string, unknown>>): Record<string, unknown>[] {
    const lists = this.over.map((name) => {
      const list = named[name];
      if (!Array.isArray(list)) {
        throw new MemoriError(
          "invalid-argument",
          `stage "${this.name}": the mapped parameter "${name}" needs an array, got ${describe(list)}.`,
          { stage: this.name },
        );
      }
      return list as unknown[];
    });
    if (this.#mode === "zip") {
      const lengths = lists.map((l) => l.length);
      if (new Set(lengths).size > 1) {
        throw new MemoriError(
          "invalid-argument",
          `stage "${this.name}": zip needs lists of equal length, got ${this.over.map((n, i) => `${n}: ${lengths[i]}`).join(", ")}.`,
          { stage: this.name },
        );
      }
      return (lists[0] ?? []).map((_, i) =>
        Object.fromEntries(this.over.map((n, k) => [n, lists[k]![i]])),
      );
    }
    let combos: Record<string, unknown>[] = [{}];
    this.over.forEach((name, k) => {
      combos = combos.flatMap((combo) => lists[k]!.map((value) => ({ ...combo, [name]: value })));
    });
    return combos;
  }

  /** @internal Run every element; each is memoized in `<hashOutput>/<name>.map/`. */
  async invoke(
    invocation: Invocation,
    options: RunOptions = {},
    context: InvokeContext = {},
  ): Promise<Outcome> {
    if (invocation.positional.length > 0) {
      throw new MemoriError(
        "invalid-argument",
        `stage "${this.name}": a mapped stage takes its arguments by name.`,
        { stage: this.name },
      );
    }
    const elements = this.elements(invocation.named);
    const scope = context.scope ?? new HashScope();
    const dir =
      this.hashOutput === undefined ? undefined : path.join(this.hashOutput, `${this.name}.map`);
    const limit = pLimit(this.#concurrency);
    const settled = await Promise.all(
      elements.map((values, index) =>
        limit(async () => {
          // An element is keyed by its mapped values (paths, not contents): reordering or
          // adding elements finds each one's own state; a changed file re-runs just its element.
          const key = sha256(stringify(values)).slice(0, 20);
          const store = dir === undefined ? undefined : new StateStore(dir, key);
          try {
            const outcome = await this.stage.invoke(
              { positional: [], named: { ...invocation.named, ...values } },
              options,
              { ...context, scope, ...(store ? { store } : {}) },
            );
            return { ok: true as const, outcome };
          } catch (error) {
            return {
              ok: false as const,
              failure: { index, label: labelOf(values, index), values, error },
            };
          }
        }),
      ),
    );
    const names = [...this.outputs, ...Object.keys(this.stage.aliases)];
    const results: Record<string, unknown[]> = Object.fromEntries(names.map((n) => [n, []]));
    this.#elements = [];
    settled.forEach((s, i) => {
      for (const n of names) results[n]![i] = s.ok ? s.outcome.results[n] : undefined;
      if (s.ok) {
        const label = labelOf(elements[i]!, i);
        this.#elements.push({
          ...s.outcome.decision,
          stage: `${this.name}[${label.startsWith("#") ? i : label}]`,
        });
      }
    });
    const failures = settled.flatMap((s) => (s.ok ? [] : [s.failure]));
    if (failures.length > 0) throw new MapError(this.name, failures, results, elements.length);
    const ran = settled.find((s) => s.ok && s.outcome.decision.action === "run");
    const decision: Decision =
      ran?.ok === true
        ? { stage: this.name, action: "run", reason: ran.outcome.decision.reason }
        : { stage: this.name, action: "skip", reason: { kind: "cached" } };
    return { results, decision, inputArgs: { ...invocation.named } };
  }
}

/** @internal The dry run of every element (see Stage.explainInvocation). */
export async function explainMapped(
  mapped: MappedStage,
  invocation: Invocation,
  options: RunOptions,
  context: InvokeContext,
): Promise<{ explanation: Explanation; results?: Record<string, unknown> }> {
  const elements = mapped.elements(invocation.named);
  const dir =
    mapped.hashOutput === undefined
      ? undefined
      : path.join(mapped.hashOutput, `${mapped.name}.map`);
  const names = [...mapped.outputs, ...Object.keys(mapped.stage.aliases)];
  const results: Record<string, unknown[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (const [i, values] of elements.entries()) {
    const key = sha256(stringify(values)).slice(0, 20);
    const store = dir === undefined ? undefined : new StateStore(dir, key);
    const element = await mapped.stage.explainInvocation(
      { positional: [], named: { ...invocation.named, ...values } },
      options,
      { ...context, ...(store ? { store } : {}) },
    );
    if (element.explanation.action !== "skip" || element.results === undefined) {
      return {
        explanation: { stage: mapped.name, action: "run", reason: element.explanation.reason },
      };
    }
    for (const n of names) results[n]![i] = element.results[n];
  }
  return {
    explanation: { stage: mapped.name, action: "skip", reason: { kind: "cached" } },
    results,
  };
}

/** A block of an N-D extent. */
export interface Block {
  /** The block's start coordinates joined by `_` (nd-multicore's key), e.g. `"0_512_1024"`. */
  key: string;
  /** Position in the order of blocks (first axis outermost). */
  index: number;
  /** First coordinate of the block on each axis. */
  start: number[];
  /** One past the last coordinate on each axis. */
  stop: number[];
  /** The block's size on each axis (smaller at the far edges). */
  shape: number[];
}

/**
 * Cut an N-D extent into blocks of at most `blockShape` (the last blocks on an axis are cut at
 * the edge), in order, first axis outermost: map a stage over them, and a failing block is
 * reported by its key while the others complete.
 *
 * @example
 * ```ts
 * blocks([10, 1024, 1024], [10, 512, 512]).map((b) => b.key) // ["0_0_0", "0_0_512", "0_512_0", "0_512_512"]
 * ```
 */
export function blocks(shape: readonly number[], blockShape: readonly number[]): Block[] {
  if (
    !Array.isArray(shape) ||
    shape.length === 0 ||
    !shape.every((n) => Number.isInteger(n) && n >= 0)
  ) {
    throw new MemoriError(
      "invalid-argument",
      `blocks(): the extent must be an array of whole numbers >= 0, got ${describe(shape)}.`,
    );
  }
  if (
    !Array.isArray(blockShape) ||
    blockShape.length !== shape.length ||
    !blockShape.every((n) => Number.isInteger(n) && n >= 1)
  ) {
    throw new MemoriError(
      "invalid-argument",
      `blocks(): the block shape must be ${shape.length} whole numbers >= 1 (one per axis), got ${describe(blockShape)}.`,
    );
  }
  let starts: number[][] = [[]];
  shape.forEach((size, axis) => {
    const step = blockShape[axis]!;
    const axisStarts: number[] = [];
    for (let s = 0; s < size; s += step) axisStarts.push(s);
    starts = starts.flatMap((prefix) => axisStarts.map((s) => [...prefix, s]));
  });
  if (shape.some((n) => n === 0)) return [];
  return starts.map((start, index) => {
    const stop = start.map((s, axis) => Math.min(s + blockShape[axis]!, shape[axis]!));
    return {
      key: start.join("_"),
      index,
      start,
      stop,
      shape: stop.map((e, axis) => e - start[axis]!),
    };
  });
}
