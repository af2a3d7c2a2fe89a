/**
 * What the engine knows of a stage (its definition) and the contract that `Stage` and
 * `MappedStage` share as nodes of a pipeline: name, inputs, outputs, aliases, where state
 * lives, and what the last run did. The shared getters are written once, here.
 */
import { MemoriError, describe } from "../errors.js";
import type { Decision } from "../decision.js";
import type { EventListener } from "../events.js";
import type { FileHasher } from "../hashing/files.js";
import type { CodePolicy } from "../hashing/hashable.js";
import type { Logger } from "../logger.js";
import type { Executor } from "./executor.js";
import { checkAlias, withAliases, type AnyFn, type Signature } from "./signature.js";

/** Where a node keeps its definition. */
export const DEFINITION: unique symbol = Symbol.for("memori.definition");
/** Where a mapped node keeps what it maps over. */
export const MAPPING: unique symbol = Symbol.for("memori.mapping");
/** How the scheduler hands a node its last outcome. */
export const REMEMBER: unique symbol = Symbol.for("memori.remember");

/** Everything the engine needs to run a stage: fixed at construction except where noted. */
export interface StageDef {
  readonly name: string;
  readonly fn: AnyFn;
  readonly signature: Signature;
  readonly outputs: readonly string[];
  /** Static arguments (changed by `setArg`/`deleteArg`). */
  readonly args: Record<string, unknown>;
  /** alias -> output (mutable through `stage.aliases`). */
  aliases: Record<string, string>;
  /** Where state lives; `undefined`: not memoized (settable). */
  hashOutput: string | undefined;
  /**
   * The state directory `hashOutput` is one part of, left out whole from the directories the
   * stage hashes (set by `memori -d DIR -p` for its elements' `DIR/parallel<k>`).
   */
  stateRoot?: string | undefined;
  readonly env: readonly string[];
  readonly hasher: FileHasher;
  readonly readonlyCaches: readonly string[];
  readonly logger: Logger;
  /** Longest time one attempt of the function may run, in ms. */
  readonly timeout: number | undefined;
  /** How many times a failed attempt is tried again. */
  readonly retries: number;
  /** Cheap and free of side effects: a dry run may call it to see past it. */
  readonly cheap: boolean;
  /** How the code counts: automatically, by a version string, or not at all. */
  readonly code: CodePolicy;
  /** Record the files the function reads in this process, as inputs of the call. */
  readonly trackReads: boolean;
  /** Globs of paths inside directories that do not count. */
  readonly ignore: readonly string[];
  /** Parameters whose paths count by name, not content. */
  readonly byName: readonly string[];
  readonly onEvent: EventListener | undefined;
  readonly executor: Executor | undefined;
}

/** How a mapped node makes elements from lists. */
export interface Mapping {
  /** The parameters mapped over. */
  readonly over: readonly string[];
  readonly mode: "cross" | "zip";
  /** Names an element in logs, errors and summaries. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see MapOptions.label
  readonly label: ((values: Record<string, any>) => string) | undefined;
  /** At most this many elements at once (the pipeline's `concurrency` bounds them too). */
  readonly concurrency: number | undefined;
}

/** The outcome of one run of a node, kept off the instance so that runs can overlap. */
export interface Outcome {
  /** The results by output name (and alias), as `run()` returns them. */
  results: Record<string, unknown>;
  /** What the run did (ran or skipped) and why. */
  decision: Decision;
  /** The named arguments the function was (or would have been) called with. */
  inputArgs: Record<string, unknown>;
}

/** What a pipeline needs of a node. */
export interface PipelineNode {
  readonly name: string;
  readonly inputs: string[];
  readonly outputs: string[];
  readonly aliases: Record<string, string>;
  readonly hashOutput: string | undefined;
  readonly [DEFINITION]: StageDef;
  readonly [MAPPING]: Mapping | undefined;
  /** Keep a run's outcome (`undefined`: it failed) and, for a map, its elements' decisions. */
  [REMEMBER](outcome: Outcome | undefined, elements?: readonly Decision[]): void;
}

/** Whether a value is a node (a `Stage` or a `MappedStage`). */
export function isNode(value: unknown): value is PipelineNode {
  return typeof value === "object" && value !== null && DEFINITION in value;
}

/** The shared part of `Stage` and `MappedStage`: getters over the definition and the last run. */
export abstract class NodeBase<R> implements PipelineNode {
  abstract readonly [DEFINITION]: StageDef;
  abstract readonly [MAPPING]: Mapping | undefined;
  #last: Outcome | undefined;
  #elements: Decision[] = [];

  /** Names the state files, and the stage in messages. */
  get name(): string {
    return this[DEFINITION].name;
  }

  /** Parameter names, in order, read from the function's source. */
  get inputs(): string[] {
    return this[DEFINITION].signature.inputs;
  }

  /** The output names. */
  get outputs(): string[] {
    return [...this[DEFINITION].outputs];
  }

  /**
   * Aliases, alias -> output name. Mutable: `stage.aliases.inFile = "mask"` adds one (checked
   * when the stage next runs).
   */
  get aliases(): Record<string, string> {
    return this[DEFINITION].aliases;
  }

  /** Replace the aliases; each is checked against the output names now. */
  set aliases(value: Record<string, string>) {
    const def = this[DEFINITION];
    const next: Record<string, string> = {};
    for (const [alias, target] of Object.entries(value)) {
      checkAlias(def.name, def.outputs, alias, target);
      next[alias] = target;
    }
    def.aliases = next;
  }

  /** Where state files are read and written; `undefined` turns memoization off. */
  get hashOutput(): string | undefined {
    return this[DEFINITION].hashOutput;
  }

  /** Move the state files elsewhere (a non-empty path), or turn memoization off (`undefined`). */
  set hashOutput(dir: string | undefined) {
    if (dir !== undefined && (typeof dir !== "string" || dir === "")) {
      throw new MemoriError(
        "invalid-option",
        `stage "${this.name}": expected \`hashOutput\` to be a directory path, got ${describe(dir)}.`,
        { stage: this.name },
      );
    }
    this[DEFINITION].hashOutput = dir;
  }

  /**
   * The results of the last run, plus one key per alias: the aliases as they are now, so one
   * added after the run is there too (as in Python memori).
   */
  get results(): R | undefined {
    const last = this.#last?.results;
    if (last === undefined) return undefined;
    const def = this[DEFINITION];
    const outputs: Record<string, unknown> = {};
    for (const name of def.outputs) if (name in last) outputs[name] = last[name];
    return withAliases(def.name, def.outputs, def.aliases, outputs) as R;
  }

  /** Whether the function executed in the last run (for a map: in any element). */
  get hasRun(): boolean {
    return this.#last?.decision.action === "run";
  }

  /** Whether the last run was served from the state files (for a map: every element). */
  get fromCache(): boolean {
    return this.#last?.decision.action === "skip";
  }

  /** What the last run decided, and why. */
  get lastDecision(): Decision | undefined {
    return this.#last?.decision;
  }

  /** The named arguments of the last run, after static arguments were applied. */
  protected get lastInputArgs(): Record<string, unknown> {
    return { ...(this.#last?.inputArgs ?? {}) };
  }

  /**
   * What each element decided in the last run of a map (a `MappedStage`'s, or a stage's
   * `map()`): those that completed, in input order; empty after a run that mapped nothing.
   */
  get elementDecisions(): Decision[] {
    return [...this.#elements];
  }

  /**
   * @internal Make `outcome` this node's last run (a failed run keeps the one before), and
   * `elements` its elements' decisions.
   */
  [REMEMBER](outcome: Outcome | undefined, elements: readonly Decision[] = []): void {
    if (outcome !== undefined) this.#last = outcome;
    this.#elements = [...elements];
  }
}
