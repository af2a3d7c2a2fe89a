import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { access, constants as fsConstants, stat } from "node:fs/promises";
import { constants } from "node:os";
import path from "node:path";
import { MemoriError } from "./errors.js";

/** Options of {@link runProcess}. */
export interface RunProcessOptions {
  /** Working directory. @default process.cwd() */
  readonly cwd?: string;
  /** Environment. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Where the child's output goes: `"inherit"` streams it live to this process's stdout and
   * stderr.
   * @default "inherit"
   */
  readonly stdio?: StdioOptions;
  /**
   * While the child runs, pass SIGINT, SIGTERM and SIGHUP received by this process on to it,
   * and reject with reason `interrupted` once it ends (so its result is never recorded).
   * @default false
   */
  readonly forwardSignals?: boolean;
}

const FORWARDED = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
const running = new Set<ChildProcess>();
let received: NodeJS.Signals | undefined;

function forward(signal: NodeJS.Signals): void {
  received = signal;
  for (const child of running) child.kill(signal);
}

function track(child: ChildProcess): () => void {
  if (running.size === 0) for (const signal of FORWARDED) process.on(signal, forward);
  running.add(child);
  return () => {
    running.delete(child);
    if (running.size === 0) for (const signal of FORWARDED) process.off(signal, forward);
  };
}

/** The exit status a shell reports for a process: its code, or 128 + the signal number. */
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const number = signal === null ? undefined : constants.signals[signal];
  return 128 + (number ?? 0);
}

/**
 * Run a command and resolve to its exit status (128 + N if killed by signal N). A string runs
 * through `/bin/sh -c`; an array runs the program directly with those arguments. Output is
 * streamed live by default.
 *
 * @example
 * ```ts
 * const status = await runProcess(["bet", t1, brain, "-f", "0.5"]);
 * if (status !== 0) throw new Error(`bet failed with ${status}`);
 * ```
 */
export function runProcess(
  command: string | readonly string[],
  options: RunProcessOptions = {},
): Promise<number> {
  const [file, args, shell] =
    typeof command === "string"
      ? ["/bin/sh", ["-c", command], true]
      : [command[0], command.slice(1), false];
  if (file === undefined || file === "") {
    return Promise.reject(
      new MemoriError("invalid-argument", "runProcess() was given an empty command."),
    );
  }
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: options.stdio ?? "inherit",
    });
    const untrack = options.forwardSignals ? track(child) : () => undefined;
    child.on("error", (error: NodeJS.ErrnoException) => {
      untrack();
      if (error.code === "ENOENT" && !shell) {
        reject(new MemoriError("not-found", `command not found: ${file}`, { cause: error }));
      } else {
        reject(error);
      }
    });
    child.on("close", (code, signal) => {
      untrack();
      const status = exitStatus(code, signal);
      if (options.forwardSignals && received !== undefined) {
        const signalName = received;
        reject(
          new InterruptedError(
            `${file} was interrupted by ${signalName}; nothing was recorded.`,
            128 + (constants.signals[signalName] ?? 0),
          ),
        );
      } else {
        resolve(status);
      }
    });
  });
}

/** A process ended because this process received a signal and passed it on. */
export class InterruptedError extends MemoriError {
  constructor(
    message: string,
    /** The status a shell would report: 128 + the signal number. */
    readonly status: number,
  ) {
    super("interrupted", message);
  }
}

/**
 * Find a command the way a shell does: a name with a `/` is a path; a bare name is looked up
 * on `PATH`. Resolves to the absolute path of an executable file, or `undefined`.
 */
export async function which(
  command: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  const candidates = command.includes("/")
    ? [path.resolve(command)]
    : (env.PATH ?? "")
        .split(path.delimiter)
        .filter(Boolean)
        .map((dir) => path.resolve(dir, command));
  for (const candidate of candidates) {
    try {
      if ((await stat(candidate)).isFile()) {
        await access(candidate, fsConstants.X_OK);
        return candidate;
      }
    } catch {
      // try the next one
    }
  }
  return undefined;
}
