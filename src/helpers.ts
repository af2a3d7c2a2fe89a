/**
 * Decorators and helpers that pipelines use around their stage functions. Each decorator
 * keeps the function it wraps reachable (memori reads its parameter names and hashes its
 * code) and records what it adds, so changing a decorator's settings re-runs the stage.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { mkdir, lstat, rm, symlink, stat } from "node:fs/promises";
import path from "node:path";
import { MemoriError } from "./errors.js";
import { markWrapper, sourceOf, unwrap } from "./hashing/wrappers.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyFn = (...args: any[]) => unknown;

async function isFile(value: unknown): Promise<boolean> {
  if (typeof value !== "string" || value === "" || value.includes("\0")) return false;
  return stat(value).then(
    (s) => s.isFile(),
    () => false,
  );
}

/** Apply `map` to each argument by parameter name, whether positional or one object. */
async function mapArguments(
  fn: AnyFn,
  args: unknown[],
  map: (value: unknown, name: string | undefined) => Promise<unknown>,
): Promise<unknown[]> {
  const source = sourceOf(unwrap(fn).inner);
  if (source.mode === "object" && typeof args[0] === "object" && args[0] !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(args[0])) out[key] = await map(value, key);
    return [out, ...args.slice(1)];
  }
  return Promise.all(args.map((value, i) => map(value, source.parameters[i]?.name ?? source.rest)));
}

/** The value of the parameter called `name` (or its snake_case form) in a call. */
function argumentNamed(fn: AnyFn, args: unknown[], names: string[], decorator: string): unknown {
  const source = sourceOf(unwrap(fn).inner);
  const index = source.parameters.findIndex((p) => names.includes(p.name));
  if (index === -1) {
    throw new MemoriError(
      "invalid-argument",
      `${decorator}: function "${fn.name || "<anonymous>"}" has no parameter named ${names.map((n) => `"${n}"`).join(" or ")}.`,
    );
  }
  if (source.mode === "object")
    return (args[0] as Record<string, unknown> | undefined)?.[source.parameters[index]!.name];
  return args[index];
}

const OUTPUT_PATH = ["outputPath", "output_path"];

function checkOutputPath(fn: AnyFn, decorator: string): void {
  argumentNamed(fn, [], OUTPUT_PATH, decorator);
}

function outputPathOf(fn: AnyFn, args: unknown[], decorator: string): string {
  const value = argumentNamed(fn, args, OUTPUT_PATH, decorator);
  if (typeof value !== "string" || value === "") {
    throw new MemoriError(
      "invalid-argument",
      `${decorator}: outputPath must be a directory path, got ${String(value)}.`,
    );
  }
  return value;
}

/**
 * Decorate a function that has an `outputPath` parameter so that the directory exists
 * before it runs.
 * @example const stage = new Stage(createOutputPath(function bet(t1, outputPath) { ... }))
 */
export function createOutputPath<F extends AnyFn>(fn: F): F {
  checkOutputPath(fn, "createOutputPath");
  const wrapper = async function (...args: unknown[]) {
    await mkdir(outputPathOf(fn, args, "createOutputPath"), { recursive: true });
    return await fn(...args);
  };
  return markWrapper(wrapper, fn, "createOutputPath") as unknown as F;
}

/**
 * Decorate a function so that arguments naming existing files are made absolute.
 *
 * @example
 * ```ts
 * const bet = new Stage(useAbspaths(async function bet(t1w: string, outDir: string) { ... }));
 * await bet.run("sub-01_T1w.nii.gz", "out"); // t1w is "/work/sub-01_T1w.nii.gz" inside
 * ```
 */
export function useAbspaths<F extends AnyFn>(fn: F): F {
  const wrapper = async function (...args: unknown[]) {
    const mapped = await mapArguments(fn, args, async (value) =>
      (await isFile(value)) ? path.resolve(value as string) : value,
    );
    return await fn(...mapped);
  };
  return markWrapper(wrapper, fn, "useAbspaths") as unknown as F;
}

/**
 * Create a relative symlink to `file` inside `dir` (replacing a file or link of that name)
 * and return the link's path.
 * @example createSymlinkToPath("/data/t1.nii.gz", "work/input_data") // "work/input_data/t1.nii.gz"
 */
export async function createSymlinkToPath(file: string, dir: string): Promise<string> {
  const target = path.resolve(file);
  const link = path.join(dir, path.basename(target));
  await mkdir(dir, { recursive: true });
  await removeLinkOrFile(link);
  await symlink(path.relative(path.resolve(dir), target), link);
  return link;
}

/**
 * Create a relative symlink called `name` inside `root` that points to the folder `target`,
 * and return its path.
 */
export async function createSymlinkToFolder(
  target: string,
  root: string,
  name: string,
): Promise<string> {
  const link = path.join(root, name);
  await mkdir(root, { recursive: true });
  await removeLinkOrFile(link);
  await symlink(path.relative(path.resolve(root), path.resolve(target)), link);
  return link;
}

async function removeLinkOrFile(file: string): Promise<void> {
  try {
    const info = await lstat(file);
    if (info.isSymbolicLink() || info.isFile()) await rm(file);
  } catch {
    // nothing there
  }
}

/**
 * Decorator factory: arguments naming existing files are replaced by symlinks to them in
 * `dir`, so tools that write beside their inputs write into your work tree.
 * @param dir @default "input_data"
 *
 * @example
 * ```ts
 * const fast = new Stage(
 *   createSymlinksToInputFiles("work/input_data")(async function fast(brain: string) {
 *     // brain is "work/input_data/sub-01_brain.nii.gz", a link: FAST's outputs land beside it
 *     await runProcess(["fast", brain]);
 *   }),
 * );
 * ```
 */
export function createSymlinksToInputFiles(dir = "input_data"): <F extends AnyFn>(fn: F) => F {
  return <F extends AnyFn>(fn: F): F => {
    const wrapper = async function (...args: unknown[]) {
      const mapped = await mapArguments(fn, args, async (value) =>
        (await isFile(value)) ? createSymlinkToPath(value as string, dir) : value,
      );
      return await fn(...mapped);
    };
    return markWrapper(
      wrapper,
      fn,
      `createSymlinksToInputFiles(${JSON.stringify(dir)})`,
    ) as unknown as F;
  };
}

/** The directory a `withWorkingDirectory` body runs in now, if one runs. */
let changedTo: string | undefined;
/** Set inside a `withWorkingDirectory` body (and what it awaits): a call there is nested. */
const nested = new AsyncLocalStorage<true>();

/**
 * Run `body` with the working directory changed to `dir`, and change it back afterwards.
 * The working directory belongs to the whole process, so calls must not overlap (map elements
 * or stages running at once would run in each other's directories): one that starts while
 * another runs is an error, never a wrong result; one made inside another's body is fine. Run
 * such a stage with `concurrency: 1`, or pass `cwd` to `runProcess` instead.
 *
 * @example
 * ```ts
 * await withWorkingDirectory("derivatives/sub-01", () => runProcess("recon-all -all"));
 * ```
 */
export async function withWorkingDirectory<T>(dir: string, body: () => T | Promise<T>): Promise<T> {
  if (changedTo !== undefined && nested.getStore() === undefined) {
    throw new MemoriError(
      "invalid-argument",
      `withWorkingDirectory(${JSON.stringify(dir)}): another call runs in ${changedTo} now, and the working directory belongs to the whole process. Run such stages one at a time (a map's \`concurrency: 1\`), or pass \`cwd\` to runProcess instead.`,
    );
  }
  const previous = process.cwd();
  const outer = changedTo;
  process.chdir(dir);
  changedTo = dir;
  try {
    return await nested.run(true, body);
  } finally {
    changedTo = outer;
    process.chdir(previous);
  }
}

/** Decorate a function with an `outputPath` parameter to run inside that directory. */
export function useOutputPathWorkingDirectory<F extends AnyFn>(fn: F): F {
  checkOutputPath(fn, "useOutputPathWorkingDirectory");
  const wrapper = async function (...args: unknown[]) {
    const dir = outputPathOf(fn, args, "useOutputPathWorkingDirectory");
    return await withWorkingDirectory(dir, () => fn(...args));
  };
  return markWrapper(wrapper, fn, "useOutputPathWorkingDirectory") as unknown as F;
}

/**
 * A copy of `results` with the key `from` renamed to `to`.
 * @example redefineResultKey({ a: 1 }, "a", "b") // { b: 1 }
 */
export function redefineResultKey<T extends Record<string, unknown>>(
  results: T,
  from: string,
  to: string,
): Record<string, unknown> {
  if (!(from in results)) {
    throw new MemoriError(
      "invalid-argument",
      `redefineResultKey: there is no key "${from}"; the keys are ${Object.keys(results)
        .map((k) => `"${k}"`)
        .join(", ")}.`,
    );
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(results)) {
    if (key !== from) out[key] = value;
  }
  out[to] = results[from];
  return out;
}
