/**
 * Finding a program the way a shell does. Apart from process.ts, which starts programs: a
 * skipped `memori` call looks its command up (its content is part of the call's identity)
 * but starts nothing. Synchronous: a few `stat` calls, and a skip that makes no asynchronous
 * file system call never starts libuv's thread pool (see bench/README.md, start-up).
 */
import { accessSync, constants, statSync } from "node:fs";
import path from "node:path";

/** Whether `file` is a regular file (symlinks followed). */
export function isFile(file: string): boolean {
  try {
    return statSync(file, { throwIfNoEntry: false })?.isFile() ?? false;
  } catch {
    return false; // not a directory on the way, no permission...
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
  return whichSync(command, env);
}

/** {@link which}, synchronously. */
export function whichSync(
  command: string,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const candidates = command.includes("/")
    ? [path.resolve(command)]
    : (env.PATH ?? "")
        .split(path.delimiter)
        .filter(Boolean)
        .map((dir) => path.resolve(dir, command));
  for (const candidate of candidates) {
    if (!isFile(candidate)) continue;
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not executable: try the next one
    }
  }
  return undefined;
}
