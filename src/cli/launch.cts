/**
 * The command-line programs as installed: `dist/cli/memori.cjs` and `dist/cli/pathman.cjs` are
 * each this file (built by scripts/bundle.mjs). Each runs the program bundled beside it
 * (`memori.bundle.cjs`) with V8's code cache for that bundle (`memori.bundle.cache`), made at
 * build time by running a skipped call: the functions a skip runs are then not parsed and
 * compiled again at each start (issue 13: a skipped `memori -d DIR cmd` should cost about what
 * starting Node costs; see bench/README.md). Node 22's `module.enableCompileCache()` does this
 * for any module; Node 20 has no such thing.
 *
 * The cache only saves work. Its first line must be the bundle's first line,
 * `//memori-build <SHA-256 of the bundle>`, or it was made for another build and is not offered
 * to V8. V8 checks the rest: its own version and flags (a cache made by another Node, or under
 * other V8 flags such as `--max-old-space-size`, is rejected), the source's length and the
 * data's length (a cache cut short is rejected). Without a usable cache, the bundle is compiled
 * as usual. V8 does not check the data itself (release builds keep no checksum of it), so a
 * cache damaged inside, like a damaged bundle, is not found out: the build writes it whole or
 * not at all.
 *
 * On Node 20, code that V8 took from a code cache cannot `import()` (its script has lost its
 * loader: "A dynamic import callback was not specified"), and `vm`'s own loader for such code
 * is experimental (it warns on stderr). So this module lends the bundle its own `import()`
 * (resolved from here, beside the bundle), as `module.memoriImport` (see lazy-modules.ts).
 *
 * Environment, for the build and for tests:
 * - `MEMORI_CODE_CACHE_WRITE=FILE`: at exit, write the code cache of what ran to FILE.
 * - `MEMORI_CODE_CACHE_DEBUG=1`: at exit, say on stderr what became of the cache: `accepted`,
 *   `rejected` (by V8), `foreign` (made for another build) or `missing`.
 */
import { readFileSync, renameSync, writeFileSync, writeSync } from "node:fs";
import { createRequire, wrap } from "node:module";
import { dirname } from "node:path";
import { Script } from "node:vm";

const STAMP = "//memori-build ";

const program = __filename.replace(/\.cjs$/, ".bundle.cjs");
const source = readFileSync(program, "utf8");
const stamp = source.slice(0, source.indexOf("\n") + 1);
let cache: Buffer | undefined;
try {
  cache = readFileSync(program.replace(/\.cjs$/, ".cache"));
} catch {
  // no cache (not built, or removed): the bundle is compiled
}
const ours =
  cache !== undefined &&
  stamp.startsWith(STAMP) &&
  cache.toString("latin1", 0, stamp.length) === stamp;
const script = new Script(wrap(source), {
  filename: program,
  cachedData: ours ? cache!.subarray(stamp.length) : undefined,
});

if (process.env.MEMORI_CODE_CACHE_DEBUG === "1") {
  const state =
    cache === undefined
      ? "missing"
      : !ours
        ? "foreign"
        : script.cachedDataRejected === true
          ? "rejected"
          : "accepted";
  process.on("exit", () => writeSync(2, `memori: code cache ${state}\n`));
}
const writeTo = process.env.MEMORI_CODE_CACHE_WRITE;
if (writeTo !== undefined && writeTo !== "") {
  // After running: the cache then holds the functions compiled on the way, not only the top
  // level. Written whole or not at all (a temporary file renamed).
  process.on("exit", () => {
    const temp = `${writeTo}.${process.pid}.tmp`;
    writeFileSync(temp, Buffer.concat([Buffer.from(stamp, "latin1"), script.createCachedData()]));
    renameSync(temp, writeTo);
  });
}

const exports = {};
const module_ = { exports, memoriImport: (specifier: string) => import(specifier) };
const run = script.runInThisContext() as (...args: unknown[]) => void;
run(exports, createRequire(program), module_, program, dirname(program));
