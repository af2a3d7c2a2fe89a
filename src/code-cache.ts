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
 * written beside the bundle, or, where that folder cannot be written (an installation of
 * another user's, read-only), in the user's cache folder (`~/.cache/memori/code-cache/`, see
 * `userCacheFile`), where the next process looks when the one beside the bundle is not its. The
 * caches are memori's bookkeeping: never a stage's read or write (hashing/bookkeeping.ts).
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
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
  type Stats,
} from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, isAbsolute, join } from "node:path";
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
function writeWhole(file: string, data: () => Buffer[]): boolean {
  const random = Math.floor(Math.random() * 2 ** 32).toString(36);
  const temp = `${file}.${process.pid}.${random}.tmp`;
  let fd: number;
  try {
    fd = openSync(temp, "wx");
  } catch {
    return false; // a folder this process cannot write (an installation of another user's, say)
  }
  try {
    for (const part of data()) writeSync(fd, part);
    closeSync(fd);
    renameSync(temp, file);
    return true;
  } catch {
    try {
      closeSync(fd);
    } catch {
      // closed already
    }
    rmSync(temp, { force: true });
    return false;
  }
}

/**
 * Where a cache goes when the bundle's folder cannot be written (an installation of another
 * user's, read-only): the user's cache folder (`$XDG_CACHE_HOME`, else `~/.cache`), under
 * `memori/code-cache/<FNV-1a of the cache's path>/`, named as beside the bundle. `undefined`
 * without a home.
 */
function userCacheFile(beside: string): string | undefined {
  const home = process.env.XDG_CACHE_HOME || (process.env.HOME && join(process.env.HOME, ".cache"));
  if (!home || !isAbsolute(home)) return undefined;
  let hash = 0x811c9dc5;
  for (let i = 0; i < beside.length; i++) {
    hash = Math.imul(hash ^ beside.charCodeAt(i), 0x01000193) >>> 0;
  }
  const folder = `${basename(dirname(dirname(dirname(beside))))}-${hash.toString(16)}`;
  return join(home, "memori", "code-cache", folder, basename(beside));
}

/** The cache in `file` when it is the one for `header`; whether there was a file at all. */
function readCache(file: string, header: string): { data?: Buffer; found: boolean } {
  let cache: Buffer;
  try {
    cache = readFileSync(file);
  } catch {
    return { found: false };
  }
  const length = Buffer.byteLength(header);
  const ours = cache.length > length && cache.toString("utf8", 0, length) === header;
  return ours ? { data: cache.subarray(length), found: true } : { found: true };
}

/**
 * Run `program` (a CommonJS bundle whose first line is its stamp) with its cache: the one
 * beside it (`<program without .cjs>.cache`), else the one in the user's cache folder
 * (`userCacheFile`); return its `module.exports`.
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
  const stamped = stamp.startsWith(STAMP);
  const beside = program.replace(/\.cjs$/, ".cache");
  const header = headerOf(stamp, program, stats);
  // Beside the bundle, else (an installation this process cannot write) in the user's cache.
  let cache = stamped ? readCache(beside, header) : { found: false };
  const inUserCache = stamped && cache.data === undefined ? userCacheFile(beside) : undefined;
  if (inUserCache !== undefined) {
    const there = readCache(inUserCache, header);
    if (there.data !== undefined || !cache.found) cache = there;
  }
  const script = new Script(wrap(source), { filename: program, cachedData: cache.data });
  const state: CacheState = !cache.found
    ? "missing"
    : cache.data === undefined
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
  const data = () => [Buffer.from(header, "utf8"), script.createCachedData()];
  if (writeTo !== undefined && writeTo !== "") {
    process.on("exit", () => writeWhole(writeTo, data));
  } else if (state !== "accepted" && stamped && plainFlags()) {
    process.on("exit", () => {
      if (writeWhole(beside, data)) return;
      const elsewhere = inUserCache ?? userCacheFile(beside);
      if (elsewhere === undefined) return;
      try {
        mkdirSync(dirname(elsewhere), { recursive: true });
      } catch {
        return;
      }
      writeWhole(elsewhere, data);
    });
  }

  const module_ = { exports: {}, memoriImport: options.memoriImport };
  const run = script.runInThisContext() as (...args: unknown[]) => void;
  run(module_.exports, createRequire(program), module_, program, dirname(program));
  return module_.exports;
}
