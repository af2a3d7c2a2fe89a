/**
 * Modules loaded the first time they are used, not when memori is imported: a skipped
 * `memori -d DIR cmd` must cost little more than starting Node (issue 13), and each of these
 * costs a whole process start-up a few percent while a skip never needs them. Measured on
 * Node 20 (each on top of what an ES module entry already holds): `node:child_process` loads
 * 28 more built-in modules (net, dgram, streams), `node:worker_threads` 25, `node:inspector`
 * 26, `node:crypto` 35 (about 3 ms: a skip hashes its small data without it, sha256.ts);
 * `picomatch`, a CommonJS package, ~7 ms through the ES module loader.
 *
 * They are loaded synchronously (`require`), so the functions that use them stay synchronous,
 * and a module object is read at each use: `child_process` functions wrapped later by read
 * tracking are the ones called. Only `tinypool`, an ES module only package, is imported.
 *
 * The bundled command line and the bundled library run from V8's code cache
 * (src/code-cache.ts), and on Node 20 code run from a code cache cannot `import()`: its script
 * lost its loader ("A dynamic import callback was not specified"). So nothing memori's code
 * runs uses `import()` of a package, a built-in or a user's module except {@link tinypool} and
 * {@link importModule} (`memori run`'s pipeline module, `workerFunction`'s module), which
 * import through the code that runs the bundle there.
 */
import { createRequire } from "node:module";

let required: NodeJS.Require | undefined;

/**
 * `require` as from memori's own code: packages it depends on, built-in modules. Made on first
 * use (making one costs about 0.1 ms, and a skip requires nothing).
 */
export function load(id: string): unknown {
  return (required ??= createRequire(import.meta.url))(id);
}

/** `node:child_process`: starting processes (a command that runs, strace's probe). */
export function childProcess(): typeof import("node:child_process") {
  return load("node:child_process") as typeof import("node:child_process");
}

/** `node:inspector`: reading a function's scopes (code identity of JavaScript stages). */
export function inspector(): typeof import("node:inspector") {
  return load("node:inspector") as typeof import("node:inspector");
}

/** `node:worker_threads`: the port over which a hashing worker reports its progress. */
export function workerThreads(): typeof import("node:worker_threads") {
  return load("node:worker_threads") as typeof import("node:worker_threads");
}

type Crypto = typeof import("node:crypto");
let loadedCrypto: Crypto | undefined;

/**
 * `node:crypto`: SHA-256 of file contents and of larger data, random ids. It loads 35 more
 * built-in modules (streams, ciphers): about 3 ms, while a skip whose files are known by their
 * stat identities hashes only a kilobyte or so (sha256.ts).
 */
export function crypto(): Crypto {
  return (loadedCrypto ??= load("node:crypto") as Crypto);
}

/** Whether {@link crypto} has been loaded (then it hashes everything). */
export function cryptoLoaded(): boolean {
  return loadedCrypto !== undefined;
}

/**
 * The parsers of code identity (hashing/source.ts, free-references.ts): `acorn`, `acorn-walk`,
 * `eslint-scope`. The library's bundle holds them (scripts/bundle.mjs makes each `load` here a
 * `require` it bundles, still run on first use), so their code comes from its code cache too:
 * loaded from their packages, compiling them cost every process that hashed a function about
 * 7 ms. Elsewhere (the programs, tests) they are loaded from their packages.
 */
export function acornModule(): typeof import("acorn") {
  return load("acorn") as typeof import("acorn");
}

/** `acorn-walk` (see {@link acornModule}). */
export function acornWalk(): typeof import("acorn-walk") {
  return load("acorn-walk") as typeof import("acorn-walk");
}

/** `eslint-scope`, which ships no types (see {@link acornModule}). */
export function eslintScopeModule(): unknown {
  return load("eslint-scope");
}

type FsExtra = typeof import("fs-extra");

/** `fs-extra`: removing state files (`memori cache`). */
export function fsExtra(): FsExtra {
  return load("fs-extra") as FsExtra;
}

/**
 * The `import()` of the code that runs a bundle (the programs' launcher, the library's
 * module), lent to it (scripts/bundle.mjs declares it); not defined elsewhere.
 */
declare const __memori_import: ((specifier: string) => Promise<unknown>) | undefined;

type TinypoolModule = typeof import("tinypool");

/** `tinypool`: the worker-thread pool that hashes big files. */
export async function tinypool(): Promise<TinypoolModule["default"]> {
  const imported = (
    typeof __memori_import === "function"
      ? await __memori_import("tinypool")
      : await import("tinypool")
  ) as TinypoolModule;
  return imported.default;
}

/**
 * Import an ES module (or CommonJS, as `import()` does) by URL: a pipeline module that
 * `memori run` runs, a `workerFunction`'s module. In a bundle, with the `import()` of the code
 * that runs it.
 */
export async function importModule(url: string): Promise<Record<string, unknown>> {
  return (
    typeof __memori_import === "function" ? await __memori_import(url) : await import(url)
  ) as Record<string, unknown>;
}

let typeScript: Promise<void> | undefined;

/**
 * Register tsx's ES module loader hooks (once per process), so that `import()` loads
 * TypeScript modules (`memori run pipeline.ts`). Only then: the hooks run on a thread of their
 * own and see every module imported after them, and a JavaScript pipeline needs none of that.
 * tsx's ES module API is imported, not required: its CommonJS build (4.23) registers the hooks
 * from a path that does not exist.
 */
export function registerTypeScript(): Promise<void> {
  return (typeScript ??= importModule("tsx/esm/api").then((api) => {
    (api as unknown as typeof import("tsx/esm/api")).register();
  }));
}

type Picomatch = typeof import("picomatch");

/** `picomatch`: the globs of a stage's `ignore` option. */
export function picomatch(): Picomatch {
  return load("picomatch") as Picomatch;
}
