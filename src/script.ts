import { stat } from "node:fs/promises";
import path from "node:path";
import { MemoriError, ProcessFailedError } from "./errors.js";
import { defaultHasher, sha256 } from "./hashing/files.js";
import { CODE_EXTRA, CODE_FILES, PARSED } from "./hashing/wrappers.js";
import type { ParsedSource } from "./hashing/source.js";
import type { RunProcessOptions } from "./process.js";
import { isFile, whichSync } from "./which.js";

/**
 * Options of {@link scriptFunction}: those of `runProcess` (the script always rejects on
 * failure, and its output is shown, not captured), and these.
 */
export interface ScriptFunctionOptions extends Omit<
  RunProcessOptions,
  "reject" | "capture" | "captureLimit"
> {
  /**
   * Other scripts the script calls: their content is part of the stage's code hash. A bare
   * name is a file of that name in the working directory, or else one on `PATH`.
   * @default []
   */
  readonly dependents?: readonly string[];
  /**
   * Files the script must produce. The function then returns `[status, ...expectedOutputs]`
   * (name the stage's outputs `["output", "output0", ...]`), so memori tracks them by content;
   * a run that leaves one missing rejects and is not recorded.
   * @default []
   */
  readonly expectedOutputs?: readonly string[];
}

/**
 * A script's absolute path (synchronous: see which.ts): a name with a `/` as a path; a bare
 * name on `PATH`, or for a dependent (a file the script sources) a file of that name in the
 * working directory first, as `memori -c lib.sh` finds it.
 */
export function resolveScript(name: string, what: string, dependent = false): string {
  const found = name.includes("/")
    ? isFile(name)
      ? path.resolve(name)
      : undefined
    : dependent && isFile(name)
      ? path.resolve(name)
      : whichSync(name);
  if (found === undefined) {
    throw new MemoriError("not-found", `${what} not found: ${name} (not a file, nor on PATH).`);
  }
  return found;
}

/**
 * Wrap a script (or any executable) as a stage function: calling it runs the script with the
 * given arguments (each as a string), streaming its output, and resolves to 0, or rejects with a
 * {@link ProcessFailedError} (exit code, signal, the end of its stderr) if it exits non-zero or
 * is killed, so a failure is never cached. The stage's code hash covers the script's content and its dependents', so
 * editing any of them re-runs the stage. Arguments that name files are hashed by content.
 *
 * @example
 * ```ts
 * const bet = new Stage(scriptFunction("scripts/skullstrip.sh", { dependents: ["scripts/lib.sh"] }), {
 *   hashOutput: ".memori",
 * });
 * await bet.run("sub-01_T1w.nii.gz", "sub-01_brain.nii.gz");
 * ```
 */
export function scriptFunction(
  script: string,
  options: ScriptFunctionOptions = {},
): (...args: unknown[]) => Promise<number | [number, ...string[]]> {
  const { dependents = [], expectedOutputs = [], ...processOptions } = options;
  const run = async function runScript(
    ...args: unknown[]
  ): Promise<number | [number, ...string[]]> {
    const file = resolveScript(script, "script");
    // Loaded when a script runs: checking whether a call is cached starts no process.
    const { runCommand } = await import("./process.js");
    // Rejects with a ProcessFailedError naming the script as given, on a non-zero status.
    await runCommand(
      [file, ...args.map(String)],
      { ...processOptions, reject: true, capture: false },
      script,
    );
    const status = 0;
    if (expectedOutputs.length === 0) return status;
    const missing: string[] = [];
    for (const output of expectedOutputs) {
      if (
        !(await stat(output).then(
          (s) => s.isFile(),
          () => false,
        ))
      )
        missing.push(output);
    }
    if (missing.length > 0) {
      throw new ProcessFailedError(
        `${script} exited with status 0 but did not produce ${missing.join(", ")}.`,
        1,
        { command: [script, ...args.map(String)], exitCode: 0 },
      );
    }
    return [status, ...expectedOutputs];
  };
  Object.defineProperty(run, "name", {
    value: path.basename(script).replace(/\.[^.]*$/, "") || "script",
  });
  // What the wrapper does is fixed (run the script with its arguments): its identity is this
  // constant plus the script's content, so no parsing is needed.
  const parsedSource: ParsedSource = {
    mode: "positional",
    parameters: [],
    rest: "args",
    hash: sha256("memori.scriptFunction/1"),
    identifiers: new Set(),
    free: [],
    env: {},
  };
  Object.defineProperty(run, PARSED, { value: parsedSource });
  Object.defineProperty(run, CODE_FILES, {
    value: async (): Promise<string[]> => {
      const found: string[] = [];
      for (const [i, name] of [script, ...dependents].entries()) {
        try {
          found.push(resolveScript(name, "script", i > 0));
        } catch {
          // not found: not a file the stage's code is read from
        }
      }
      return found;
    },
  });
  Object.defineProperty(run, CODE_EXTRA, {
    value: async (): Promise<Record<string, string>> => {
      const extras: Record<string, string> = {};
      const entries: [string, string][] = [
        ["script", script],
        ...dependents.map((d): [string, string] => ["dependent", d]),
      ];
      for (const [kind, name] of entries) {
        const file =
          kind === "script"
            ? resolveScript(name, "script")
            : resolveScript(name, "dependent script", true);
        const hash = await defaultHasher.hash(file);
        if (hash === undefined)
          throw new MemoriError("not-found", `${kind} ${name} cannot be read.`);
        extras[`${kind}:${file}`] = hash;
      }
      // Which files are expected is part of what the stage does.
      expectedOutputs.forEach((output, i) => (extras[`expected:${i}`] = output));
      return extras;
    },
  });
  return run;
}

export { ProcessFailedError };
