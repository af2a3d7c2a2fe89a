/**
 * What a process leaves behind: its status, the tail of its output as it came (bounded), and
 * the error of a process that failed ({@link ProcessFailedError}, with the end of its stderr).
 */
import { constants } from "node:os";
import { ProcessFailedError } from "./errors.js";

/** The exit status a shell reports for a process: its code, or 128 + the signal number. */
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const number = signal === null ? undefined : constants.signals[signal];
  return 128 + (number ?? 0);
}

/** What {@link runProcess} resolves to with `capture: true`. */
export interface ProcessOutput {
  /** The status a shell would report: the exit code, or 128 + N when signal N ended it. */
  readonly status: number;
  /** The exit code, or `undefined` when a signal ended the process. */
  readonly exitCode: number | undefined;
  /** The signal that ended the process, if one did. */
  readonly signal: NodeJS.Signals | undefined;
  /** What it wrote to stdout, as UTF-8 (its last `captureLimit` bytes). */
  readonly stdout: string;
  /** What it wrote to stderr, as UTF-8 (its last `captureLimit` bytes). */
  readonly stderr: string;
  /** Whether a stream was longer than `captureLimit`, so that only its end was kept. */
  readonly truncated: {
    /** stdout was cut. */
    readonly stdout: boolean;
    /** stderr was cut. */
    readonly stderr: boolean;
  };
}

/** How much of stderr a {@link ProcessFailedError} keeps, and how much of it its message shows. */
export const STDERR_TAIL_BYTES = 8 * 1024;
const MESSAGE_TAIL_LINES = 10;
const MESSAGE_TAIL_CHARS = 2000;
export const CAPTURE_LIMIT = 1024 * 1024;

/** The last `limit` bytes of a stream, held as the chunks that came (at most one more). */
export class Tail {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private dropped = false;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.chunks.length > 1 && this.size - this.chunks[0]!.length >= this.limit) {
      this.size -= this.chunks.shift()!.length;
      this.dropped = true;
    }
  }

  /** Whether anything was dropped. */
  get truncated(): boolean {
    return this.dropped || this.size > this.limit;
  }

  /** The kept bytes as text, starting at a character (a cut UTF-8 sequence is left out). */
  text(): string {
    let data = Buffer.concat(this.chunks);
    if (data.length > this.limit) data = data.subarray(data.length - this.limit);
    let start = 0;
    if (this.truncated) while (start < 3 && ((data[start] ?? 0) & 0xc0) === 0x80) start++;
    return data.subarray(start).toString("utf8");
  }
}

/** A command as a message names it: the program as given, or the shell command, quoted. */
export function commandName(command: string | readonly string[]): string {
  if (typeof command !== "string") return command[0] ?? "";
  return JSON.stringify(command.length > 80 ? `${command.slice(0, 77)}...` : command);
}

/** The end of a stderr tail for a message: its last lines, indented; `""` when it is empty. */
function tailForMessage(tail: string): string {
  const lines = tail.replace(/\s+$/, "").split("\n").slice(-MESSAGE_TAIL_LINES);
  let text = lines.join("\n");
  if (text === "") return "";
  if (text.length > MESSAGE_TAIL_CHARS) text = `...${text.slice(-MESSAGE_TAIL_CHARS)}`;
  return ` Its stderr ended with:\n${text.replace(/^/gm, "    ")}`;
}

/** The error of a process that exited non-zero or was killed. */
export function processFailed(
  name: string,
  command: string | readonly string[],
  code: number | null,
  killedBy: NodeJS.Signals | null,
  stderrTail: string,
  captured: { stdout: string; stderr: string } | undefined,
): ProcessFailedError {
  const status = exitStatus(code, killedBy);
  const how =
    killedBy === null
      ? `exited with status ${status}`
      : `was killed by ${killedBy} (status ${status})`;
  return new ProcessFailedError(`${name} ${how}.${tailForMessage(stderrTail)}`, status, {
    command,
    exitCode: code ?? undefined,
    signal: killedBy ?? undefined,
    stderrTail,
    stdout: captured?.stdout,
    stderr: captured?.stderr,
  });
}
