import type { ChildProcess, StdioOptions } from "node:child_process";
import { stat } from "node:fs/promises";
import { constants } from "node:os";
import path from "node:path";
import { readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { callAccess, callSignal } from "./call-signal.js";
import { canTrace, parseTrace, traced } from "./trace.js";
import { signalBelow, stopTree } from "./process-tree.js";
import { MemoriError, messageOf } from "./errors.js";
import { childProcess, crypto } from "./lazy-modules.js";
import { which } from "./which.js";

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

/** Set while an interrupted process winds down: no new process may start. */
let stopping = false;

/** The stops in progress, by process: its promise settles once the stop is complete. */
const stops = new Map<ChildProcess, Promise<void>>();

/** Processes started under strace: stopped through what they trace. */
const tracers = new WeakSet<ChildProcess>();

/** Stop a process and what it started (once, however often asked). */
function stop(child: ChildProcess): Promise<void> {
  let stopped = stops.get(child);
  if (stopped === undefined && child.pid !== undefined) {
    stopped = stopTree(child.pid, { spareRoot: tracers.has(child) });
    stops.set(child, stopped);
  }
  return stopped ?? Promise.resolve();
}

/**
 * Stop every process started by `runProcess` that is still running, and what each started
 * (SIGTERM, then SIGKILL after 3 s); until {@link resumeProcesses}, `runProcess` starts nothing
 * (it rejects with reason `interrupted`). A pipeline interrupted by a signal does this: its
 * stages' processes must not outlive the run, nor start while it winds down.
 */
export function stopProcesses(): void {
  stopping = true;
  for (const child of live) void stop(child);
}

/** Let `runProcess` start processes again (after {@link stopProcesses}). */
export function resumeProcesses(): void {
  stopping = false;
}

const FORWARDED = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
const running = new Set<ChildProcess>();
/** Every process `runProcess` started that has not ended. */
const live = new Set<ChildProcess>();
let received: NodeJS.Signals | undefined;

function forward(signal: NodeJS.Signals): void {
  received = signal;
  for (const child of running) {
    // Under strace, to the traced process: strace itself would detach and let it run on.
    if (tracers.has(child) && child.pid !== undefined) signalBelow(child.pid, signal);
    else child.kill(signal);
  }
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
  // Inside a stage whose files are tracked: the files the process tree opens, through strace.
  const access = callAccess();
  const untraced = access?.untraced ?? false;
  const log =
    access !== undefined && canTrace()
      ? path.join(tmpdir(), `memori-trace-${crypto().randomUUID()}.log`)
      : undefined;
  // Probing for strace, and starting the process under it, are not blind spots.
  if (access !== undefined)
    access.untraced = log === undefined ? "strace is not available" : untraced;
  const [program, programArgs] = log === undefined ? [file, args] : traced(file, args, log);
  const readTrace = async () => {
    if (log === undefined || access === undefined) return;
    try {
      const found = parseTrace(
        await readFile(log, "utf8"),
        path.resolve(options.cwd ?? "."),
        access.cwd,
      );
      for (const read of found.reads) access.reads.add(read);
      for (const write of found.writes) access.writes.add(write);
    } catch {
      access.untraced = "its trace could not be read";
    } finally {
      await rm(log, { force: true });
    }
  };
  // Under strace, a missing program would be strace's failure (status 1): say it as without.
  const found =
    log === undefined || shell
      ? Promise.resolve(true)
      : file.includes("/")
        ? stat(path.resolve(options.cwd ?? ".", file)).then(
            () => true,
            () => false,
          )
        : which(file, options.env ?? process.env).then((at) => at !== undefined);
  return found.then((exists) => {
    if (!exists) {
      void rm(log!, { force: true });
      throw new MemoriError("not-found", `command not found: ${file}`);
    }
    return started();
  });
  function started(): Promise<number> {
    // Looking the program up took a moment: the run may have been stopped meanwhile (and even
    // have ended): start nothing then, or it would outlive the run.
    if (stopping || (options.signal ?? callSignal())?.aborted) {
      return Promise.reject(
        new InterruptedError(`${file} was not started: the run was interrupted.`, 130),
      );
    }
    return new Promise((resolve, reject) => {
      const before = access?.untraced ?? false;
      const child = childProcess().spawn(program, programArgs, {
        cwd: options.cwd,
        env: options.env,
        stdio: options.stdio ?? "inherit",
      });
      // Started under strace: its files are seen (the spawn itself is not a blind spot).
      if (access !== undefined && log !== undefined) access.untraced = before;
      if (log !== undefined) tracers.add(child);
      const untrack = options.forwardSignals ? track(child) : () => undefined;
      live.add(child);
      const signal = options.signal ?? callSignal();
      const onAbort = () => void stop(child);
      if (signal?.aborted) onAbort();
      else signal?.addEventListener("abort", onAbort, { once: true });
      const done = () => {
        live.delete(child);
        untrack();
        signal?.removeEventListener("abort", onAbort);
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
        const stopped = stops.get(child);
        void Promise.all([stopped, readTrace()]).then(() => {
          // Settled only when nothing the process started runs any more.
          stops.delete(child);
          done();
          settle(exitStatus(code, killedBy), stopped !== undefined);
        });
      });
      const settle = (status: number, stopped: boolean) => {
        if (stopped || signal?.aborted) {
          const why = signal?.aborted ? messageOf(signal.reason) : "the run was interrupted";
          reject(
            new InterruptedError(
              `${file} was stopped (${why}), with what it started; nothing was recorded.`,
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
      };
    });
  }
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
