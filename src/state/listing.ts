/**
 * The commit records a run found missing, by state directory: what spares a first run a failed
 * read per call.
 */
import { readdirSync } from "../untracked-fs.js";
import { codeOf } from "../errors.js";
import type { StateStore } from "./store.js";

/** First looks in one directory that found no record before the directory is listed. */
const LIST_AFTER = 16;

/**
 * After {@link LIST_AFTER} first looks in one state directory found no `.stage`, the directory
 * is listed once; a later first look at a name the listing lacks needs no read (a failed read
 * costs a system call and an error object, and a first run makes one per call). A fully cached
 * run never lists anything.
 *
 * It only ever answers "absent", and only for a first look: a miss takes the call's lock and
 * looks again on disk (`StateStore.hasRecord`), so a listing made before another process
 * committed costs that call a lock, never a wrong result. One per run (schedule.ts).
 */
export class RecordListing {
  readonly #misses = new Map<string, number>();
  readonly #listed = new Map<string, ReadonlySet<string>>();

  /** Whether the run knows, without a read, that `store` has no commit record. */
  knowsAbsent(store: StateStore): boolean {
    const names = this.#listed.get(store.dir);
    return names !== undefined && !names.has(`${store.name}.stage`);
  }

  /** A first look found no commit record in `store`. */
  missed(store: StateStore): void {
    const { dir } = store;
    if (this.#listed.has(dir)) return;
    const misses = (this.#misses.get(dir) ?? 0) + 1;
    this.#misses.set(dir, misses);
    if (misses < LIST_AFTER) return;
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (error) {
      if (codeOf(error) !== "ENOENT") return; // cannot list: every look reads, as before
      names = [];
    }
    this.#listed.set(dir, new Set(names));
  }
}
