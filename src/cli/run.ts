/**
 * `memori run MODULE [options]`: run the pipeline a module exports, with its parameters from
 * defaults < a config file < the command line. The pipeline is the module's own (made by the
 * memori the module imports); this command finds it, gives it its parameters and options, and
 * reports: the parameters and where each came from, progress, what failed, and an exit status
 * (0: everything ran or was cached; 1: something failed; 2: a usage error).
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { describeReason, type Explanation } from "../decision.js";
import { emit, type EventListener, type MemoriEvent } from "../events.js";
import type { PipelineOptions } from "../pipeline-options.js";
import type { Pipeline } from "../pipeline.js";
import { showParamValue, type ParamSpec } from "../params.js";
import type { Executor } from "../engine/executor.js";
import type { SlurmResources } from "../slurm/executor-options.js";
import { terminalReporter } from "../reporter.js";
import { UsageError } from "./args.js";
import { dryRunRows, unmatchedLabels } from "./dry-run.js";
import {
  isRunnablePipeline,
  loadPipelineModule,
  notAPipeline,
  type RunnableModule,
} from "./module-loader.js";
import { paramRows, resolveParams, sourceText, type ParamValue } from "./param-values.js";
import { setRunCommand } from "../records/pipeline-record.js";
import { RUN_HELP, parseRunArgs, type RunArgs } from "./run-args.js";
import { table } from "./table.js";

type Write = (text: string) => void;

const USAGE = 2;
/** What a mapped stage has (engine/node.ts), whichever copy of memori made it. */
const MAPPING = Symbol.for("memori.mapping");
const FAILED = 1;
/**
 * Calls at once on a cluster, unless `--concurrency` (or the module) says otherwise: jobs in
 * the queue, not this machine's CPUs (Nextflow's default queue size for SLURM).
 */
const SLURM_CONCURRENCY = 100;

/** `default` for a declaration's default, as the help shows it. */
function defaultText(spec: ParamSpec): string {
  return spec.default === undefined ? "(required)" : showParamValue(spec.default, 30);
}

/** The help, and with a module, its parameters. */
async function help(module: string | undefined, out: Write, err: Write): Promise<number> {
  out(RUN_HELP);
  if (module === undefined) return 0;
  const loaded = await loadPipelineModule(module, undefined);
  if (!loaded.ok) {
    err(`memori run: ${loaded.failure.message}\n`);
    return loaded.failure.usage ? USAGE : FAILED;
  }
  const { params, description } = loaded.module;
  out(`\n${module}${description === undefined ? "" : `: ${description}`}\n`);
  const names = Object.keys(params);
  if (names.length === 0) {
    out("It declares no parameters.\n");
    return 0;
  }
  const rows = names.map((name) => {
    const spec = params[name]!;
    const type = spec.type === "list" ? `list of ${spec.items ?? "string"}` : spec.type;
    return [name, type, defaultText(spec), spec.help ?? ""];
  });
  out(`\nparameters:\n${table([["NAME", "TYPE", "DEFAULT", "HELP"], ...rows])}`);
  return 0;
}

/**
 * Both listeners, the module's own first; what either throws or rejects is ignored, as for any
 * listener (emit).
 */
function both(first: EventListener | undefined, second: EventListener): EventListener {
  if (first === undefined) return second;
  return (event: MemoriEvent) => {
    emit(first, event);
    emit(second, event);
  };
}

/** The pipeline of the module for these values, narrowed to the targets, with the options. */
async function pipelineFor(
  module: RunnableModule,
  args: RunArgs,
  values: Record<string, unknown>,
  err: Write,
): Promise<{ pipeline: Pipeline } | { status: number }> {
  let made: unknown;
  try {
    made = await module.pipeline(values);
  } catch (error) {
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    err(`memori run: making the pipeline of ${args.module} failed: ${text}\n`);
    return { status: FAILED };
  }
  if (!isRunnablePipeline(made)) {
    err(
      `memori run: the pipeline function of ${args.module} returned no pipeline: ${notAPipeline(made)}\n`,
    );
    return { status: FAILED };
  }
  let pipeline = made;
  let executor: Executor | undefined;
  if (args.executor === "slurm" && !args.dryRun) {
    try {
      executor = await slurmFor(module, args, values);
    } catch (error) {
      err(`memori run: --executor slurm: ${failureText(error)}\n`);
      return { status: FAILED };
    }
  }
  if (args.targets.length > 0) {
    try {
      pipeline = pipeline.upTo(...args.targets);
    } catch (error) {
      err(`memori run: --target: ${(error as Error).message}\n`);
      return { status: USAGE };
    }
  }
  const options: PipelineOptions = {
    ...(args.concurrency !== undefined
      ? { concurrency: args.concurrency }
      : executor !== undefined && pipeline.options.concurrency === undefined
        ? { concurrency: SLURM_CONCURRENCY }
        : {}),
    ...(args.keepGoing ? { keepGoing: true } : {}),
    // A dry run too: what follows a map of which only some elements run may be left out.
    ...(args.only.length > 0 ? { only: args.only } : {}),
    ...(args.dryRun ? {} : { onEvent: both(pipeline.options.onEvent, terminalReporter()) }),
    ...(executor === undefined ? {} : { executor }),
  };
  try {
    return { pipeline: pipeline.withOptions(options) };
  } catch (error) {
    // A module's memori that does not know an option (a pipeline-wide executor).
    err(`memori run: ${failureText(error)}\n`);
    return { status: FAILED };
  }
}

/**
 * The SLURM executor of a run: jobs reload this module and export with these values (their
 * files beside each stage's state, `<hashOutput>/.memori-jobs`); resources are the module's,
 * with `--slurm-partition` as the default partition.
 */
async function slurmFor(
  module: RunnableModule,
  args: RunArgs,
  values: Record<string, unknown>,
): Promise<Executor> {
  const { slurmExecutor } = await import("../slurm/executor.js");
  const declared = (module.resources ?? {}) as SlurmResources;
  const resources: SlurmResources =
    args.slurmPartition === undefined
      ? declared
      : { ...declared, default: { ...declared.default, partition: args.slurmPartition } };
  return slurmExecutor({
    module: module.file,
    ...(args.exportName === undefined ? {} : { exportName: args.exportName }),
    params: values,
    resources,
    ...(args.latencyWait === undefined ? {} : { latencyWait: args.latencyWait }),
    ...(args.remoteRoot === undefined ? {} : { remoteRoot: args.remoteRoot }),
  });
}

/** After a run with `--only`: a label no map element had is a usage error (a typo ran nothing). */
function unmatchedOnly(pipeline: Pipeline, only: readonly string[], err: Write): number {
  if (only.length === 0) return 0;
  const seen = new Set<string>();
  for (const stage of pipeline.stages) {
    if ("elementDecisions" in stage)
      for (const d of stage.elementDecisions) if (d.element !== undefined) seen.add(d.element);
  }
  const missing = only.filter((label) => !seen.has(label));
  if (missing.length === 0) return 0;
  err(
    `memori run: --only ${missing.join(", ")}: no map element had ${missing.length === 1 ? "this label" : "these labels"}; nothing ran for ${missing.length === 1 ? "it" : "them"}\n`,
  );
  return USAGE;
}

/** What a failed run says: every failure, and what did not run because of them. */
function failureText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const { reason } = error as { reason?: unknown };
  // A failure memori reports (another copy's MemoriError) says what it needs to; anything
  // else is unexpected, and its stack says where it came from.
  return typeof reason === "string" ? error.message : (error.stack ?? error.message);
}

async function dryRun(
  pipeline: Pipeline,
  args: RunArgs,
  values: readonly ParamValue[],
  out: Write,
  err: Write,
): Promise<number> {
  const named = Object.fromEntries(values.map((v) => [v.name, v.value]));
  let explanations: Explanation[];
  try {
    explanations = await pipeline.explainNamed(named);
  } catch (error) {
    err(`memori run: the dry run failed: ${failureText(error)}\n`);
    return FAILED;
  }
  const maps = new Set(
    pipeline.stages
      .filter((s) => (s as unknown as Record<symbol, unknown>)[MAPPING] !== undefined)
      .map((s) => s.name),
  );
  const unmatched = unmatchedLabels(explanations, args.only, maps);
  if (unmatched !== undefined) {
    err(`memori run: ${unmatched.message}\n`);
    if (!unmatched.unknowable) return USAGE;
  }
  if (values.length > 0) out(`${table(paramRows(values))}\n`);
  const rows = dryRunRows(explanations, args.only);
  out(
    table([
      ["STAGE", "ACTION", "REASON"],
      ...rows.map((r) => [r.stage, r.action, describeReason(r.reason)]),
    ]),
  );
  return rows.some((r) => r.action === "fail") ? FAILED : 0;
}

/** Run `memori run` with the arguments after `run`; returns the exit status. */
/**
 * The project a pipeline module belongs to: the nearest directory above it with a
 * `package.json`, else the module's own directory.
 */
export function projectRoot(module: string): string {
  const own = path.dirname(path.resolve(module));
  for (let dir = own; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, "package.json"))) return dir;
    if (path.dirname(dir) === dir) return own;
  }
}

export async function runPipelineCommand(
  argv: readonly string[],
  out: Write,
  err: Write,
): Promise<number> {
  let args: RunArgs;
  try {
    const parsed = parseRunArgs(argv);
    if (parsed.help) return await help(parsed.module, out, err);
    args = parsed.args;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    err(`memori run: ${error.message} (see memori run --help)\n`);
    return USAGE;
  }
  // Paths inside the project are stored relative to it (state/portable.ts): a job that sees
  // the project at another path reads the same state.
  process.env.MEMORI_ROOT ||= projectRoot(args.module);
  const loaded = await loadPipelineModule(args.module, args.exportName);
  if (!loaded.ok) {
    err(`memori run: ${loaded.failure.message}\n`);
    return loaded.failure.usage ? USAGE : FAILED;
  }
  const module = loaded.module;
  const resolved = resolveParams(module.params, args);
  if (!resolved.ok) {
    const { failures } = resolved;
    const heading =
      failures.length === 1 ? "" : `${failures.length} problems with the parameters:\n  `;
    err(`memori run: ${heading}${failures.map((f) => f.message).join("\n  ")}\n`);
    return USAGE;
  }
  const values = resolved.values;
  const named = Object.fromEntries(values.map((v) => [v.name, v.value]));
  const made = await pipelineFor(module, args, named, err);
  if ("status" in made) return made.status;
  if (args.dryRun) return dryRun(made.pipeline, args, values, out, err);
  if (values.length > 0) err(`memori run: parameters:\n${table(paramRows(values), "  ")}`);
  // The run's record says it came from `memori run`, with which module and parameters.
  setRunCommand({
    via: "run",
    module:
      path.resolve(args.module) + (args.exportName === undefined ? "" : `#${args.exportName}`),
    params: values.map((v) => ({
      name: v.name,
      value: showParamValue(v.value),
      from: sourceText(v.from),
    })),
  });
  try {
    await made.pipeline.runNamed(named);
    return unmatchedOnly(made.pipeline, args.only, err);
  } catch (error) {
    err(`memori run: ${failureText(error)}\n`);
    return FAILED;
  } finally {
    setRunCommand(undefined);
  }
}
