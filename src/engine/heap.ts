/** A binary min-heap ordered by a number per item (ties: first pushed, first popped is not guaranteed). */
export class MinHeap<T> {
  readonly #items: { key: number; item: T }[] = [];

  constructor(private readonly keyOf: (item: T) => number) {}

  get size(): number {
    return this.#items.length;
  }

  push(item: T): void {
    const items = this.#items;
    const entry = { key: this.keyOf(item), item };
    let i = items.length;
    items.push(entry);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (items[parent]!.key <= entry.key) break;
      items[i] = items[parent]!;
      i = parent;
    }
    items[i] = entry;
  }

  pop(): T | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined) return undefined;
    if (items.length > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= items.length) break;
        const right = left + 1;
        const child = right < items.length && items[right]!.key < items[left]!.key ? right : left;
        if (items[child]!.key >= last.key) break;
        items[i] = items[child]!;
        i = child;
      }
      items[i] = last;
    }
    return top.item;
  }

  /** Remove and return every item, in no particular order. */
  drain(): T[] {
    return this.#items.splice(0).map((e) => e.item);
  }
}
