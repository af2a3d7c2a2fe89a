/**
 * The command-line programs as installed: `dist/cli/memori.cjs` and `dist/cli/pathman.cjs` are
 * each this file (built by scripts/bundle.mjs). Each runs the program bundled beside it
 * (`memori.bundle.cjs`) with V8's code cache for that bundle (`memori.bundle.cache`), made at
 * build time by running a skipped call: the functions a skip runs are then not parsed and
 * compiled again at each start (issue 13: a skipped `memori -d DIR cmd` should cost about what
 * starting Node costs; see bench/README.md). How, and what is checked: src/code-cache.ts.
 *
 * Environment, for the build and for tests:
 * - `MEMORI_CODE_CACHE_WRITE=FILE`: at exit, write the code cache of what ran to FILE.
 * - `MEMORI_CODE_CACHE_DEBUG=1`: at exit, say on stderr what became of the cache:
 *   `memori: code cache accepted` (or `rejected`, `foreign`, `missing`).
 */
import { runCachedBundle } from "../code-cache.js";

runCachedBundle(__filename.replace(/\.cjs$/, ".bundle.cjs"), {
  label: "memori",
  writeVariable: "MEMORI_CODE_CACHE_WRITE",
  // Resolved from here, beside the bundle.
  memoriImport: (specifier: string) => import(specifier),
});
