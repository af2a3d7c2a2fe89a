/**
 * memori's own bookkeeping, wherever it is: inside a state directory, the run records
 * (`.memori-runs/`, records/run-record.ts) and the index of commit records (`.memori-index`,
 * state/state-index.ts); beside memori's bundles, their V8 code caches (`memori.bundle.cache`,
 * `pathman.bundle.cache`, src/code-cache.ts), which a process that imports memori, or runs
 * `memori` or `pathman`, may write at its exit. They change with runs, or whenever a run learns
 * something, and say nothing about the data: a directory taken as an input by content or
 * listed by a call leaves them out wherever they are (a project folder that holds a pipeline's
 * state, or memori's installation), or every stage taking the folder would run again after
 * each run. The state files themselves (`.stage`, `.inputs`, ...) stay in: they change when
 * their stage ran again.
 */
export const BOOKKEEPING: ReadonlySet<string> = new Set([
  ".memori-runs",
  ".memori-index",
  "memori.bundle.cache",
  "pathman.bundle.cache",
]);

/**
 * A code cache of memori's (see {@link BOOKKEEPING}), or the temporary file a process writes
 * one through (`<cache>.<pid>.<random>.tmp`): never a call's read or write. What is in one never
 * changes what the code does (src/code-cache.ts takes a cache only for the very bundle file it
 * was made from).
 */
export const CODE_CACHE = /(^|[\\/])(memori|pathman)\.bundle\.cache(\.\d+\.[0-9a-z]+\.tmp)?$/;
