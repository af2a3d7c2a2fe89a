/**
 * The end of a job's log, for the message of a job that failed: the last lines of its
 * stderr (where SLURM says it killed the job for its time or memory) or stdout, read from the
 * end of the file however long the log is.
 */
import { open } from "node:fs/promises";
import { codeOf, messageOf } from "../errors.js";
import { failed, ok, type SlurmResult } from "./failure.js";

/** Options of {@link logTail}. */
export interface LogTailOptions {
  /** At most this many lines. @default 20 */
  readonly lines?: number;
  /** Read at most this many bytes from the end of the file. @default 8192 */
  readonly bytes?: number;
}

/**
 * The last lines of a log file (at most `lines`, from its last `bytes`), without a trailing
 * newline; `""` for an empty file. A missing or unreadable file is a `log-unreadable` failure
 * (on a shared file system, a log may appear late).
 */
export async function logTail(
  file: string,
  options: LogTailOptions = {},
): Promise<SlurmResult<string>> {
  const lines = options.lines ?? 20;
  const bytes = options.bytes ?? 8192;
  let text: string;
  let cut: boolean;
  try {
    const handle = await open(file, "r");
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, bytes);
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, size - length);
      text = buffer.subarray(0, bytesRead).toString("utf8");
      cut = size > length;
    } finally {
      await handle.close();
    }
  } catch (error) {
    const why = codeOf(error) === "ENOENT" ? "it does not exist" : messageOf(error);
    return failed({
      reason: "log-unreadable",
      message: `The job log ${file} could not be read: ${why}`,
      cause: error,
    });
  }
  const all = text.replace(/\n$/, "").split("\n");
  // A read that started inside the file started inside a line: drop that part line.
  if (cut) all.shift();
  return ok(lines > 0 ? all.slice(-lines).join("\n") : "");
}

/**
 * The tail of the first of `files` that says something, waiting (at most `within` ms, looking
 * every 200 ms) until one holds `until`: SLURM's own word on a job it ended (`slurmstepd: ...
 * CANCELLED AT ... DUE TO TIME LIMIT`) is written by the node as it kills the job, and may
 * reach the log after the job's end is known here. Without `until`, one look.
 */
export async function saidLogTail(
  files: readonly string[],
  until?: RegExp,
  within = 0,
): Promise<{ log?: string; logFile?: string }> {
  const deadline = Date.now() + within;
  for (;;) {
    let found: { log?: string; logFile?: string } = {};
    for (const file of files) {
      const tail = await logTail(file);
      if (tail.ok && until?.test(tail.value)) return { log: tail.value, logFile: file };
      if (tail.ok && tail.value.trim() !== "" && found.log === undefined) {
        found = { log: tail.value, logFile: file };
      }
    }
    if (until === undefined || Date.now() >= deadline) return found;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
