#!/usr/bin/env node
/**
 * `memori [options] command [args...]`: memoize any command. A command run is a Stage whose
 * function runs the process (see scriptFunction). What checking a call needs is imported up
 * front (it is bundled into the program, see scripts/bundle.mjs); what only running it needs
 * (starting processes, writing state) the engine loads when a call has to run, and
 * `memori cache`, `memori log`, `memori report`, `memori run`, `memori run-stage` (a SLURM job's call) and parallel runs load
 * their own modules.
 */
import { accessSync, appendFileSync, constants, existsSync, mkdirSync, statSync } from "node:fs";
import path from "node:path";
import { MEMORI_HELP, UsageError, parseMemoriArgs, type MemoriArgs } from "./args.js";
import { callerPid } from "./caller.js";
import type { Settled } from "../engine/queue.js";
import { MemoriError } from "../errors.js";
import { sha256 } from "../hashing/files.js";
import { ProcessFailedError, resolveScript, scriptFunction } from "../script.js";
import { DEFINITION } from "../engine/node.js";
import { Stage } from "../stage.js";
import { recordCommand, type CommandEnd } from "../records/command-record.js";
import { memoriVersion } from "../records/version.js";
import { parallelRoot } from "../state/location.js";
import { checkStateName } from "../state/store.js";
import { isFile, whichSync } from "../which.js";

/**
 * The state name of a call without `-n`: the command's base name and a digest of the command
 * and its arguments as given, so `proc.sh sub-01` and `proc.sh sub-02` keep a state each.
 */
export function callStateName(command: string, args: readonly string[]): string {
  const digest = sha256(JSON.stringify([command, ...args])).slice(0, 8);
  return `${path.basename(command)}-${digest}`;
}

interface Run {
  args: string[];
  outputs: string[];
  hashOutput: string | undefined;
}

function say(message: string): void {
  process.stderr.write(`memori: ${message}\n`);
}

function makeLogger(args: MemoriArgs): {
  info(m: string): void;
  warn(m: string): void;
  error(m: string): void;
} {
  const toFile = (level: string, message: string) => {
    if (args.logFile !== undefined) {
      appendFileSync(args.logFile, `${new Date().toISOString()} ${level} ${message}\n`);
    }
  };
  return {
    info: (message) => {
      if (args.verbose) say(message);
      toFile("INFO", message);
    },
    warn: (message) => {
      say(`warning: ${message}`);
      toFile("WARN", message);
    },
    error: (message) => {
      say(message);
      toFile("ERROR", message);
    },
  };
}

/** Whether `file` may be executed by this process (synchronous: see which.ts). */
function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Why `command` was not found, and what to write instead. As in a shell, a bare name is looked
 * up on PATH only, so a script in the working directory is named `./script.sh`: the message
 * says so when such a file is here, and says when a file is there but not executable.
 */
function commandNotFound(command: string): string {
  const fix = (file: string) => `chmod +x ${file}, or write sh ${file}`;
  if (command.includes("/")) {
    if (!existsSync(command)) return `command not found: ${command} (no such file)`;
    if (!isFile(command)) return `command not found: ${command} is not a file`;
    return `command not found: ${command} is not executable: ${fix(command)}`;
  }
  if (!isFile(command)) return `command not found: ${command} (not on PATH)`;
  const local = `./${command}`;
  if (!isExecutable(command)) {
    return `command not found: ${command} is not on PATH; ${local} is here but not executable: ${fix(command)}`;
  }
  return `command not found: ${command} is not on PATH; ${local} is here: write ${local}`;
}

/** Why state files cannot be written to `dir`, if they cannot (synchronous: see which.ts). */
function checkWritable(dir: string): string | undefined {
  try {
    mkdirSync(dir, { recursive: true });
    if (!statSync(dir).isDirectory()) return "it is not a directory";
    accessSync(dir, constants.W_OK);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/**
 * For a command that only reads: a reader that stops reading (`memori log | head`) ends it,
 * quietly, rather than with Node's stack trace for the write that failed (EPIPE).
 */
function endWhenStdoutCloses(): void {
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(0);
    throw error;
  });
}

export async function main(argv: readonly string[]): Promise<number> {
  if (argv[0] === "cache") {
    if (["ls", "show", "why"].includes(argv[1] ?? "")) endWhenStdoutCloses();
    const { runCache } = await import("./cache.js");
    return runCache(
      argv.slice(1),
      (text) => process.stdout.write(text),
      (text) => process.stderr.write(text),
    );
  }
  if (argv[0] === "log") {
    endWhenStdoutCloses();
    const { runLog } = await import("./log.js");
    return runLog(
      argv.slice(1),
      (text) => process.stdout.write(text),
      (text) => process.stderr.write(text),
    );
  }
  if (argv[0] === "run-stage") {
    const { runStageCommand } = await import("./run-stage.js");
    return runStageCommand(
      argv.slice(1),
      (text) => process.stdout.write(text),
      (text) => process.stderr.write(text),
    );
  }
  if (argv[0] === "report") {
    const { runReport } = await import("./report.js");
    return runReport(
      argv.slice(1),
      (text) => process.stdout.write(text),
      (text) => process.stderr.write(text),
    );
  }
  if (argv[0] === "run") {
    const { runPipelineCommand } = await import("./run.js");
    return runPipelineCommand(
      argv.slice(1),
      (text) => process.stdout.write(text),
      (text) => process.stderr.write(text),
    );
  }
  let args: MemoriArgs;
  try {
    const parsed = parseMemoriArgs(argv);
    if (parsed.help) {
      process.stdout.write(MEMORI_HELP);
      return 0;
    }
    if ("version" in parsed) {
      process.stdout.write(`memori ${memoriVersion()}\n`);
      return 0;
    }
    args = parsed.args;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    say(`${error.message} (see memori --help)`);
    return 2;
  }
  const logger = makeLogger(args);

  const command = whichSync(args.command);
  if (command === undefined) {
    say(commandNotFound(args.command));
    return 127;
  }
  for (const dependent of args.dependents) {
    try {
      resolveScript(dependent, "dependent script", true);
    } catch {
      say(`dependent script not found: ${dependent} (not a file, nor on PATH)`);
      return 1;
    }
  }
  const name = args.name ?? callStateName(args.command, args.args);
  const nameProblem = checkStateName(name);
  if (nameProblem !== undefined) {
    say(`the name ${JSON.stringify(name)} ${nameProblem}; -n takes a plain file name`);
    return 2;
  }
  if (args.hashOutput !== undefined) {
    const problem = checkWritable(args.hashOutput);
    if (problem !== undefined) {
      say(`cannot write state files to ${args.hashOutput}: ${problem}`);
      return 1;
    }
  }

  const runs: Run[] =
    args.parallel === undefined
      ? [{ args: args.args, outputs: args.outputs, hashOutput: args.hashOutput }]
      : [...args.parallelArgs.keys()]
          .sort((x, y) => x - y)
          .map((k) => ({
            args: [...args.args, ...args.parallelArgs.get(k)!],
            outputs: args.parallelOutputs.get(k) ?? [],
            hashOutput:
              args.hashOutput === undefined ? undefined : parallelRoot(args.hashOutput, k),
          }));

  // The run's record, under the -d directory (never needed: a failure to write it is a warning).
  const recording = recordCommand(args.hashOutput, args.parallel !== undefined);
  const ends: CommandEnd[] = [];
  const runOne = async (run: Run, k = 0): Promise<number> => {
    const end = (status: number, error?: unknown, interrupted = false): number => {
      ends[k] = { status, interrupted, error };
      return status;
    };
    const fn = scriptFunction(command, {
      dependents: args.dependents,
      expectedOutputs: run.outputs,
      forwardSignals: true,
      // The command's own terminal: its stderr is not passed through memori (a program that
      // colours its output, or draws progress, on a terminal does so), and it says why it
      // failed itself.
      stdio: "inherit",
    });
    const outputs = ["output", ...run.outputs.map((_, i) => `output${i}`)];
    try {
      const stage = new Stage(fn, {
        name,
        hashOutput: run.hashOutput,
        outputs,
        logger,
        alwaysHash: args.alwaysHash,
        ...(args.codeVersion === undefined ? {} : { codeVersion: args.codeVersion }),
        ...(recording === undefined ? {} : { onEvent: recording.listener(k) }),
      });
      // In parallel mode, each element's state is one part of the -d directory: the others'
      // and the run records are not in any directory it hashes either (a dataset holding its
      // derivatives/ ran every element again on every invocation).
      if (args.parallel !== undefined) stage[DEFINITION].stateRoot = args.hashOutput;
      await stage.run(...run.args);
      return end(0);
    } catch (error) {
      // Only a command that was started is interrupted: process.js is loaded by then.
      const { InterruptedError } = await import("../process.js");
      if (error instanceof InterruptedError) {
        say(error.message);
        return end(error.status, error, true);
      }
      if (error instanceof ProcessFailedError) {
        // A missing expected output is always said; a failing command has said why itself.
        if (error.status === 1 && /did not produce/.test(error.message))
          logger.error(error.message);
        else logger.info(error.message);
        return end(error.status, error);
      }
      if (error instanceof MemoriError) {
        say(error.message);
        return end(1, error);
      }
      end(1, error);
      throw error;
    }
  };

  let status: number;
  if (runs.length === 1) {
    status = await runOne(runs[0]!).finally(() => recording?.finish(name, ends));
  } else {
    const { TaskQueue } = await import("../engine/queue.js");
    const queue = new TaskQueue<number>(args.parallel ?? 1);
    const settled = await Promise.all(
      runs.map(
        (run, priority) =>
          new Promise<Settled<number>>((done) =>
            queue.add({ priority, run: () => runOne(run, priority) }, done),
          ),
      ),
    );
    const statuses = settled.map((s) => (s.kind === "done" ? s.value : 1));
    recording?.finish(name, ends);
    const failed = statuses.filter((s) => s !== 0).length;
    if (failed > 0) say(`${failed} of ${runs.length} parallel runs failed`);
    status = statuses.find((s) => s !== 0) ?? 0;
  }
  if (args.kill && status !== 0) {
    const caller = callerPid();
    logger.info(`killing the parent process ${caller} because the command failed`);
    try {
      process.kill(caller, "SIGKILL");
    } catch (error) {
      say(`could not kill the parent process ${caller}: ${(error as Error).message}`);
    }
  }
  return status;
}

main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
    // A job ends with its call: what the stage's code left running (a worker pool's threads,
    // a timer) must not keep it, and its allocation, alive.
    if (process.argv[2] === "run-stage") process.exit(status);
  },
  (error: unknown) => {
    say(
      `unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    process.exitCode = 1;
  },
);
