/**
 * memori: memoize the stages of file-heavy data pipelines on disk. The README is the guide
 * (what a stage's identity is made of, the state files, the command line); this reference
 * covers every export. Where to start:
 *
 * - {@link Stage}: a function memoized on disk; {@link StageOptions} and {@link RunOptions}.
 * - {@link Pipeline}: stages chained into a graph, run concurrently; {@link PipelineOptions}.
 * - {@link MappedStage} and `stage.map()`: one memoized call per element of a list;
 *   {@link blocks} for N-D tiling.
 * - {@link definePipeline}: a pipeline with declared parameters, for `memori run`.
 * - {@link runProcess} and {@link scriptFunction}: processes and shell scripts as stage code;
 *   a failure rejects with a {@link ProcessFailedError}.
 * - {@link PathManager} and the path functions ({@link appendSuffix}, {@link repath}, ...).
 * - {@link MemoriError} (every error, with a stable `reason`), {@link Decision} and
 *   {@link Reason} (why a stage ran), {@link MemoriEvent} and {@link terminalReporter}
 *   (progress), {@link RunRecord} (what a run did, as `memori log` reads it).
 *
 * memori is an ES module; importing it wraps the `fs` and `child_process` functions, so that
 * the files a stage opens are seen (calls made outside a stage pass straight through).
 *
 * @packageDocumentation
 */
import { installReadTracking } from "./read-tracking.js";

// The file-system and child-process functions are wrapped now, before other modules take
// their own copies of them (`const { readFileSync } = require("fs")` in a CommonJS helper):
// calls made for a stage are recorded (see read-tracking.ts); others pass straight through.
installReadTracking();
export {
  Stage,
  type StageResults,
  type OutputNames,
  type PositionalArgs,
  type NamedArgs,
  type MapLists,
  type Outcome,
  type Invocation,
} from "./stage.js";
export {
  Pipeline,
  PipelineError,
  type AnyStage,
  type PipelineDefinition,
  type PipelineSource,
  type PipelineOptions,
  type PipelineResults,
} from "./pipeline.js";
export {
  definePipeline,
  type PipelineModule,
  type PipelineModuleDefinition,
} from "./pipeline-module.js";
export type {
  ParamSpec,
  ParamSpecs,
  ParamValue,
  ParamValues,
  StringParam,
  NumberParam,
  BooleanParam,
  PathParam,
  ListParam,
} from "./params.js";
export {
  MappedStage,
  MapError,
  type MapOptions,
  type MappedResults,
  type ElementFailure,
} from "./map.js";
export { blocks, type Block } from "./blocks.js";
export type { Executor, Execution, Executed } from "./engine/executor.js";
export { inProcessExecutor } from "./engine/executor.js";
export { callSignal, FileAccess, type FileSeen, type ProcessEnded } from "./call-signal.js";
export { workerFunction } from "./worker.js";
export { slurmExecutor, SlurmExecutor } from "./slurm/executor.js";
export type { SlurmExecutorOptions, SlurmResources } from "./slurm/executor-options.js";
export type { JobResources } from "./slurm/resources.js";
export { JobFailedError, type JobFailure, type JobFailureReason } from "./slurm/job-error.js";
export type { JobOutcome } from "./slurm/job-end.js";
export { saveResult, loadResult, type ResultData } from "./results.js";
export type { StageOptions, RunOptions, Logger } from "./options.js";
export { stderrLogger } from "./options.js";
export { describeReason, type Decision, type Explanation, type Reason } from "./decision.js";
export type { MemoriEvent, EventListener } from "./events.js";
export {
  RUN_RECORD_FORMAT,
  type RunRecord,
  type RunOutcome,
  type RunCommand,
  type RunParameter,
  type RunGraph,
  type GraphNode,
  type GraphEdge,
  type TaskRecord,
  type TaskDecision,
  type TaskCounts,
  type TaskError,
  type FailedAttempt,
  type ProcessRecord,
  type ProcessUsage,
} from "./records/run-record.js";
export {
  checkRunRecord,
  parseRunRecord,
  describeProblem,
  type RecordProblem,
  type RecordResult,
} from "./records/record-check.js";
export { terminalReporter, type ReporterOptions } from "./reporter.js";
export {
  MemoriError,
  ProcessFailedError,
  type MemoriErrorReason,
  type ProcessFailure,
} from "./errors.js";
export { hashable, hashFunction, isHashable } from "./hashing/hashable.js";
export { FileHasher, HashScope, hashFileContent, type Sha256Hex } from "./hashing/files.js";
export { StateStore, FORMAT_VERSION, type StageRecord } from "./state/store.js";
export {
  PathManager,
  getPrefix,
  getPathAndPrefix,
  appendSuffix,
  replaceSuffix,
  deleteSuffix,
  repath,
} from "./path-manager.js";
export {
  createOutputPath,
  useAbspaths,
  createSymlinksToInputFiles,
  createSymlinkToPath,
  createSymlinkToFolder,
  withWorkingDirectory,
  useOutputPathWorkingDirectory,
  redefineResultKey,
} from "./helpers.js";
export {
  runProcess,
  InterruptedError,
  type RunProcessOptions,
  type ProcessOutput,
} from "./process.js";
export { which } from "./which.js";
export { scriptFunction, type ScriptFunctionOptions } from "./script.js";
