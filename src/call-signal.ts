/**
 * The context of the stage call that code runs in: its abort signal, fired when the call times
 * out or the run is interrupted (`runProcess` reads it to kill the processes a stage started),
 * and where the files it opens are recorded (see read-tracking.ts).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { ProcessUsage } from "./records/run-record.js";

/**
 * What a recursive listing's path ends with (`readdir(dir, { recursive: true })`): what it
 * found is every entry below the directory, at any depth (hashing/listing.ts).
 */
export const RECURSIVE = "/**";

/** What a file was when the call's code first read it (its `stat`), or `null`: not there. */
export interface FileSeen {
  /** Its device (`stat`'s `dev`). */
  readonly dev: number;
  /** Its inode number. */
  readonly ino: number;
  /** Its size, bytes. */
  readonly size: number;
  /** Its modification time, ms since the epoch. */
  readonly mtimeMs: number;
  /** Its change time, ms since the epoch. */
  readonly ctimeMs: number;
}

/** The files a call's code opened in this process, when they are tracked. */
export class FileAccess {
  /** `skip`: memori's state directories, which listings leave out (hashing/listing.ts). */
  constructor(skip: readonly string[] = []) {
    this.skip = skip;
  }
  /** memori's state directories, which the listings in {@link listed} leave out. */
  readonly skip: readonly string[];
  /**
   * What each file its JavaScript read was just before it first read it (`stat`, following
   * links), by the name in {@link reads}: compared after the run, a file changed, replaced or
   * re-pointed meanwhile is told by its device, inode, size and times, whatever clock set them.
   * Files only a traced process read have none (their times are compared with {@link began}).
   */
  readonly seen = new Map<string, FileSeen | null>();
  /**
   * Each directory its JavaScript listed, as it first listed it (its listing, made just before;
   * hashing/listing.ts), by the name in {@link lists}: what the call saw, whatever changes
   * there while it runs.
   */
  readonly listed = new Map<string, string>();
  /**
   * The files it opened (or looked for) to read, as named: absolute, or relative to `cwd`.
   */
  readonly reads = new Set<string>();
  /**
   * Where each path its JavaScript resolved (`readlink`, `realpath`) led when it first did (its
   * real path, "" for nowhere), by the name in {@link reads}: what those calls returned is a
   * path, and a link re-pointed at a file with the same content must still count.
   */
  readonly links = new Map<string, string>();
  /** The files it opened to write (created, truncated), named the same way. */
  readonly writes = new Set<string>();
  /**
   * The directories it listed (`readdir`, `opendir`; `getdents` under strace), named the same
   * way; with `/**` after the path when listed with `recursive: true`.
   */
  readonly lists = new Set<string>();
  /** The working directory when the call began: relative paths are relative to it. */
  readonly cwd = process.cwd();
  /** When the call began (ms since the epoch): a file modified since changed while it ran. */
  readonly began = Date.now();
  /** It started a child process whose files are not seen (why, if known). */
  untraced: false | true | string = false;
}

/** A process a call started, once it ended (see process.ts, and the `stage:process` event). */
export interface ProcessEnded {
  /** The command as given to `runProcess`. */
  readonly command: string | readonly string[];
  /** Its process id. */
  readonly pid: number | undefined;
  /** Its exit code, when it exited. */
  readonly exitCode: number | undefined;
  /** The signal that ended it, when one did. */
  readonly signal: string | undefined;
  /** `Date.now()` when it started. */
  readonly start: number;
  /** What its process tree used (Linux: sampled from `/proc`). */
  readonly usage: ProcessUsage | undefined;
}

/** What a stage call's code runs with. */
export interface CallContext {
  /** The call's own abort signal, when it has one (a timeout, a caller's signal). */
  readonly signal?: AbortSignal | undefined;
  /** Where the files the call opens are recorded, when they are tracked. */
  readonly access?: FileAccess | undefined;
  /** Told of each process the call started, when someone listens (its resource usage is sampled then). */
  readonly onProcess?: ((ended: ProcessEnded) => void) | undefined;
}

const current = new AsyncLocalStorage<CallContext>();

/**
 * The abort signal of the stage call this code runs in, if any: it fires when the call's
 * `timeout` passes or its pipeline is interrupted (given a `signal`, or by Ctrl-C). `undefined`
 * outside a stage, or when nothing can stop the call. `runProcess` obeys it by itself; long
 * JavaScript work of your own can watch it.
 *
 * @example
 * ```ts
 * const stage = new Stage(
 *   async function countLines(files: string[]) {
 *     let lines = 0;
 *     for (const file of files) {
 *       callSignal()?.throwIfAborted(); // stop between files once the call is stopped
 *       lines += (await readFile(file, "utf8")).split("\n").length;
 *     }
 *     return lines;
 *   },
 *   { hashOutput: ".memori", timeout: 60_000 },
 * );
 * ```
 */
export function callSignal(): AbortSignal | undefined {
  return current.getStore()?.signal;
}

/** The file record of the stage call this code runs in, if its files are tracked. */
export function callAccess(): FileAccess | undefined {
  return current.getStore()?.access;
}

/** Who is told of the processes the current call starts, if anyone listens. */
export function callProcessListener(): ((ended: ProcessEnded) => void) | undefined {
  return current.getStore()?.onProcess;
}

/**
 * Run `body` outside any call's context: what it reads is not the call's (memori's own look at
 * `/proc` while a call's process runs), and the timers it sets carry no call.
 */
export function outsideCall<T>(body: () => T): T {
  return current.exit(body);
}

/** Run `body` in the given call context. */
export function withCallContext<T>(context: CallContext, body: () => T): T {
  return current.run(context, body);
}

/** Run `body` with `signal` as the current call's signal. */
export function withCallSignal<T>(signal: AbortSignal, body: () => T): T {
  return current.run({ signal }, body);
}
