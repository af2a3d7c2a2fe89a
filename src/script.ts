import { stat } from "node:fs/promises";
import path from "node:path";
import { MemoriError } from "./errors.js";
import { defaultHasher } from "./hashing/files.js";
import { CODE_EXTRA } from "./hashing/hashable.js";
import { runProcess, which, type RunProcessOptions } from "./process.js";

/** Options of {@link scriptFunction}. */
export interface ScriptFunctionOptions extends RunProcessOptions {
  /**
   * Other scripts the script calls: their content is part of the stage's code hash. Bare
   * names are looked up on `PATH`.
   * @default []
   */
  readonly dependents?: readonly string[];
}

async function resolveScript(name: string, what: string): Promise<string> {
  const found = name.includes("/")
    ? await stat(name).then(
        (s) => (s.isFile() ? path.resolve(name) : undefined),
        () => undefined,
      )
    : await which(name);
  if (found === undefined) {
    throw new MemoriError("not-found", `${what} not found: ${name} (not a file, nor on PATH).`);
  }
  return found;
}

/**
 * Wrap a script (or any executable) as a stage function: calling it runs the script with the
 * given arguments, streaming its output, and rejects if it exits non-zero (so a failure is
 * never cached). The stage's code hash covers the script's content and its dependents', so
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
): (...args: unknown[]) => Promise<number> {
  const { dependents = [], ...processOptions } = options;
  const run = async function runScript(...args: unknown[]): Promise<number> {
    const file = await resolveScript(script, "script");
    const status = await runProcess([file, ...args.map(String)], processOptions);
    if (status !== 0) {
      throw new MemoriError("process-failed", `script ${script} exited with status ${status}.`);
    }
    return status;
  };
  Object.defineProperty(run, "name", {
    value: path.basename(script).replace(/\.[^.]*$/, "") || "script",
  });
  Object.defineProperty(run, CODE_EXTRA, {
    value: async (): Promise<Record<string, string>> => {
      const extras: Record<string, string> = {};
      const entries: [string, string][] = [
        ["script", script],
        ...dependents.map((d): [string, string] => ["dependent", d]),
      ];
      for (const [kind, name] of entries) {
        const file = await resolveScript(name, kind === "script" ? "script" : "dependent script");
        const hash = await defaultHasher.hash(file);
        if (hash === undefined)
          throw new MemoriError("not-found", `${kind} ${name} cannot be read.`);
        extras[`${kind}:${file}`] = hash;
      }
      return extras;
    },
  });
  return run;
}
