/**
 * The options of the SLURM executor, checked once when it is made (a bad option fails then,
 * not at the first job), and what they come to for one job: its directory, its resources
 * (the defaults, a stage's own, memory grown after an out-of-memory end), the command it runs.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { MemoriError, describe } from "../errors.js";
import { stderrLogger, type Logger } from "../logger.js";
import type { CommandRunner } from "./command.js";
import type { PollerOptions } from "./poller.js";
import { rootFromEnv } from "../state/portable.js";
import type { RootPair } from "./remote-root.js";
import { checkResources, parseMemory, type JobResources } from "./resources.js";

/** The resources of jobs: defaults for every stage, and a stage's own by its name. */
export interface SlurmResources {
  /**
   * What every job asks for, unless its stage says otherwise.
   * @default the cluster's defaults
   * @example default: { cpus: 1, memory: "2G", time: "1:00:00" }
   */
  readonly default?: JobResources;
  /**
   * A stage's own, by stage name: each field given overrides the default's.
   * @default {}
   * @example stages: { reconAll: { cpus: 4, memory: "8G", time: "12:00:00" } }
   */
  readonly stages?: Readonly<Record<string, JobResources>>;
}

/** Options of {@link slurmExecutor}. */
export interface SlurmExecutorOptions {
  /**
   * The module whose export defines the stages (a path, relative to the working directory):
   * each job imports it again and finds its stage there. Required. It must only define things
   * when imported: a module that runs its pipeline at the top level would run it in every job
   * (run it from another file, or under `if (process.env.MEMORI_JOB === undefined)`).
   * @example module: import.meta.filename
   */
  readonly module: string;
  /**
   * The export that holds the pipeline (a `Pipeline`, or `definePipeline(...)`), or the stage
   * itself (a `Stage` or `MappedStage` run alone).
   * @default "default"
   */
  readonly exportName?: string;
  /**
   * The parameter values a `definePipeline` export is made with in the job: the same ones the
   * pipeline that submits was made with.
   * @default {}
   */
  readonly params?: Readonly<Record<string, unknown>>;
  /** What jobs ask for (`cpus`, `memory`, `time`, `partition`, `sbatchArgs`). @default {} */
  readonly resources?: SlurmResources;
  /**
   * Where each job's files go (its job file, result, script and logs), in
   * `<jobsDir>/<stage>[/<element>]/attempt-<n>/`. Beside the state by default, where no
   * directory a stage hashes sees them (a state directory is never part of one).
   * @default `<hashOutput>/.memori-jobs`; `.memori-jobs` in `cwd` for a stage not memoized
   */
  readonly jobsDir?: string;
  /**
   * How long to wait, in milliseconds, after a job completed, for its result and the files it
   * names to show on this host (a network file system shows a node's writes late), before the
   * call is a failure naming the missing files (Snakemake's `--latency-wait`).
   * @default 5000
   */
  readonly latencyWait?: number;
  /**
   * The program (and its first arguments) a job runs `run-stage JOBFILE` with: a cluster whose
   * nodes have Node.js or memori elsewhere says where.
   * @default [process.execPath, this memori's dist/cli/memori.cjs]
   * @example command: ["/opt/node20/bin/node", "/lab/tools/node_modules/memori/dist/cli/memori.cjs"]
   */
  readonly command?: readonly string[];
  /** The jobs' working directory (relative paths in inputs and results are resolved there). @default process.cwd() */
  readonly cwd?: string;
  /**
   * Where the jobs' nodes see the project's root (`MEMORI_ROOT`, else `cwd`), when they mount
   * it at another path than this host: every path under the root that a job is handed (the
   * module, its job file and logs, its working directory, inputs and parameters) is given under
   * `remoteRoot`, and every such path it hands back is placed under the root here again; the
   * job runs with `MEMORI_ROOT` set to `remoteRoot`. Paths outside the root pass as they are
   * (the nodes see them at the same paths). `memori run --remote-root`.
   * @default the root itself (the nodes see the project where this host does)
   * @example remoteRoot: "/mnt/lab/study" // the project is /lab/study here
   */
  readonly remoteRoot?: string;
  /**
   * Stages (by name) whose calls run in this process instead of as jobs: cheap ones, such as
   * listing a dataset (Snakemake's `localrules`).
   * @default []
   */
  readonly local?: readonly string[];
  /**
   * The fewest jobs of a map's stage ready together (calls that reach the executor within
   * 0.1 s, as a map's ready elements do; a job is one call, or a group of its stage's
   * `callsPerJob`) submitted as one array job (`sbatch --array`, an element per job) rather
   * than an `sbatch` each. `Infinity`: never.
   * @default 32
   */
  readonly arrayMin?: number;
  /**
   * How often jobs are polled (one poller for all of them).
   * @default 0.5 s, backing off to 10 s, but to no more than a tenth of the newest job's age
   */
  readonly poll?: Pick<
    PollerOptions,
    "minIntervalMs" | "maxIntervalMs" | "backoff" | "maxDelayShare"
  >;
  /** Runs `sbatch`, `squeue`, `scontrol`, `scancel`. @default the real commands */
  readonly runner?: CommandRunner;
  /** Told of submissions and job ends (`info`) and of what went wrong (`warn`). @default stderrLogger() */
  readonly logger?: Logger;
}

/** The options, checked, with their defaults. */
export interface CheckedExecutorOptions {
  readonly module: string;
  readonly exportName: string | undefined;
  readonly params: Readonly<Record<string, unknown>>;
  readonly resources: SlurmResources;
  /** The jobs' directory of a stage's calls (absolute). */
  readonly jobsDir: (hashOutput: string | undefined) => string;
  readonly latencyWait: number;
  readonly command: readonly string[] | undefined;
  readonly cwd: string;
  /** The project's root here and where the nodes see it; `undefined` when no root is known. */
  readonly roots: RootPair | undefined;
  readonly local: ReadonlySet<string>;
  readonly arrayMin: number;
  readonly poll: SlurmExecutorOptions["poll"];
  readonly runner: CommandRunner | undefined;
  readonly logger: Logger;
}

const KEYS = [
  "module",
  "exportName",
  "params",
  "resources",
  "jobsDir",
  "latencyWait",
  "command",
  "cwd",
  "remoteRoot",
  "local",
  "arrayMin",
  "poll",
  "runner",
  "logger",
];

function fail(option: string, expected: string, value: unknown): never {
  throw new MemoriError(
    "invalid-option",
    `slurmExecutor: expected \`${option}\` to be ${expected}, got ${describe(value)}.`,
  );
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const isStrings = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((v) => typeof v === "string" && v !== "");

function checkJobResources(who: string, where: string, value: unknown): void {
  if (!isRecord(value)) {
    throw new MemoriError(
      "invalid-option",
      `${who}: expected \`${where}\` to be an object of job resources, got ${describe(value)}.`,
    );
  }
  const checked = checkResources(value);
  if (!checked.ok) {
    throw new MemoriError("invalid-option", `${who}: ${where}: ${checked.error.message}.`);
  }
}

/**
 * Check jobs' resources (`{ default, stages }`), each as `sbatch` would take it; `who` names
 * the option's owner in the error (`slurmExecutor`, `definePipeline()`). Throws a
 * `MemoriError` (`invalid-option`).
 */
export function checkSlurmResources(
  who: string,
  resources: unknown,
): asserts resources is SlurmResources {
  if (!isRecord(resources)) {
    throw new MemoriError(
      "invalid-option",
      `${who}: expected \`resources\` to be { default, stages }, got ${describe(resources)}.`,
    );
  }
  for (const key of Object.keys(resources)) {
    if (key !== "default" && key !== "stages") {
      throw new MemoriError(
        "invalid-option",
        `${who}: unknown key \`resources.${key}\`; resources are { default, stages: { [stage]: ... } }.`,
      );
    }
  }
  if (resources.default !== undefined) {
    checkJobResources(who, "resources.default", resources.default);
  }
  if (resources.stages !== undefined) {
    if (!isRecord(resources.stages)) {
      throw new MemoriError(
        "invalid-option",
        `${who}: expected \`resources.stages\` to be an object (stage name -> resources), got ${describe(resources.stages)}.`,
      );
    }
    for (const [stage, own] of Object.entries(resources.stages)) {
      checkJobResources(who, `resources.stages.${stage}`, own);
    }
  }
}

/** Check the options of a SLURM executor. Throws a `MemoriError` (`invalid-option`). */
export function checkExecutorOptions(options: SlurmExecutorOptions): CheckedExecutorOptions {
  if (!isRecord(options)) fail("options", "an object", options);
  for (const key of Object.keys(options)) {
    if (!KEYS.includes(key)) {
      throw new MemoriError(
        "invalid-option",
        `slurmExecutor: unknown option \`${key}\`; the options are ${KEYS.join(", ")}.`,
      );
    }
  }
  const { module, exportName, params = {}, resources = {}, jobsDir } = options;
  const { latencyWait = 5000, command, cwd = process.cwd(), local = [], poll = {} } = options;
  if (typeof module !== "string" || module === "") {
    fail("module", "the path of the module that defines the stages (jobs import it again)", module);
  }
  if (exportName !== undefined && (typeof exportName !== "string" || exportName === "")) {
    fail("exportName", "the name of an export", exportName);
  }
  if (!isRecord(params)) fail("params", "an object of parameter values", params);
  checkSlurmResources("slurmExecutor", resources);
  if (jobsDir !== undefined && (typeof jobsDir !== "string" || jobsDir === "")) {
    fail("jobsDir", "a directory", jobsDir);
  }
  if (!(typeof latencyWait === "number" && latencyWait >= 0 && latencyWait < 2 ** 31)) {
    fail("latencyWait", "a number of milliseconds >= 0", latencyWait);
  }
  if (command !== undefined && !(isStrings(command) && command.length > 0)) {
    fail("command", "a non-empty array of strings (a program and its arguments)", command);
  }
  if (typeof cwd !== "string" || cwd === "") fail("cwd", "a directory", cwd);
  const { remoteRoot } = options;
  if (
    remoteRoot !== undefined &&
    !(typeof remoteRoot === "string" && path.isAbsolute(remoteRoot))
  ) {
    fail("remoteRoot", "an absolute path (where the nodes see the project)", remoteRoot);
  }
  if (!isStrings(local)) fail("local", "an array of stage names", local);
  const { arrayMin = 32 } = options;
  if (!(arrayMin === Infinity || (Number.isSafeInteger(arrayMin) && arrayMin >= 2))) {
    fail("arrayMin", "a whole number >= 2, or Infinity", arrayMin);
  }
  if (!isRecord(poll)) fail("poll", "{ minIntervalMs, maxIntervalMs, backoff }", poll);
  if (options.runner !== undefined && typeof options.runner !== "function") {
    fail("runner", "a function", options.runner);
  }
  const root = path.resolve(cwd);
  const projectRoot = rootFromEnv() ?? (remoteRoot === undefined ? undefined : root);
  const roots =
    projectRoot === undefined
      ? undefined
      : { local: projectRoot, remote: path.resolve(remoteRoot ?? projectRoot) };
  const given = jobsDir === undefined ? undefined : path.resolve(root, jobsDir);
  const dirOf = (hashOutput: string | undefined) =>
    given ??
    (hashOutput === undefined
      ? path.join(root, ".memori-jobs")
      : path.resolve(hashOutput, ".memori-jobs"));
  return {
    module: path.resolve(root, module),
    exportName,
    params,
    resources,
    jobsDir: dirOf,
    latencyWait,
    command,
    cwd: root,
    roots,
    local: new Set(local),
    arrayMin,
    poll,
    runner: options.runner,
    logger: options.logger ?? stderrLogger(),
  };
}

/** A stage's resources: the defaults, with its own fields over them. */
export function stageResources(resources: SlurmResources, stage: string): JobResources {
  const own = resources.stages !== undefined && Object.hasOwn(resources.stages, stage);
  const merged: Record<string, unknown> = { ...resources.default };
  for (const [key, value] of Object.entries(own ? resources.stages![stage]! : {})) {
    if (value !== undefined) merged[key] = value;
  }
  return merged as JobResources;
}

/**
 * The resources with `memory` multiplied (megabytes, rounded up): for the attempt after one
 * that ran out of memory. Without a `memory` there is nothing to multiply.
 */
export function scaledMemory(resources: JobResources, factor: number): JobResources {
  if (resources.memory === undefined || factor === 1) return resources;
  const mb = parseMemory(resources.memory);
  return mb.ok ? { ...resources, memory: Math.ceil(mb.value * factor) } : resources;
}

/**
 * The program that runs `memori run-stage`: this Node.js, with the command line of the memori
 * package this code belongs to (its bin, `dist/cli/memori.cjs`), found from here whether this
 * is the bundled command line, the built library or its sources.
 */
export function defaultCommand(): readonly string[] | string {
  return (command ??= findCommand());
}

let command: readonly string[] | string | undefined;

function findCommand(): readonly string[] | string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = path.join(dir, "package.json");
    if (existsSync(manifest)) {
      try {
        const { name, bin } = JSON.parse(readFileSync(manifest, "utf8")) as {
          name?: unknown;
          bin?: Record<string, unknown>;
        };
        const memori = bin?.memori;
        if (name === "memori" && typeof memori === "string") {
          const file = path.join(dir, memori);
          if (existsSync(file)) return [process.execPath, file];
          return `memori's command line ${file} does not exist (build memori: npm run build), or give the executor's \`command\``;
        }
      } catch {
        // not a manifest to read: look further up
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) {
      return "memori's package (its package.json) was not found above this module: give the executor's `command`";
    }
    dir = parent;
  }
}
