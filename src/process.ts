import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { access, constants as fsConstants, stat } from "node:fs/promises";
import { constants } from "node:os";
import path from "node:path";
import { callSignal } from "./call-signal.js";
import { MemoriError, messageOf } from "./errors.js";

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
  /**
   * Stops the process when aborted: SIGTERM to it and the processes it started, then SIGKILL to
   * those still running 3 s later;
   * the promise rejects with reason `interrupted`. Inside a stage, the stage call's own signal
   * (fired by its `timeout` or an interrupted pipeline) is used when this is not given.
   * @default the current stage call's signal
   */
  readonly signal?: AbortSignal;
}

/** How long a process has to end after SIGTERM before it gets SIGKILL. */
const KILL_GRACE_MS = 3000;

/**
 * The processes below `pid` (children first found, then theirs), read from /proc where there
 * is one: a shell script's own children die with it, not after it.
 */
function descendants(pid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return [];
  }
  const children = new Map<number, number[]>();
  for (const entry of entries) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses; it ends at the last ")".
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // the process ended meanwhile
    }
  }
  const found: number[] = [];
  for (let i = -1; i < found.length; i++) {
    for (const child of children.get(i < 0 ? pid : found[i]!) ?? []) found.push(child);
  }
  return found;
}

/** Set while an interrupted process winds down: no new process may start. */
let stopping = false;

/**
 * Stop every process started by `runProcess` that is still running, and what each started:
 * SIGTERM, then SIGKILL 3 s later; until {@link resumeProcesses}, `runProcess` starts nothing
 * (it rejects with reason `interrupted`). A pipeline interrupted by a signal does this: its
 * stages' processes must not outlive the run, nor start while it winds down.
 */
export function stopProcesses(): void {
  stopping = true;
  for (const child of live) {
    killTree(child, "SIGTERM");
    setTimeout(
      () => child.exitCode === null && child.signalCode === null && killTree(child, "SIGKILL"),
      KILL_GRACE_MS,
    ).unref();
  }
}

/** Let `runProcess` start processes again (after {@link stopProcesses}). */
export function resumeProcesses(): void {
  stopping = false;
}

/** Signal a process and everything it started. */
function killTree(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  for (const pid of descendants(child.pid)) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
  child.kill(signal);
}

const FORWARDED = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
const running = new Set<ChildProcess>();
/** Every process `runProcess` started that has not ended. */
const live = new Set<ChildProcess>();
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
  if (stopping) {
    return Promise.reject(
      new InterruptedError(`${file} was not started: the run was interrupted.`, 130),
    );
  }
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: options.stdio ?? "inherit",
    });
    const untrack = options.forwardSignals ? track(child) : () => undefined;
    live.add(child);
    const signal = options.signal ?? callSignal();
    let killer: NodeJS.Timeout | undefined;
    const stop = () => {
      killTree(child, "SIGTERM");
      killer = setTimeout(() => killTree(child, "SIGKILL"), KILL_GRACE_MS);
      killer.unref();
    };
    if (signal?.aborted) stop();
    else signal?.addEventListener("abort", stop, { once: true });
    const done = () => {
      live.delete(child);
      untrack();
      clearTimeout(killer);
      signal?.removeEventListener("abort", stop);
    };
    child.on("error", (error: NodeJS.ErrnoException) => {
      done();
      if (error.code === "ENOENT" && !shell) {
        reject(new MemoriError("not-found", `command not found: ${file}`, { cause: error }));
      } else {
        reject(error);
      }
    });
    child.on("close", (code, killedBy) => {
      done();
      const status = exitStatus(code, killedBy);
      if (signal?.aborted) {
        reject(
          new InterruptedError(
            `${file} was stopped (${messageOf(signal.reason)}); nothing was recorded.`,
            status,
          ),
        );
      } else if (options.forwardSignals && received !== undefined) {
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
