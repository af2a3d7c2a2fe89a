/**
 * The `memori` command line: options end at the command; everything after it belongs to the
 * command (so `memori echo -n hi` passes `-n` to echo). Variadic options (`-c`, `-o`,
 * `--argK`, `--arg_outputK`) take values up to the next option; put `--` before a command
 * that would otherwise be read as one of their values. Python memori's spellings
 * (`--hash_output`, `--log_file`, `--arg_output0`) are accepted beside the kebab-case ones.
 */

/** What the command line asks for. */
export interface MemoriArgs {
  hashOutput: string | undefined;
  dependents: string[];
  outputs: string[];
  name: string | undefined;
  parallel: number | undefined;
  kill: boolean;
  verbose: boolean;
  alwaysHash: boolean;
  /** Replaces the command's content as its code identity. */
  codeVersion: string | undefined;
  logFile: string | undefined;
  command: string;
  args: string[];
  /** `--argK` lists by K, in K order. */
  parallelArgs: Map<number, string[]>;
  /** `--arg_outputK` lists by K. */
  parallelOutputs: Map<number, string[]>;
}

/** A command line that cannot be understood; exit status 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

export type Parsed =
  { help: true } | { help: false; version: true } | { help: false; args: MemoriArgs };

const SHORT: Record<string, string> = {
  d: "hash-output",
  c: "dependents",
  o: "outputs",
  n: "name",
  p: "parallel",
  k: "kill",
  h: "help",
};
const VALUE = new Set(["hash-output", "name", "parallel", "log-file", "code-version"]);
const LIST = new Set(["dependents", "outputs"]);
const FLAG = new Set(["kill", "verbose", "help", "version", "always-hash"]);

const PARALLEL_OPTION = /^--arg(_output|-output)?(\d+)$/;

function isOption(token: string): boolean {
  return token.startsWith("-") && token !== "-";
}

/** Parse `argv` (without node and the script). */
export function parseMemoriArgs(argv: readonly string[]): Parsed {
  const a: MemoriArgs = {
    hashOutput: undefined,
    dependents: [],
    outputs: [],
    name: undefined,
    parallel: undefined,
    kill: false,
    verbose: false,
    alwaysHash: false,
    codeVersion: undefined,
    logFile: undefined,
    command: "",
    args: [],
    parallelArgs: new Map(),
    parallelOutputs: new Map(),
  };
  let i = 0;
  const take = (option: string): string => {
    const value = argv[++i];
    if (value === undefined || isOption(value)) throw new UsageError(`${option} needs a value`);
    return value;
  };
  const takeList = (option: string): string[] => {
    const values: string[] = [];
    while (i + 1 < argv.length && !isOption(argv[i + 1]!)) values.push(argv[++i]!);
    if (values.length === 0) throw new UsageError(`${option} needs at least one value`);
    return values;
  };
  let commandAt = -1;
  for (; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === "--") {
      commandAt = i + 1;
      break;
    }
    if (!isOption(token)) {
      commandAt = i;
      break;
    }
    let key: string;
    let inline: string | undefined;
    if (token.startsWith("--")) {
      const eq = token.indexOf("=");
      key = (eq === -1 ? token.slice(2) : token.slice(2, eq)).replace(/_/g, "-");
      inline = eq === -1 ? undefined : token.slice(eq + 1);
    } else {
      const short = SHORT[token.slice(1)];
      if (short === undefined) throw new UsageError(`unknown option ${token}`);
      key = short;
    }
    const parallelMatch = /^arg(-output)?(\d+)$/.exec(key);
    if (parallelMatch) {
      const k = Number(parallelMatch[2]);
      const target = parallelMatch[1] ? a.parallelOutputs : a.parallelArgs;
      if (target.has(k)) throw new UsageError(`${token} is given twice`);
      target.set(k, inline !== undefined ? [inline] : takeList(token));
      continue;
    }
    if (FLAG.has(key)) {
      if (inline !== undefined) throw new UsageError(`${token} takes no value`);
      if (key === "help") return { help: true };
      if (key === "version") return { help: false, version: true };
      if (key === "kill") a.kill = true;
      else if (key === "always-hash") a.alwaysHash = true;
      else a.verbose = true;
      continue;
    }
    if (VALUE.has(key)) {
      const value = inline ?? take(token);
      if (key === "hash-output") a.hashOutput = value;
      else if (key === "name") a.name = value;
      else if (key === "log-file") a.logFile = value;
      else if (key === "code-version") {
        if (value === "") throw new UsageError(`${token} needs a non-empty version`);
        a.codeVersion = value;
      } else {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 1) {
          throw new UsageError(
            `${token} takes a whole number of processes >= 1, got ${JSON.stringify(value)}`,
          );
        }
        a.parallel = n;
      }
      continue;
    }
    if (LIST.has(key)) {
      const values = inline !== undefined ? [inline] : takeList(token);
      (key === "dependents" ? a.dependents : a.outputs).push(...values);
      continue;
    }
    throw new UsageError(`unknown option ${token}`);
  }
  if (commandAt === -1 || commandAt >= argv.length) {
    throw new UsageError(
      "no command given. Usage: memori [options] command [args...]; if the command follows -c or -o, put -- before it",
    );
  }
  a.command = argv[commandAt]!;
  a.args = argv.slice(commandAt + 1);
  if (a.parallel !== undefined) {
    // In parallel mode, --argK and --arg_outputK lists may follow the command (as Python
    // memori allows); what comes before the first of them is passed to every run.
    const first = a.args.findIndex((t) => PARALLEL_OPTION.test(t));
    if (first !== -1) {
      const rest = a.args.slice(first);
      a.args = a.args.slice(0, first);
      for (let j = 0; j < rest.length; j++) {
        const match = PARALLEL_OPTION.exec(rest[j]!);
        if (!match) throw new UsageError(`unexpected ${rest[j]} among the --argK lists`);
        const k = Number(match[2]);
        const target = match[1] ? a.parallelOutputs : a.parallelArgs;
        if (target.has(k)) throw new UsageError(`${rest[j]} is given twice`);
        const values: string[] = [];
        while (j + 1 < rest.length && !PARALLEL_OPTION.test(rest[j + 1]!)) values.push(rest[++j]!);
        if (values.length === 0) throw new UsageError(`${match[0]} needs at least one value`);
        target.set(k, values);
      }
    }
  }
  if (a.parallelArgs.size > 0 && a.parallel === undefined) {
    throw new UsageError("--argK lists are for parallel mode: add -p N");
  }
  if (a.parallel !== undefined && a.parallelArgs.size === 0) {
    throw new UsageError(
      "-p/--parallel needs at least one --arg0 list of arguments (and --arg1, ...)",
    );
  }
  for (const k of a.parallelOutputs.keys()) {
    if (!a.parallelArgs.has(k)) throw new UsageError(`--arg_output${k} has no matching --arg${k}`);
  }
  if (a.parallel !== undefined && a.outputs.length > 0) {
    throw new UsageError(
      "in parallel mode, give expected outputs per run with --arg_outputK, not -o",
    );
  }
  return { help: false, args: a };
}

export const MEMORI_HELP = `usage: memori [options] command [args...]

Runs command once, and skips it on later calls while the command (its file's content), the
scripts it depends on, its arguments (files by content) and its expected outputs are
unchanged. Without -d it just runs the command.

options:
  -d, --hash-output DIR     directory for the state files (enables memoization)
  -c, --dependents FILE...  scripts the command depends on; their content is hashed too
                            (a bare name: a file here, or else one on PATH)
  -o, --outputs FILE...     files the command must produce; re-run if one is missing or changed
  -n, --name NAME           name of the state files (default: the command's base name and a
                            digest of the command line, so each call keeps its own state)
  -p, --parallel N          run the command once per --argK list, at most N at a time,
                            each memoized on its own (state in DIR/parallelK/)
      --argK ARG...         arguments of run K (K = 0, 1, ...), with -p
      --arg_outputK FILE... expected outputs of run K, with -p
  -k, --kill                if the command fails, kill the parent process
      --verbose             say what was decided and why, on stderr
      --log-file FILE       also write that to FILE
      --always-hash         hash file contents every time, never trusting timestamps
                            (for file systems whose timestamps cannot be trusted)
      --code-version V      the command's version: it re-runs when V changes, not when the
                            content of the command or of -c scripts does
  -h, --help                this help
      --version             memori's version

  memori cache ls|show|why|gc|clear|accept DIR ...   inspect and manage a state directory
                            (memori cache --help)
  memori run MODULE [--param NAME=VALUE ...] ...    run the pipeline a module exports,
                            with its parameters (memori run --help)
  memori log [RUN] [DIR]    what past runs did, and why: runs, a run's tasks, a trace file
                            (memori log --help)
  memori report [RUN] [DIR] [-o FILE]
                            a run's HTML report: summary, DAG, timeline, failures, tasks
                            (memori report --help)

Options end at the command: everything after it is passed to the command. If the command
follows -c or -o, or is a program called cache, log, report or run, put -- before it. The
command is found as a shell finds it: a bare name on PATH only, so write ./script.sh for a
script in this directory.
Python memori's spellings (--hash_output, --log_file, --arg_output0) work too.

exit status: the command's own when it ran (128+N if killed by signal N); 0 when skipped;
in parallel mode, non-zero if any run failed; 2 for a usage error; 127 if the command is
not found.

examples:
  memori -d cache/ echo 1                 # prints 1
  memori -d cache/ echo 1                 # prints nothing: skipped
  memori -d cache/ -c lib.sh -o out.nii -- ./script.sh in.nii out.nii
  memori -d cache/ -p 4 ./script.sh --arg0 a.nii --arg1 b.nii --arg_output0 a_out.nii
`;
