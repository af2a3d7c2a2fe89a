/**
 * Finding a program the way a shell does. Apart from process.ts, which starts programs: a
 * skipped `memori` call looks its command up (its content is part of the call's identity)
 * but starts nothing.
 */
import { access, constants, stat } from "node:fs/promises";
import path from "node:path";

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
        await access(candidate, constants.X_OK);
        return candidate;
      }
    } catch {
      // try the next one
    }
  }
  return undefined;
}
