/**
 * A run record's JSON, in pieces: the text `JSON.stringify` gives, byte for byte, made and
 * written a part at a time. A run of 10,000 calls has a record of 2.6 MB: as one string it is
 * made, held and copied whole while it is written; in parts, each part is written and
 * dropped, and the long arrays (the graph's nodes and edges, the tasks) are stringified a slice
 * at a time.
 */

/** How many elements of a long array one part holds. */
const SLICE = 1000;

/**
 * The JSON of `value` (plain data: objects, arrays, strings, numbers, booleans, null), as
 * `JSON.stringify(value)` writes it, in parts. Arrays of more than {@link SLICE} elements are
 * written a slice at a time, wherever they are.
 */
export function* jsonParts(value: unknown): Generator<string> {
  if (Array.isArray(value)) {
    if (value.length <= SLICE) {
      yield JSON.stringify(value);
      return;
    }
    yield "[";
    for (let at = 0; at < value.length; at += SLICE) {
      const text = JSON.stringify(value.slice(at, at + SLICE));
      // The slice's elements, without its brackets; a comma between slices.
      yield at === 0 ? text.slice(1, -1) : `,${text.slice(1, -1)}`;
    }
    yield "]";
    return;
  }
  if (value === null || typeof value !== "object" || !hasLongArray(value)) {
    yield JSON.stringify(value);
    return;
  }
  let first = true;
  yield "{";
  for (const [key, field] of Object.entries(value)) {
    // What JSON.stringify leaves out of an object.
    if (field === undefined || typeof field === "function" || typeof field === "symbol") continue;
    yield `${first ? "" : ","}${JSON.stringify(key)}:`;
    first = false;
    yield* jsonParts(field);
  }
  yield "}";
}

/** Whether an object holds (at any depth of plain objects) an array worth writing in slices. */
function hasLongArray(value: object): boolean {
  for (const field of Object.values(value)) {
    if (Array.isArray(field)) {
      if (field.length > SLICE) return true;
    } else if (field !== null && typeof field === "object" && hasLongArray(field)) {
      return true;
    }
  }
  return false;
}
