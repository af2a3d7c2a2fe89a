/**
 * A reading of bindings: the span in which what a stage function reaches through its bindings
 * (helpers, constants, captured values: scopes.ts, closure.ts, hashable.ts) is read once and
 * then taken as read. Each run and dry run begins a new reading (engine/schedule.ts; a run
 * started inside a stage's call too, such as a sweep over a captured variable), and so does
 * `hashFunction`: a long-lived process (a REPL, a notebook kernel, a server) that reassigns a
 * captured variable or rebinds a helper between two runs has the next run see it, and the
 * stage runs again, its reason naming what changed. Within a reading the identity does not
 * drift.
 *
 * What is read per reading is kept in {@link PerReading} maps, emptied when a reading begins.
 * What never changes for a function object (its source, its AST, where its code comes from) is
 * kept for the process, elsewhere; so is the hash of an object's content (hashable.ts), which
 * counts as the process first read it: state a stage keeps in a captured container is not a
 * change of its code.
 */

let current = 0;

/** The reading in progress: a number that grows by one at each {@link newReading}. */
export function currentReading(): number {
  return current;
}

/** Begin a new reading: bindings asked for from now on are read again. */
export function newReading(): void {
  current++;
}

/** A `WeakMap` of what was read in the current reading: empty again in the next one. */
export class PerReading<K extends object, V> {
  #map = new WeakMap<K, V>();
  #reading = current;

  #fresh(): WeakMap<K, V> {
    if (this.#reading !== current) {
      this.#map = new WeakMap();
      this.#reading = current;
    }
    return this.#map;
  }

  get(key: K): V | undefined {
    return this.#fresh().get(key);
  }

  set(key: K, value: V): void {
    this.#fresh().set(key, value);
  }
}
