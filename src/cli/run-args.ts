/**
 * The command line of `memori run MODULE [options]`: options may come before or after the
 * module; `--opt value` and `--opt=value` are both accepted; `--` ends the options (the module
 * follows). What a parameter's text means is decided later, against the module's declarations
 * (param-values.ts): here `--param` is only split at its first `=`.
 */
import path from "node:path";
import { UsageError } from "./args.js";

/** One `--param NAME=VALUE`. */
export interface ParamArg {
  readonly name: string;
  readonly text: string;
}

/** What `memori run` is asked to do. */
export interface RunArgs {
  /** The module's path, as given. */
  module: string;
  /** `--export NAME`: the export that holds the pipeline (default: the default export). */
  exportName: string | undefined;
  params: ParamArg[];
  /** `--config FILE`: a JSON object of parameter values. */
  config: string | undefined;
  concurrency: number | undefined;
  /** `--executor`: this machine, or a job per call on a SLURM cluster. */
  executor: "local" | "slurm";
  /** `--slurm-partition NAME`: the jobs' partition (over the module's default). */
  slurmPartition: string | undefined;
  /** `--latency-wait SECONDS`, in milliseconds: how long a job's files may take to show. */
  latencyWait: number | undefined;
  /** `--remote-root PATH`: where the jobs' nodes see the project (absolute). */
  remoteRoot: string | undefined;
  dryRun: boolean;
  keepGoing: boolean;
  /** `--target STAGE` (repeatable): run only what these stages need. */
  targets: string[];
  /** `--only LABEL` (repeatable): only the map elements with these labels. */
  only: string[];
}

export type ParsedRun = { help: true; module: string | undefined } | { help: false; args: RunArgs };

const VALUE = new Set([
  "export",
  "param",
  "config",
  "concurrency",
  "executor",
  "slurm-partition",
  "latency-wait",
  "remote-root",
  "target",
  "only",
]);
const FLAG = new Set(["dry-run", "keep-going", "help"]);

/** The executors `--executor` knows. */
const EXECUTORS = ["local", "slurm"];

/** Parse the arguments after `memori run`. Throws {@link UsageError}. */
export function parseRunArgs(argv: readonly string[]): ParsedRun {
  let module: string | undefined;
  let help = false;
  const a: Omit<RunArgs, "module"> = {
    exportName: undefined,
    params: [],
    config: undefined,
    concurrency: undefined,
    executor: "local",
    slurmPartition: undefined,
    latencyWait: undefined,
    remoteRoot: undefined,
    dryRun: false,
    keepGoing: false,
    targets: [],
    only: [],
  };
  const positional = (token: string) => {
    if (module !== undefined) {
      throw new UsageError(
        `unexpected argument ${JSON.stringify(token)}: memori run takes one module (${JSON.stringify(module)} is the module); give parameters with --param NAME=VALUE`,
      );
    }
    module = token;
  };
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === "--") {
      argv.slice(i + 1).forEach(positional);
      break;
    }
    if (!token.startsWith("-") || token === "-") {
      positional(token);
      continue;
    }
    if (token === "-h") {
      help = true;
      continue;
    }
    if (!token.startsWith("--")) throw new UsageError(`unknown option ${token}`);
    const eq = token.indexOf("=");
    const key = eq === -1 ? token.slice(2) : token.slice(2, eq);
    const inline = eq === -1 ? undefined : token.slice(eq + 1);
    if (FLAG.has(key)) {
      if (inline !== undefined) throw new UsageError(`--${key} takes no value`);
      if (key === "help") help = true;
      else if (key === "dry-run") a.dryRun = true;
      else a.keepGoing = true;
      continue;
    }
    if (!VALUE.has(key)) throw new UsageError(`unknown option ${token}`);
    let value = inline;
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new UsageError(`--${key} needs a value`);
    }
    setValue(a, key, value);
  }
  if (help) return { help: true, module };
  if (module === undefined) {
    throw new UsageError(
      "no module given: memori run MODULE [options], e.g. memori run pipeline.ts",
    );
  }
  if (a.executor !== "slurm") {
    const given =
      a.slurmPartition !== undefined
        ? "--slurm-partition"
        : a.latencyWait !== undefined
          ? "--latency-wait"
          : a.remoteRoot !== undefined
            ? "--remote-root"
            : undefined;
    if (given !== undefined) throw new UsageError(`${given} is for --executor slurm`);
  }
  return { help: false, args: { module, ...a } };
}

function setValue(a: Omit<RunArgs, "module">, key: string, value: string): void {
  switch (key) {
    case "export":
      if (a.exportName !== undefined) throw new UsageError("--export is given twice");
      if (value === "") throw new UsageError("--export needs the name of an export");
      a.exportName = value;
      return;
    case "param": {
      const eq = value.indexOf("=");
      const name = eq === -1 ? "" : value.slice(0, eq).trim();
      if (name === "") {
        throw new UsageError(
          `--param ${JSON.stringify(value)}: expected NAME=VALUE (e.g. --param fwhm=6)`,
        );
      }
      const earlier = a.params.find((p) => p.name === name);
      if (earlier !== undefined) {
        throw new UsageError(
          `--param ${name} is given twice (${name}=${earlier.text} and ${value}); give it once (a list: --param ${name}=a,b)`,
        );
      }
      a.params.push({ name, text: value.slice(eq + 1) });
      return;
    }
    case "config":
      if (a.config !== undefined) throw new UsageError("--config is given twice");
      a.config = value;
      return;
    case "concurrency": {
      const n = Number(value);
      if (value.trim() === "" || !Number.isInteger(n) || n < 1) {
        throw new UsageError(
          `--concurrency takes a whole number >= 1, got ${JSON.stringify(value)}`,
        );
      }
      a.concurrency = n;
      return;
    }
    case "executor":
      if (value !== "local" && value !== "slurm") {
        throw new UsageError(
          `--executor ${JSON.stringify(value)}: no such executor; the executors are: ${EXECUTORS.join(", ")}`,
        );
      }
      a.executor = value;
      return;
    case "slurm-partition":
      if (!/^[\w.,-]+$/.test(value)) {
        throw new UsageError(
          `--slurm-partition takes a partition name (letters, digits, _ . -; commas between several), got ${JSON.stringify(value)}`,
        );
      }
      a.slurmPartition = value;
      return;
    case "latency-wait": {
      const seconds = Number(value);
      if (value.trim() === "" || !Number.isFinite(seconds) || seconds < 0 || seconds > 86_400) {
        throw new UsageError(
          `--latency-wait takes a number of seconds from 0 to 86400, got ${JSON.stringify(value)}`,
        );
      }
      a.latencyWait = Math.round(seconds * 1000);
      return;
    }
    case "remote-root":
      if (!path.isAbsolute(value)) {
        throw new UsageError(
          `--remote-root takes the absolute path where the jobs' nodes see the project, got ${JSON.stringify(value)}`,
        );
      }
      a.remoteRoot = path.resolve(value);
      return;
    case "target":
      a.targets.push(value);
      return;
    case "only":
      if (value === "") throw new UsageError("--only needs a map element's label (e.g. sub-07)");
      a.only.push(value);
      return;
  }
}

export const RUN_HELP = `usage: memori run MODULE [options]

Runs the pipeline a module exports (JavaScript, or TypeScript: .ts, .mts), skipping every stage
whose code, inputs and output files are unchanged. The module exports a Pipeline, or
definePipeline({ params, pipeline }) to declare parameters; the stages fed by "start" receive
the parameters' values by name.

options:
      --export NAME         the export that holds the pipeline (default: the default export)
      --param NAME=VALUE    a parameter's value (repeat for each; a list: a,b,c or a JSON array)
      --config FILE         a JSON object of parameter values; --param overrides it, and it
                            overrides the module's defaults
      --concurrency N       run at most N stages and map elements at once (default: CPUs;
                            with --executor slurm, 100 jobs)
      --keep-going          after a failure, run everything that does not depend on it
      --executor local|slurm
                            where stages run: local (this machine, the default), or slurm (one
                            job per stage or map element on the SLURM cluster this host
                            submits to, with the resources the module declares; job files
                            and logs in <hashOutput>/.memori-jobs/)
      --slurm-partition P   the jobs' partition (over the module's default resources)
      --latency-wait S      seconds a completed job's result files may take to show on this
                            host (a network file system); default 5
      --remote-root PATH    where the jobs' nodes see the project (its directory with
                            package.json) when they mount it elsewhere: paths under it are
                            handed to jobs, and taken back, under PATH
      --dry-run             say what would run and why, and the parameters; run nothing, write
                            nothing
      --target STAGE        run only STAGE and what it needs (repeat for several)
      --only LABEL          only the map elements labelled LABEL (repeat for several);
                            stages that need a map's other elements are left out
  -h, --help                this help; with a module, its parameters too

Parameters are reported on stderr with where each value came from (default, config, --param).

exit status: 0 when everything ran or was cached; 1 when anything failed (named on stderr),
or the module could not be evaluated; 2 for a usage error (an option, a parameter, the config
file, the module's path or export).

examples:
  memori run pipeline.ts --dry-run
  memori run pipeline.ts --param subjects=sub-01,sub-02 --param fwhm=8
  memori run pipeline.js --config params.json --concurrency 8 --keep-going
  memori run pipeline.ts --target smooth --only sub-07 --dry-run
  memori run pipeline.ts --executor slurm --slurm-partition short --latency-wait 30
`;
