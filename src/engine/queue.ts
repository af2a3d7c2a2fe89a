/**
 * Ready tasks waiting for a slot: at most `concurrency` run at once (and at most a group's own
 * limit of one group), the lowest priority number first; a task whose attempt asks for it is
 * queued again for another attempt. `halt()` starts nothing more. Knows nothing of stages.
 * Completion is told by callback, synchronously, before the freed slot is filled: what became
 * ready meanwhile competes for it by priority, and a halt is seen before anything starts.
 */
import { MinHeap } from "./heap.js";

/** A unit of work. */
export interface QueueTask<T> {
  /** Lower runs first (definition order, then element order). */
  readonly priority: number;
  /** Tasks of a group share the group's limit, if it has one. */
  readonly group?: number | undefined;
  /**
   * One attempt (1 for the first). Must not throw. A value returned at once (not a promise)
   * ends the attempt at once: its slot is free again before `run` returns to the queue.
   */
  run(attempt: number): T | Promise<T>;
  /** Whether the attempt's result asks for another attempt. */
  again?(value: T, attempt: number): boolean;
  /** Told when another attempt is queued. */
  onRetry?(value: T, attempt: number): void;
}

/** How a task ended: its last attempt's value, or dropped (halted before it started). */
export type Settled<T> = { kind: "done"; value: T; attempt: number } | { kind: "dropped" };

interface Entry<T> {
  task: QueueTask<T>;
  attempt: number;
  done: (settled: Settled<T>) => void;
}

export class TaskQueue<T> {
  readonly #ready = new MinHeap<Entry<T>>((e) => e.task.priority);
  /** Tasks whose group is at its limit, by group. */
  readonly #parked = new Map<number, Entry<T>[]>();
  readonly #runningByGroup = new Map<number, number>();
  readonly #concurrency: number;
  readonly #groupLimits: ReadonlyMap<number, number>;
  #running = 0;
  #halted = false;
  #pumping = false;
  #held = false;

  constructor(concurrency: number, groupLimits: ReadonlyMap<number, number> = new Map()) {
    this.#concurrency = concurrency;
    this.#groupLimits = groupLimits;
  }

  /** How many tasks are running now. */
  get running(): number {
    return this.#running;
  }

  get halted(): boolean {
    return this.#halted;
  }

  /**
   * Queue a task; `done` is called when its last attempt ends, or when it is dropped. It is
   * called before the freed slot is filled, so that what it queues (or a halt) counts.
   */
  add(task: QueueTask<T>, done: (settled: Settled<T>) => void): void {
    if (this.#halted) return done({ kind: "dropped" });
    const entry = { task, attempt: 1, done };
    // A free slot and nothing waiting: what #pump would do, without the heap.
    if (
      !this.#held &&
      this.#running < this.#concurrency &&
      this.#ready.size === 0 &&
      !this.#full(task.group)
    ) {
      this.#start(entry);
      return;
    }
    this.#ready.push(entry);
    this.#pump();
  }

  /** Start nothing until {@link release}: tasks added meanwhile wait, in priority order. */
  hold(): void {
    this.#held = true;
  }

  /**
   * Start what is ready, lowest priority number first, until the slots are full or nothing is
   * ready; but stop after a task that ended at once (a cache hit), so that what it made ready
   * is added before the next one starts, as it is when a task ends later. Returns whether it
   * stopped so: then call {@link hold} and `release` again, once that is added.
   */
  release(): boolean {
    this.#held = false;
    return this.#pump(true);
  }

  /** Start nothing more: queued tasks are dropped; running ones finish (without retries). */
  halt(): void {
    this.#halted = true;
    const dropped = [...this.#ready.drain(), ...[...this.#parked.values()].flat()];
    this.#parked.clear();
    for (const entry of dropped) entry.done({ kind: "dropped" });
  }

  #full(group: number | undefined): boolean {
    if (group === undefined) return false;
    const limit = this.#groupLimits.get(group);
    return limit !== undefined && (this.#runningByGroup.get(group) ?? 0) >= limit;
  }

  /**
   * Fill the free slots from the ready tasks. Not again while it runs: a task that ends at once
   * comes back here (#ended), and the loop already running takes the next one (a map of
   * thousands of hits queued behind one running call does not nest a call per task).
   */
  #pump(stopAtOnce = false): boolean {
    if (this.#pumping || this.#held) return false;
    this.#pumping = true;
    try {
      return this.#fill(stopAtOnce);
    } finally {
      this.#pumping = false;
    }
  }

  /** Start ready tasks; `stopAtOnce`: stop after one that ended at once (returns true then). */
  #fill(stopAtOnce: boolean): boolean {
    while (!this.#halted && this.#running < this.#concurrency) {
      const entry = this.#ready.pop();
      if (entry === undefined) return false;
      const { group } = entry.task;
      if (this.#full(group)) {
        const parked = this.#parked.get(group!) ?? [];
        parked.push(entry);
        this.#parked.set(group!, parked);
        continue;
      }
      if (this.#start(entry) && stopAtOnce) return true;
    }
    return false;
  }

  /** Start an attempt; whether it ended at once (then it has settled already). */
  #start(entry: Entry<T>): boolean {
    const { task, attempt } = entry;
    const { group } = task;
    this.#running++;
    if (group !== undefined)
      this.#runningByGroup.set(group, (this.#runningByGroup.get(group) ?? 0) + 1);
    const result = task.run(attempt);
    // A task that ended at once (a cache hit) settles now: no promise, no microtask per call.
    if (result instanceof Promise) {
      void result.then((value) => this.#ended(entry, value));
      return false;
    }
    this.#ended(entry, result);
    return true;
  }

  /** An attempt ended: free its slot, queue another attempt or tell its end, fill the slots. */
  #ended(entry: Entry<T>, value: T): void {
    const { task, attempt } = entry;
    const { group } = task;
    this.#running--;
    if (group !== undefined) {
      this.#runningByGroup.set(group, this.#runningByGroup.get(group)! - 1);
      const parked = this.#parked.get(group);
      const next = parked?.shift();
      if (next !== undefined) this.#ready.push(next);
      if (parked?.length === 0) this.#parked.delete(group);
    }
    if (!this.#halted && task.again?.(value, attempt)) {
      task.onRetry?.(value, attempt);
      this.#ready.push({ ...entry, attempt: attempt + 1 });
    } else {
      entry.done({ kind: "done", value, attempt });
    }
    this.#pump();
  }
}
