/**
 * Running a bundled CommonJS file with a V8 code cache made for it: the functions a run
 * compiled once are then not parsed and compiled again in each process. Two users: the
 * installed programs (src/cli/launch.cts runs `dist/cli/memori.bundle.cjs`) and the library
 * (`dist/lib/memori.js`, the module `import "memori"` loads, runs `dist/lib/memori.bundle.cjs`).
 * Node 22's `module.enableCompileCache()` does this for any module; Node 20 has no such thing.
 *
 * A cache belongs to one bundle file, in one place, under one Node: its first line is the
 * bundle's first line (`//memori-build <SHA-256 of the bundle>`) followed by the bundle's path,
 * the stat identity of its file (device, inode, size, modification and change times: V8
 * itself checks only the source's length, so a bundle edited in place would otherwise run the
 * cached code of the old one) and Node's version. The place matters because V8 keeps, in the
 * code it takes from a cache, the file name the cache was made under: a cache made where the
 * package was built would have every stack trace through memori name a file there. So a cache
 * of another bundle, place or Node (`foreign`), or none (`missing`), is not offered to V8; the
 * bundle is compiled as usual. V8 checks the rest: its own version and flags (a cache made
 * under other V8 flags, such as `--max-old-space-size`, is `rejected`), and the data's length.
 * V8 does not check the data itself (release builds keep no checksum of it): a cache is written
 * whole or not at all (a temporary file renamed).
 *
 * Who writes a cache: the build (scripts/bundle.mjs), and, at exit, a process whose cache was
 * not accepted and that runs with Node's default flags (no `execArgv`, no `NODE_OPTIONS`), so
 * that a run under other flags never leaves a cache the plain processes after it reject. It is
 * written beside the bundle; nothing is written where that folder cannot be written (then every
 * process compiles the bundle, as without a cache). The caches are memori's bookkeeping: never a
 * stage's read or write (hashing/bookkeeping.ts).
 *
 * On Node 20, code that V8 took from a code cache cannot `import()` (its script has lost its
 * loader: "A dynamic import callback was not specified"), and `vm`'s own loader for such code
 * is experimental (it warns on stderr). So the caller lends the bundle its own `import()`, as
 * `module.memoriImport` (the bundle's banner names it `__memori_import`, see lazy-modules.ts).
 *
 * Environment, for the build and for tests:
 * - the variable `writeVariable` names (`MEMORI_CODE_CACHE_WRITE=FILE` for the programs): at
 *   exit, write the code cache of what ran to FILE, whatever became of the one there.
 * - `MEMORI_CODE_CACHE_DEBUG=1`: at exit, say on stderr what became of the cache: `accepted`,
 *   `rejected` (by V8), `foreign` (made for another build, place or Node) or `missing`.
 */
import {
  closeSync,
  fstatSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
  type Stats,
} from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { Script } from "node:vm";

const STAMP = "//memori-build ";

/**
 * The source as CommonJS runs it, in a function of its module's names: `Module.wrap`'s shape
 * (which an ES module cannot import by name on Node 20).
 */
function wrap(source: string): string {
  return `(function (exports, require, module, __filename, __dirname) { ${source}\n});`;
}

/** How a bundle is run: what it is called on stderr, and where its cache is written from. */
export interface CachedBundleOptions {
  /** What `MEMORI_CODE_CACHE_DEBUG=1` calls the bundle: `<label>: code cache accepted`. */
  readonly label: string;
  /** The environment variable that names the file to write the cache to, at exit. */
  readonly writeVariable: string;
  /** The caller's `import()`, lent to the bundle. */
  readonly memoriImport: (specifier: string) => Promise<unknown>;
}

/** What became of a bundle's cache. */
export type CacheState = "accepted" | "rejected" | "foreign" | "missing";

/**
 * The first line of `program`'s cache: its stamp, its path, its file's stat identity and
 * Node's version.
 */
function headerOf(stamp: string, program: string, stats: Stats): string {
  const identity = `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}`;
  return `${stamp.trimEnd()} ${JSON.stringify(program)} ${identity} ${process.version}\n`;
}

/** Whether this process runs with Node's default flags (the flags V8 checks a cache against). */
function plainFlags(): boolean {
  return process.execArgv.length === 0 && (process.env.NODE_OPTIONS ?? "").trim() === "";
}

/**
 * Write `data()` to `file` whole or not at all (a temporary file, named as
 * hashing/bookkeeping.ts's `CODE_CACHE` says, renamed); nothing when the folder cannot be
 * written.
 */
function writeWhole(file: string, data: () => Buffer[]): void {
  const random = Math.floor(Math.random() * 2 ** 32).toString(36);
  const temp = `${file}.${process.pid}.${random}.tmp`;
  let fd: number;
  try {
    fd = openSync(temp, "wx");
  } catch {
    return; // a folder this process cannot write (an installation of another user's, say)
  }
  try {
    for (const part of data()) writeSync(fd, part);
    closeSync(fd);
    renameSync(temp, file);
  } catch {
    try {
      closeSync(fd);
    } catch {
      // closed already
    }
    rmSync(temp, { force: true });
  }
}

/**
 * Run `program` (a CommonJS bundle whose first line is its stamp) with the cache beside it
 * (`<program without .cjs>.cache`), and return its `module.exports`.
 */
export function runCachedBundle(program: string, options: CachedBundleOptions): unknown {
  const fd = openSync(program, "r");
  let source: string;
  let stats: Stats;
  try {
    stats = fstatSync(fd);
    source = readFileSync(fd, "utf8");
  } finally {
    closeSync(fd);
  }
  const stamp = source.slice(0, source.indexOf("\n") + 1);
  const cacheFile = program.replace(/\.cjs$/, ".cache");
  const header = headerOf(stamp, program, stats);
  let cache: Buffer | undefined;
  try {
    cache = readFileSync(cacheFile);
  } catch {
    // no cache (not built, or removed): the bundle is compiled
  }
  const ours =
    cache !== undefined &&
    stamp.startsWith(STAMP) &&
    cache.length > header.length &&
    cache.toString("utf8", 0, Buffer.byteLength(header)) === header;
  const script = new Script(wrap(source), {
    filename: program,
    cachedData: ours ? cache!.subarray(Buffer.byteLength(header)) : undefined,
  });
  const state: CacheState =
    cache === undefined
      ? "missing"
      : !ours
        ? "foreign"
        : script.cachedDataRejected === true
          ? "rejected"
          : "accepted";

  if (process.env.MEMORI_CODE_CACHE_DEBUG === "1") {
    process.on("exit", () => writeSync(2, `${options.label}: code cache ${state}\n`));
  }
  // After running: the cache then holds the functions compiled on the way, not only the top
  // level.
  const writeTo = process.env[options.writeVariable];
  const to =
    writeTo !== undefined && writeTo !== ""
      ? writeTo
      : state !== "accepted" && stamp.startsWith(STAMP) && plainFlags()
        ? cacheFile
        : undefined;
  if (to !== undefined) {
    process.on("exit", () =>
      writeWhole(to, () => [Buffer.from(header, "utf8"), script.createCachedData()]),
    );
  }

  const module_ = { exports: {}, memoriImport: options.memoriImport };
  const run = script.runInThisContext() as (...args: unknown[]) => void;
  run(module_.exports, createRequire(program), module_, program, dirname(program));
  return module_.exports;
}
