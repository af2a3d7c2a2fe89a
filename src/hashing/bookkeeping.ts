/**
 * memori's own bookkeeping inside a state directory: the run records (`.memori-runs/`,
 * records/run-record.ts) and the index of commit records (`.memori-index`, state/state-index.ts).
 * They change with every run, or whenever a run learns something, and say nothing about the
 * data: a directory taken as an input by content or listed by a call leaves them out wherever
 * they are (a project folder that holds a pipeline's state), or every stage taking the folder
 * would run again after each run. The state files themselves (`.stage`, `.inputs`, ...) stay
 * in: they change when their stage ran again.
 */
export const BOOKKEEPING: ReadonlySet<string> = new Set([".memori-runs", ".memori-index"]);
