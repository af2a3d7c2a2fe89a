import type { ChildProcess, StdioOptions } from "node:child_process";
import { stat } from "node:fs/promises";
import { constants } from "node:os";
import path from "node:path";
import { readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { callAccess, callSignal } from "./call-signal.js";
import { canTrace, parseTrace, traced } from "./trace.js";
import { watchProcess } from "./process-usage.js";
import { signalBelow, stopTree } from "./process-tree.js";
import { MemoriError, describe, messageOf } from "./errors.js";
import { childProcess, crypto } from "./lazy-modules.js";
import { which } from "./which.js";
import {
  CAPTURE_LIMIT,
  STDERR_TAIL_BYTES,
  Tail,
  commandName,
  exitStatus,
  processFailed,
  type ProcessOutput,
} from "./process-output.js";

export { exitStatus, type ProcessOutput } from "./process-output.js";

/** Options of {@link runProcess}. */
export interface RunProcessOptions {
  /** Working directory. @default process.cwd() */
  readonly cwd?: string;
  /** Environment. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Where the child's input and output go, as for `child_process.spawn`. Without it, stdin and
   * stdout are this process's own, and stderr passes through memori: each chunk is written to
   * this process's stderr as it comes (so it streams live, though not to a terminal: a program
   * that colours its stderr only on a terminal stops colouring), and its last 8 KiB are kept for
   * the {@link ProcessFailedError} (`stderrTail`). Given (`"inherit"` gives the child the terminal
   * itself), it is used as it is and the error has no tail; a stream given as `"pipe"` is read
   * by memori (stdout dropped, stderr's tail kept), so the child never blocks on a full pipe.
   * Not with `capture`.
   * @default ["inherit", "inherit", "pipe"], stderr passed through
   */
  readonly stdio?: StdioOptions;
  /**
   * Reject with a {@link ProcessFailedError} (reason `process-failed`) when the process exits
   * with a non-zero status or is killed by a signal, so that a failed step inside a stage fails
   * the stage and is never recorded. `false`: resolve with the status (or the captured output)
   * whatever it is, and check it yourself.
   * @default true
   */
  readonly reject?: boolean;
  /**
   * Keep what the process writes to stdout and stderr instead of showing it, and resolve to a
   * {@link ProcessOutput} (`{ status, stdout, stderr, ... }`) rather than the status. Each stream
   * keeps its last {@link captureLimit} bytes; what came before is dropped (`truncated` says
   * so), so a process that writes gigabytes costs no more memory than that. stdin stays this
   * process's own.
   * @default false
   */
  readonly capture?: boolean;
  /**
   * With `capture`, how many bytes of each stream are kept at most: the last ones.
   * @default 1048576 (1 MiB, as `child_process.execFile`'s `maxBuffer`)
   */
  readonly captureLimit?: number;
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

/**
 * Run a command. A string runs through `/bin/sh -c`; an array runs the program directly with
 * those arguments. Its output streams live by default (stderr through memori, which keeps its
 * end for the error: see {@link RunProcessOptions.stdio}).
 *
 * It resolves to the exit status, 0, once the process (and everything it started) has ended;
 * a non-zero exit status or a signal rejects with a {@link ProcessFailedError} carrying the exit
 * code, the signal and the end of stderr, so inside a stage a failed step fails the stage and
 * is never recorded. With `reject: false` it resolves to the status whatever it is (128 + N
 * when signal N ended the process). With `capture: true` it resolves to a
 * {@link ProcessOutput} instead, with what the process wrote to stdout and stderr.
 *
 * A missing program rejects with reason `not-found`; a process stopped by an abort signal (the
 * stage's `timeout`, an interrupted pipeline) or by a forwarded signal rejects with an
 * {@link InterruptedError}, whatever `reject` says.
 *
 * @example
 * ```ts
 * await runProcess(["bet", t1w, brain, "-f", "0.5"]); // rejects if bet fails
 *
 * const { stdout } = await runProcess(["fslstats", brain, "-V"], { capture: true });
 * const voxels = Number(stdout.split(" ")[0]);
 *
 * const status = await runProcess("grep -q sub-07 subjects.txt", { reject: false });
 * if (status === 1) console.log("sub-07 is not listed");
 * ```
 */
export function runProcess(
  command: string | readonly string[],
  options: RunProcessOptions & { readonly capture: true },
): Promise<ProcessOutput>;
export function runProcess(
  command: string | readonly string[],
  options?: RunProcessOptions & { readonly capture?: false },
): Promise<number>;
export function runProcess(
  command: string | readonly string[],
  options?: RunProcessOptions,
): Promise<number | ProcessOutput>;
export function runProcess(
  command: string | readonly string[],
  options: RunProcessOptions = {},
): Promise<number | ProcessOutput> {
  return runCommand(command, options);
}

/**
 * {@link runProcess}, naming the command in its errors as `name` (`scriptFunction` names the
 * script as it was given, not the path it was found at).
 */
export function runCommand(
  command: string | readonly string[],
  options: RunProcessOptions,
  name: string = commandName(command),
): Promise<number | ProcessOutput> {
  const [file, args, shell] =
    typeof command === "string"
      ? ["/bin/sh", ["-c", command], true]
      : [command[0], command.slice(1), false];
  if (file === undefined || file === "") {
    return Promise.reject(
      new MemoriError("invalid-argument", "runProcess() was given an empty command."),
    );
  }
  const capture = options.capture ?? false;
  const captureLimit = options.captureLimit ?? CAPTURE_LIMIT;
  if (capture && options.stdio !== undefined) {
    return Promise.reject(
      new MemoriError(
        "invalid-option",
        "runProcess() was given both `capture` and `stdio`: capture takes stdout and stderr; give one of them.",
      ),
    );
  }
  if (!Number.isSafeInteger(captureLimit) || captureLimit < 1) {
    return Promise.reject(
      new MemoriError(
        "invalid-option",
        `Expected \`captureLimit\` to be a whole number of bytes >= 1, got ${describe(captureLimit)}.`,
      ),
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
      for (const listed of found.lists) access.lists.add(listed);
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
  function started(): Promise<number | ProcessOutput> {
    // Looking the program up took a moment: the run may have been stopped meanwhile (and even
    // have ended): start nothing then, or it would outlive the run.
    if (stopping || (options.signal ?? callSignal())?.aborted) {
      return Promise.reject(
        new InterruptedError(`${file} was not started: the run was interrupted.`, 130),
      );
    }
    return new Promise((resolve, reject) => {
      const before = access?.untraced ?? false;
      const passThrough = options.stdio === undefined && !capture;
      const child = childProcess().spawn(program, programArgs, {
        cwd: options.cwd,
        env: options.env,
        stdio: options.stdio ?? ["inherit", capture ? "pipe" : "inherit", "pipe"],
      });
      // Every pipe is read, so the child never blocks on a full one: captured, passed through
      // (stderr, keeping its end for the error), or dropped.
      const stdout = capture ? new Tail(captureLimit) : undefined;
      const stderr = capture ? new Tail(captureLimit) : undefined;
      const stderrTail = new Tail(STDERR_TAIL_BYTES);
      child.stdout?.on("data", (chunk: Buffer) => stdout?.push(chunk));
      child.stderr?.on("data", (chunk: Buffer) => {
        stderr?.push(chunk);
        stderrTail.push(chunk);
        if (passThrough) process.stderr.write(chunk);
      });
      // Started under strace: its files are seen (the spawn itself is not a blind spot).
      if (access !== undefined && log !== undefined) access.untraced = before;
      if (log !== undefined) tracers.add(child);
      watchProcess(child, command, log !== undefined);
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
          settle(code, killedBy, stopped !== undefined);
        });
      });
      const settle = (code: number | null, killedBy: NodeJS.Signals | null, stopped: boolean) => {
        const status = exitStatus(code, killedBy);
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
          const captured =
            stdout === undefined || stderr === undefined
              ? undefined
              : { stdout: stdout.text(), stderr: stderr.text() };
          if (status !== 0 && (options.reject ?? true)) {
            reject(processFailed(name, command, code, killedBy, stderrTail.text(), captured));
          } else if (captured === undefined) {
            resolve(status);
          } else {
            resolve({
              status,
              exitCode: code ?? undefined,
              signal: killedBy ?? undefined,
              ...captured,
              truncated: { stdout: stdout!.truncated, stderr: stderr!.truncated },
            });
          }
        }
      };
    });
  }
}

/**
 * A process was stopped, or not started, because its run was interrupted: its call's abort
 * signal fired (a stage's `timeout`, an interrupted pipeline, the `signal` option), or this
 * process received a signal and passed it on (`forwardSignals`). Its reason is `interrupted`;
 * nothing is recorded for the stage it ran in.
 *
 * @example
 * ```ts
 * try {
 *   await runProcess(["recon-all", "-s", subject, "-all"], { forwardSignals: true });
 * } catch (error) {
 *   if (error instanceof InterruptedError) process.exit(error.status); // 130 after Ctrl-C
 *   throw error;
 * }
 * ```
 */
export class InterruptedError extends MemoriError {
  constructor(
    message: string,
    /** The status a shell would report: 128 + the signal number. */
    readonly status: number,
  ) {
    super("interrupted", message);
  }
}
