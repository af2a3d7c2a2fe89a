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
