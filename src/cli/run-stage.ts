/**
 * `memori run-stage JOBFILE`: what a SLURM job runs (src/slurm/executor.ts writes the job file
 * and submits it). It imports the module again, makes its pipeline with the recorded
 * parameters, finds the stage, and refuses to run when the stage's code here is not the
 * submitter's (another version of the module on this node would give a result that looks
 * current and is not). Then it calls the function with the recorded inputs, as the in-process
 * executor does (the files it opens recorded), and writes what it returned, the files that
 * names and the files it opened, to the result file (whole or not at all). It never reads or writes the stage's state or lock: the submitter
 * commits. A job run twice (re-queued, duplicated) writes an equivalent result again.
 *
 * A group job (`--group LIST`, or an array element whose item is a group) runs several job
 * files one after the other in this one process: the module is imported and each pipeline made
 * once, and each call's code is checked as a lone job's is (the identity of a stage whose code
 * nothing changes at run time is taken once per process; one with run-time parts is taken again
 * for each call). Each call writes its own result; one that fails does not stop the others; a
 * job file that is gone (its call was cancelled) is skipped.
 *
 * Exit status: 0 the result is written; 1 the stage's function failed (the result says why);
 * 2 the job file cannot be used; 3 the call was refused (module, stage, parameters or code
 * differ here; the result says why). A group's is the highest of its calls'.
 */
import path from "node:path";
import { hostname } from "node:os";
import { FileAccess, withCallContext } from "../call-signal.js";
import { messageOf } from "../errors.js";
import { directoryRule } from "../engine/fingerprint.js";
import { codeIdentity, type CodeIdentity } from "../hashing/hashable.js";
import { decodeValue, encodePlainValue, type Json } from "../hashing/values.js";
import { checkParamValue, type ParamSpecs } from "../params.js";
import { installReadTracking } from "../read-tracking.js";
import {
  namedFiles,
  readJobSpec,
  writeJobJson,
  type JobSpec,
  type RunStageFailure,
} from "../slurm/job-file.js";
import { elementFiles, groupFiles } from "../slurm/job-list.js";
import { importExport, isRunnablePipeline, runnableFrom } from "./module-loader.js";

type Write = (text: string) => void;

const FAILED = 1;
const USAGE = 2;
const REFUSED = 3;

/** What a stage is to the engine (engine/node.ts), whichever copy of memori made it. */
const DEFINITION = Symbol.for("memori.definition");

/** The part of a stage's definition a job needs. */
interface StageDef {
  readonly name: string;
  readonly fn: (...args: unknown[]) => unknown;
  readonly signature: { argumentsFor(inputArgs: Readonly<Record<string, unknown>>): unknown[] };
  readonly code: { readonly codeVersion?: string; readonly ignoreCode?: boolean };
  /** What its directory inputs leave out (absent from an older memori's definition). */
  readonly ignore?: readonly string[];
  readonly hashOutput?: string | undefined;
  readonly stateRoot?: string | undefined;
}

export const RUN_STAGE_HELP = `usage: memori run-stage JOBFILE
       memori run-stage --group LISTFILE   (a group job: every job file listed, in turn)
       memori run-stage --array LISTFILE   (an array job's element: SLURM_ARRAY_TASK_ID)

Runs one call of a pipeline's stage as a SLURM job submitted by memori's SLURM executor
(memori run --executor slurm): reloads the module the job file names, refuses to run when the
stage's code here differs from the submitter's, calls the stage's function with the recorded
inputs and writes what it returned to the job's result file. It never writes the stage's state:
the submitter does. Not meant to be run by hand.

exit status: 0 the result is written; 1 the stage's function failed; 2 the job file cannot be
used; 3 the call was refused here (module, stage, parameters or code differ). A group's is the
highest of its calls'.
`;

/** The stages a job file names, by module, export, parameters and stage: each made once. */
type Loaded = Map<string, Promise<StageDef[] | string>>;

function definitionOf(value: unknown): StageDef | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  return (value as Record<symbol, StageDef | undefined>)[DEFINITION];
}

/** What differs between two code identities, by name (as a `function-changed` reason says). */
function codeChanges(submitted: CodeIdentity, here: CodeIdentity, stage: string): string[] {
  const changed: string[] = [];
  if (submitted.self !== here.self) changed.push(`${stage} (its own code)`);
  const of = (identity: CodeIdentity, key: "callees" | "extras") =>
    typeof identity[key] === "object" && identity[key] !== null ? identity[key] : {};
  for (const key of ["callees", "extras"] as const) {
    const [a, b] = [of(submitted, key), of(here, key)];
    for (const name of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      if (a[name] !== b[name]) changed.push(name);
    }
  }
  if (JSON.stringify(submitted.wrappers) !== JSON.stringify(here.wrappers))
    changed.push("wrappers");
  return changed.length > 0 ? changed : ["(the code identity as a whole)"];
}

/** One run of the job file; `finish` writes the failure result and says what the status is. */
class StageJob {
  constructor(
    readonly spec: JobSpec,
    readonly out: Write,
    readonly err: Write,
    readonly loaded: Loaded = new Map(),
  ) {}

  get name(): string {
    const { stage, element } = this.spec;
    return element === null ? stage : `${stage}[${element}]`;
  }

  async fail(reason: RunStageFailure, message: string, detail?: string): Promise<number> {
    this.err(`memori run-stage: ${this.name}: ${detail ?? message}\n`);
    const { spec } = this;
    await writeJobJson(spec.result, {
      format: 1,
      token: spec.token,
      host: hostname(),
      ok: false,
      reason,
      message,
    });
    return reason === "refused" ? REFUSED : FAILED;
  }

  /** The parameter values, decoded and checked against the module's declarations. */
  params(declared: ParamSpecs): Record<string, unknown> | string {
    const values: Record<string, unknown> = {};
    const moduleDir = path.dirname(this.spec.module);
    for (const name of Object.keys(this.spec.params)) {
      if (!Object.hasOwn(declared, name)) {
        return `the submitter gave parameter \`${name}\`, which the module here does not declare`;
      }
    }
    for (const [name, spec] of Object.entries(declared)) {
      const given = Object.hasOwn(this.spec.params, name)
        ? decodeValue(this.spec.params[name])
        : spec.default;
      const checked = checkParamValue(spec, given, moduleDir);
      if (!checked.ok) return `parameter \`${name}\`: ${checked.problem}`;
      values[name] = checked.value;
    }
    return values;
  }

  /**
   * The stages the module's export has with the job's stage name, or why there are none; once
   * per module, export, parameter values and stage in this process (the module is imported
   * once anyway).
   */
  stages(): Promise<StageDef[] | string> {
    const { module, exportName, params, stage } = this.spec;
    const key = JSON.stringify([module, exportName, params, stage]);
    let found = this.loaded.get(key);
    if (found === undefined) {
      found = this.load();
      this.loaded.set(key, found);
    }
    return found;
  }

  async load(): Promise<StageDef[] | string> {
    const { module, exportName, stage } = this.spec;
    const exported = await importExport(module, exportName ?? undefined);
    if (!exported.ok) return exported.failure.message;
    const own = definitionOf(exported.value);
    if (own !== undefined) {
      return own.name === stage
        ? [own]
        : `${module}, ${exported.what}, is the stage "${own.name}", not "${stage}"`;
    }
    const loaded = runnableFrom(module, exported);
    if (!loaded.ok) return loaded.failure.message;
    const params = this.params(loaded.module.params);
    if (typeof params === "string") return params;
    let pipeline: unknown;
    try {
      pipeline = await loaded.module.pipeline(params);
    } catch (error) {
      return `making the pipeline of ${module} failed: ${messageOf(error)}`;
    }
    if (!isRunnablePipeline(pipeline))
      return `${module}: the pipeline function returned no pipeline`;
    const nodes = pipeline.stages as unknown[];
    const defs = nodes.map(definitionOf).filter((def) => def !== undefined);
    const named = defs.filter((def) => def.name === stage);
    if (named.length === 0) {
      const names = [...new Set(defs.map((def) => `"${def.name}"`))].join(", ");
      return `the pipeline of ${module} has no stage "${stage}" (its stages: ${names})`;
    }
    return named;
  }

  /** The stage whose code here is the submitter's, or what differs. */
  async matching(defs: readonly StageDef[]): Promise<StageDef | string> {
    const { code } = this.spec;
    let first: CodeIdentity | undefined;
    for (const def of defs) {
      const facts = await codeIdentity(def.fn, code.policy === "stage" ? def.code : {});
      if (facts.code.hash === code.identity.hash) return def;
      first ??= facts.code;
    }
    const changed = codeChanges(code.identity, first!, this.spec.stage);
    return `the stage's code here differs from the submitter's (${code.identity.hash.slice(0, 12)} there, ${first!.hash.slice(0, 12)} here; changed: ${changed.join(", ")}): the module or what it imports changed since the job was submitted, or this node sees other files. Not run: its result would not be the submitted call's`;
  }

  async run(): Promise<number> {
    const { spec } = this;
    const stages = await this.stages();
    if (typeof stages === "string") return this.fail("refused", stages);
    // After the module's memori wrapped the file-system functions (read-tracking.ts), so that
    // one of another version, which cannot wrap a wrapper of ours, loads all the same.
    installReadTracking();
    let def: StageDef | string;
    try {
      def = await this.matching(stages);
    } catch (error) {
      return this.fail("refused", `its code identity cannot be taken here: ${messageOf(error)}`);
    }
    if (typeof def === "string") return this.fail("refused", def);
    const inputs: Record<string, unknown> = {};
    for (const [key, json] of Object.entries(spec.inputs)) inputs[key] = decodeValue(json);
    const began = Date.now();
    // The files the call opens, as the in-process executor records them (its own processes'
    // files aside: a call that starts one is untraced).
    // Its listings leave out what the engine's do: the stage's own state directory.
    const { hashOutput, stateRoot } = def;
    const rule = directoryRule({ ignore: def.ignore ?? [], hashOutput, stateRoot });
    const access = new FileAccess(rule.skip ?? []);
    // The environment variables its state records, as the submitter had them (sbatch may give
    // the job another environment, `--export=NONE`), for this call only.
    const restore = withEnvironment(spec.env);
    let returned: Json;
    try {
      const args = def.signature.argumentsFor(inputs);
      const value = await withCallContext({ access }, () => def.fn(...args));
      returned = encodePlainValue(value, "returned", spec.stage);
    } catch (error) {
      const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
      return this.fail("stage-failed", messageOf(error), detail);
    } finally {
      restore();
    }
    const ms = Date.now() - began;
    const files = await namedFiles(returned, access.cwd, access.writes);
    await writeJobJson(spec.result, {
      format: 1,
      token: spec.token,
      host: hostname(),
      ok: true,
      returned,
      files,
      access: {
        cwd: access.cwd,
        reads: [...access.reads],
        writes: [...access.writes],
        lists: [...access.lists],
        listed: Object.fromEntries(access.listed),
        links: Object.fromEntries(access.links),
        untraced: access.untraced,
      },
      ms,
    });
    const job = process.env.SLURM_JOB_ID;
    this.out(
      `memori run-stage: ${this.name} (attempt ${spec.attempt}) ran in ${ms} ms on ${hostname()}${job === undefined ? "" : `, SLURM job ${job}`}; result: ${spec.result}\n`,
    );
    return 0;
  }
}

/**
 * Set the environment variables `env` names to its values (`null`: unset); a function that
 * puts back what they were.
 */
function withEnvironment(env: Readonly<Record<string, string | null>> | undefined): () => void {
  if (env === undefined) return () => undefined;
  const before = Object.entries(env).map(([name]) => [name, process.env[name]] as const);
  const set = (name: string, value: string | null | undefined) => {
    if (value === null || value === undefined) delete process.env[name];
    else process.env[name] = value;
  };
  for (const [name, value] of Object.entries(env)) set(name, value);
  return () => {
    for (const [name, value] of before) set(name, value);
  };
}

/** The job files the arguments name, or what is wrong (a message). */
async function jobFilesOf(argv: readonly string[]): Promise<string[] | string> {
  if (argv.length === 2 && argv[0] === "--array") {
    // An element of an array job: the job file (or group) at its index in the list.
    const found = await elementFiles(argv[1]!, process.env.SLURM_ARRAY_TASK_ID);
    return typeof found === "string" ? found : found.files;
  }
  if (argv.length === 2 && argv[0] === "--group") {
    const found = await groupFiles(argv[1]!);
    return typeof found === "string" ? found : found.files;
  }
  if (argv.length !== 1 || argv[0]!.startsWith("-")) {
    return "expected one job file: memori run-stage JOBFILE";
  }
  return [path.resolve(argv[0]!)];
}

/** Run one job file (of a group: `loaded` shared); its exit status. */
async function runJobFile(
  file: string,
  out: Write,
  err: Write,
  loaded: Loaded,
  grouped: boolean,
): Promise<number> {
  process.env.MEMORI_JOB = file;
  const read = await readJobSpec(file);
  if (!read.ok) {
    if (grouped && read.missing) {
      // Its call was cancelled while the job waited (the submitter removed its job file).
      out(`memori run-stage: ${file}: skipped: its job file is gone (the call was cancelled)\n`);
      return 0;
    }
    err(`memori run-stage: ${read.message}\n`);
    return USAGE;
  }
  try {
    return await new StageJob(read.value, out, err, loaded).run();
  } catch (error) {
    // Decoding the recorded values, or writing the result.
    err(
      `memori run-stage: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return USAGE;
  }
}

/** Run `memori run-stage` with the arguments after `run-stage`; returns the exit status. */
export async function runStageCommand(
  argv: readonly string[],
  out: Write,
  err: Write,
): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    out(RUN_STAGE_HELP);
    return 0;
  }
  const files = await jobFilesOf(argv);
  if (typeof files === "string") {
    err(`memori run-stage: ${files}\n`);
    return USAGE;
  }
  const loaded: Loaded = new Map();
  let status = 0;
  for (const file of files) {
    status = Math.max(status, await runJobFile(file, out, err, loaded, files.length > 1));
  }
  return status;
}
