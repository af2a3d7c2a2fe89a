#!/usr/bin/env node
/**
 * `pathman PATH COMMAND [ARG] [COMMAND [ARG]...]`: chained path operations, printing the
 * result. Commands take snake_case or camelCase spellings.
 */
import { memoriVersion } from "../records/version.js";
import { PathManager } from "../path-manager.js";

const HELP = `usage: pathman PATH COMMAND [ARG] [COMMAND [ARG]...]

Applies path operations in order and prints the result.

commands:
  get_prefix              the file name without directory and extensions
  get_path_and_prefix     the path without extensions
  append_suffix SUFFIX    add SUFFIX (e.g. _brain) before the extensions
  replace_suffix SUFFIX   replace the last _suffix of the file name
  delete_suffix           delete the last _suffix of the file name
  repath DIR              move the file name to DIR

Suffix operations act on the file name only. camelCase spellings (getPrefix) work too.
pathman --version prints the version of memori it comes with.

example:
  pathman /data/sub-01_T1w.nii.gz get_prefix append_suffix _brain   # sub-01_T1w_brain
`;

type Operation = {
  takes: string | undefined;
  apply: (pm: PathManager, arg: string) => PathManager;
};

const OPERATIONS: Record<string, Operation> = {
  get_prefix: { takes: undefined, apply: (pm) => pm.getPrefix() },
  get_path_and_prefix: { takes: undefined, apply: (pm) => pm.getPathAndPrefix() },
  append_suffix: { takes: "SUFFIX", apply: (pm, s) => pm.appendSuffix(s) },
  replace_suffix: { takes: "SUFFIX", apply: (pm, s) => pm.replaceSuffix(s) },
  delete_suffix: { takes: undefined, apply: (pm) => pm.deleteSuffix() },
  repath: { takes: "DIR", apply: (pm, d) => pm.repath(d) },
};

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`).replace(/-/g, "_");
}

export function pathman(argv: readonly string[]): { status: number; out?: string; err?: string } {
  if (argv.length === 0) return { status: 2, err: `pathman: no path given\n\n${HELP}` };
  if (argv[0] === "-h" || argv[0] === "--help") return { status: 0, out: HELP };
  if (argv[0] === "--version") return { status: 0, out: `pathman (memori ${memoriVersion()})\n` };
  let pm: PathManager;
  try {
    pm = new PathManager(argv[0]!);
  } catch (error) {
    return { status: 2, err: `pathman: ${(error as Error).message}\n` };
  }
  for (let i = 1; i < argv.length; i++) {
    const word = argv[i]!;
    const operation = OPERATIONS[snake(word)];
    if (operation === undefined) {
      return {
        status: 2,
        err: `pathman: unknown command ${JSON.stringify(word)}; the commands are ${Object.keys(OPERATIONS).join(", ")}\n`,
      };
    }
    let arg = "";
    if (operation.takes !== undefined) {
      const value = argv[i + 1];
      if (value === undefined) {
        return { status: 2, err: `pathman: ${word} needs ${operation.takes}\n` };
      }
      arg = value;
      i++;
    }
    try {
      pm = operation.apply(pm, arg);
    } catch (error) {
      return { status: 2, err: `pathman: ${word}: ${(error as Error).message}\n` };
    }
  }
  return { status: 0, out: `${pm.path}\n` };
}

const result = pathman(process.argv.slice(2));
if (result.out) process.stdout.write(result.out);
if (result.err) process.stderr.write(result.err);
process.exitCode = result.status;
