/**
 * Waiting for files a job wrote on another host to show here: on a network file system a file
 * written on a node may appear (or reach its full size) on the submitter's host seconds later
 * (attribute caches). The wait is bounded, like Snakemake's `--latency-wait`: past it, the
 * files still missing are named.
 */
import { stat } from "node:fs/promises";

/** A file to wait for: it exists with this size (a file), or as a directory (`null`). */
export interface AwaitedFile {
  readonly path: string;
  /** The size it must have; `null`: a directory; absent: any file or directory. */
  readonly size?: number | null;
}

/** Options of {@link waitForFiles}. */
export interface LatencyOptions {
  /** How long to wait, in milliseconds, from the call. @default 5000 */
  readonly latencyWait?: number;
  /** The first pause between looks (each next one 1.5 times longer, at most 0.5 s). @default 50 */
  readonly intervalMs?: number;
  /** Stops the wait (it resolves at once, with what is still missing). */
  readonly signal?: AbortSignal;
}

/** Whether every file is there, or which are not (each with what was seen). */
export type Awaited = { ok: true } | { ok: false; missing: string[] };

/** Why `file` is not (yet) as expected, or `undefined` if it is. */
async function notThere(file: AwaitedFile): Promise<string | undefined> {
  let info;
  try {
    info = await stat(file.path);
  } catch {
    return `${file.path} (not there)`;
  }
  if (file.size === undefined) return undefined;
  if (file.size === null) return info.isDirectory() ? undefined : `${file.path} (not a directory)`;
  if (!info.isFile()) return `${file.path} (not a file)`;
  return info.size === file.size
    ? undefined
    : `${file.path} (${info.size} bytes, the job left ${file.size})`;
}

/**
 * Wait until every file exists (with its size, where given), looking again and again for at
 * most `latencyWait` ms; resolves to the files still missing then (or when `signal` aborts).
 * The first look is immediate: on a local or well-behaved file system there is no wait.
 */
export async function waitForFiles(
  files: readonly AwaitedFile[],
  options: LatencyOptions = {},
): Promise<Awaited> {
  const deadline = Date.now() + (options.latencyWait ?? 5000);
  let pause = options.intervalMs ?? 50;
  let pending = [...files];
  for (;;) {
    const looks = await Promise.all(pending.map(notThere));
    const missing = looks.filter((why): why is string => why !== undefined);
    if (missing.length === 0) return { ok: true };
    pending = pending.filter((_, i) => looks[i] !== undefined);
    const left = deadline - Date.now();
    if (left <= 0 || options.signal?.aborted === true) return { ok: false, missing };
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        options.signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, Math.min(pause, left));
      options.signal?.addEventListener("abort", done, { once: true });
    });
    pause = Math.min(pause * 1.5, 500);
  }
}
