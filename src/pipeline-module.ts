/**
 * A runnable pipeline module: what a module exports for `memori run` to run it, a pipeline
 * with its declared parameters. The command line may be another copy of memori than the one
 * the module imports (a global install, a bundle), so it recognizes a module's definition by a
 * registered symbol and a protocol number, never by `instanceof`.
 */
import { MemoriError, describe } from "./errors.js";
import { checkParamSpecs, type ParamSpecs, type ParamValues } from "./params.js";
import type { Pipeline } from "./pipeline.js";
import { checkSlurmResources, type SlurmResources } from "./slurm/executor-options.js";

/** Marks what {@link definePipeline} returns; its value is the protocol's version. */
export const PIPELINE_MODULE: unique symbol = Symbol.for("memori.pipeline-module");

/** The version of what {@link definePipeline} returns, as the command line reads it. */
export const PIPELINE_MODULE_VERSION = 1 as const;

/** What {@link definePipeline} takes. */
export interface PipelineModuleDefinition<P extends ParamSpecs> {
  /**
   * The parameters, by name, each with its type and default. A run's values come from the
   * defaults, then a config file (`--config`), then the command line (`--param name=value`).
   * @default {}
   * @example params: { subjects: { type: "list", default: [] }, fwhm: { type: "number", default: 6 } }
   */
  readonly params?: P;
  /** One line for `memori run MODULE --help`. */
  readonly description?: string;
  /**
   * The pipeline, or a function of the parameters' values that makes it (it may be async:
   * list a dataset first). Either way the stages fed by `"start"` receive the values by name,
   * as with `pipeline.runNamed(values)`; the function is for parameters that shape the
   * pipeline itself: a `hashOutput` directory, a stage's static `args`, which stages there are.
   */
  readonly pipeline: Pipeline | ((params: ParamValues<P>) => Pipeline | Promise<Pipeline>);
  /**
   * What each stage's SLURM job asks for when the pipeline runs on a cluster (`memori run
   * --executor slurm`): defaults for every stage, and a stage's own by its name.
   * @default {}
   * @example resources: { default: { memory: "2G" }, stages: { recon: { cpus: 4, time: "12:00:00" } } }
   */
  readonly resources?: SlurmResources;
}

/** A pipeline with its parameters, as `memori run` runs it. */
export interface PipelineModule<P extends ParamSpecs = ParamSpecs> {
  /** @internal The protocol's version, read by the command line. */
  readonly [PIPELINE_MODULE]: typeof PIPELINE_MODULE_VERSION;
  /** The parameters' declarations. */
  readonly params: P;
  /** The line `memori run MODULE --help` shows, if one was given. */
  readonly description: string | undefined;
  /** The resources of its stages' SLURM jobs. */
  readonly resources: SlurmResources | undefined;
  /**
   * The pipeline for these values: the function given called with them (frozen), or the
   * pipeline given.
   */
  pipeline(values: ParamValues<P>): Promise<Pipeline>;
}

/**
 * Declare a runnable pipeline: export it (as the default export, or by a name chosen with
 * `--export`) and run it with `memori run pipeline.ts --param name=value`. Throws a
 * `MemoriError` (`invalid-option`) when a declaration is wrong, naming the parameter.
 *
 * @example
 * ```ts
 * export default definePipeline({
 *   params: {
 *     bids: { type: "path", help: "the BIDS dataset", mustExist: true },
 *     fwhm: { type: "number", default: 6 },
 *   },
 *   pipeline: ({ bids }) => buildPipeline(path.join(bids, "derivatives", ".memori")),
 * });
 * ```
 */
export function definePipeline<const P extends ParamSpecs = Record<never, never>>(
  definition: PipelineModuleDefinition<P>,
): PipelineModule<P> {
  if (typeof definition !== "object" || definition === null) {
    throw new MemoriError(
      "invalid-option",
      `definePipeline() takes { params, pipeline }, got ${describe(definition)}.`,
    );
  }
  const { params = {} as P, description, pipeline, resources } = definition;
  checkParamSpecs(params);
  const keys = ["params", "description", "pipeline", "resources"];
  for (const key of Object.keys(definition)) {
    if (!keys.includes(key)) {
      throw new MemoriError(
        "invalid-option",
        `definePipeline(): unknown key \`${key}\`; the keys are ${keys.join(", ")}.`,
      );
    }
  }
  if (resources !== undefined) checkSlurmResources("definePipeline()", resources);
  if (description !== undefined && typeof description !== "string") {
    throw new MemoriError(
      "invalid-option",
      `definePipeline(): expected \`description\` to be a string, got ${describe(description)}.`,
    );
  }
  if (typeof pipeline !== "function" && (typeof pipeline !== "object" || pipeline === null)) {
    throw new MemoriError(
      "invalid-option",
      `definePipeline(): expected \`pipeline\` to be a Pipeline or a function of the parameters that returns one, got ${describe(pipeline)}.`,
    );
  }
  return Object.freeze({
    [PIPELINE_MODULE]: PIPELINE_MODULE_VERSION,
    params: Object.freeze({ ...params }),
    description,
    resources,
    pipeline: async (values: ParamValues<P>) =>
      typeof pipeline === "function" ? pipeline(Object.freeze({ ...values })) : pipeline,
  });
}
