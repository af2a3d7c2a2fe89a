/**
 * A sign that a job is ending, from this host's file system: the result file its last call
 * writes appears (renamed into place whole, job-file.ts). Watched with `fs.watch` on the call's
 * directory (inotify on Linux): on a file system that reports no changes made on other hosts
 * (NFS), or past the system's limit of watches, there is no sign, and polling alone sees the
 * end. A sign only hastens a poll: what ended and how is SLURM's to say.
 */
import { watch, type FSWatcher } from "node:fs";
import path from "node:path";

/**
 * Call `then` once when `file` appears in its directory (or is replaced). Returns what stops
 * watching (also once it has appeared). Never throws: a directory that cannot be watched gives
 * no sign.
 */
export function onAppear(file: string, then: () => void): () => void {
  const name = path.basename(file);
  let watcher: FSWatcher | undefined;
  const stop = () => {
    watcher?.close();
    watcher = undefined;
  };
  try {
    watcher = watch(path.dirname(file), { persistent: false }, (_event, changed) => {
      if (changed !== name) return;
      stop();
      then();
    });
    watcher.on("error", stop);
  } catch {
    // ENOSPC (no watches left), ENOENT: no sign, the polls see the end
  }
  return stop;
}
