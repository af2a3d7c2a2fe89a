/**
 * How two stored values differ, for reasons: equal as canonical JSON or not, where a list or an
 * object first differs, a short rendering of a value (`/data/t1.nii@3c463695f6ad`), and of a
 * change (`4 items -> 2 items, removed ...`).
 */
import stringify from "fast-json-stable-stringify";
import { isFileEntry, type Json } from "../hashing/values.js";

/** A short rendering of a recorded value for reasons: `/data/t1.nii@3c463695f6ad`, `"abc"`. */
export function shorten(json: Json | undefined): string {
  if (json === undefined) return "(absent)";
  const tag =
    typeof json === "object" && json !== null && !Array.isArray(json) ? json.$memori : undefined;
  if (tag === "undefined") return "undefined";
  if (isFileEntry(json)) {
    return /^[0-9a-f]{64}$/.test(json.hash)
      ? `${json.file}@${json.hash.slice(0, 12)}`
      : `${json.file} (${json.hash})`;
  }
  const text = stringify(json);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** How many added or removed items a reason names before `and N more`. */
const NAMED = 2;

/**
 * The two sides of a change as a reason shows them (`old -> new`): each {@link shorten}ed,
 * except where that would hide the change. Lists of different lengths say how many items each
 * has and which were added or removed (`4 items -> 2 items, removed [1] ..., [3] ...`: a cohort
 * that lost subjects); two values that shorten alike (the same first 57 characters) show the
 * part around where their JSON first differs instead (`..."sub-02_clean...`).
 */
export function changedPair(old: Json | undefined, now: Json | undefined): [string, string] {
  if (Array.isArray(old) && Array.isArray(now) && old.length !== now.length) {
    // Most such changes add or remove a few items: the common start and end are compared
    // without serializing, and only the items between them are counted.
    let from = 0;
    while (from < old.length && from < now.length && sameJson(old[from]!, now[from]!)) from++;
    let end = 0;
    while (
      end < old.length - from &&
      end < now.length - from &&
      sameJson(old[old.length - 1 - end]!, now[now.length - 1 - end]!)
    ) {
      end++;
    }
    const removed = unmatched(old, now, from, end);
    const added = unmatched(now, old, from, end);
    const parts = [items(now.length)];
    if (added.length > 0) parts.push(`added ${named(added)}`);
    if (removed.length > 0) parts.push(`removed ${named(removed)}`);
    return [items(old.length), parts.join(", ")];
  }
  const a = shorten(old);
  const b = shorten(now);
  if (a !== b || old === undefined || now === undefined) return [a, b];
  // Both cut to the same prefix: show each from a little before the first character that differs.
  const oldText = stringify(old);
  const nowText = stringify(now);
  let at = 0;
  while (at < oldText.length && oldText[at] === nowText[at]) at++;
  const from = Math.max(0, at - 20);
  const window = (text: string) => {
    const part = text.slice(from, from + 54);
    return `...${part}${from + 54 < text.length ? "..." : ""}`;
  };
  return [window(oldText), window(nowText)];
}

function items(n: number): string {
  return n === 1 ? "1 item" : `${n} items`;
}

/**
 * The indexes of the items of `list` between its first `from` and its last `end` that the same
 * stretch of `other` does not have as many of, canonically.
 */
function unmatched(
  list: readonly Json[],
  other: readonly Json[],
  from: number,
  end: number,
): Item[] {
  const left = new Map<string, number>();
  for (let i = from; i < other.length - end; i++) {
    const key = stringify(other[i]);
    left.set(key, (left.get(key) ?? 0) + 1);
  }
  const found: Item[] = [];
  for (let i = from; i < list.length - end; i++) {
    const key = stringify(list[i]);
    const n = left.get(key) ?? 0;
    if (n > 0) left.set(key, n - 1);
    else found.push({ index: i, value: list[i]! });
  }
  return found;
}

/** An item of a list, where it is. */
interface Item {
  index: number;
  value: Json;
}

/** The first {@link NAMED} items, shortened (only those), and how many more. */
function named(found: readonly Item[]): string {
  const shown = found
    .slice(0, NAMED)
    .map((item) => `[${item.index}] ${shorten(item.value)}`)
    .join(", ");
  return found.length > NAMED ? `${shown} and ${found.length - NAMED} more` : shown;
}

/**
 * Where two values of an input first differ: inside a list of the same length (`files[2]`) or
 * an object with the same keys (`options.fwhm`), down to the part that changed, so a reason
 * names the subject whose file changed instead of two lists that shorten alike.
 */
export function firstDifference(
  name: string,
  old: Json | undefined,
  now: Json | undefined,
): { name: string; old: Json | undefined; now: Json | undefined } {
  if (Array.isArray(old) && Array.isArray(now) && old.length === now.length) {
    for (let i = 0; i < old.length; i++) {
      if (!sameJson(old[i]!, now[i]!)) return firstDifference(`${name}[${i}]`, old[i], now[i]);
    }
  }
  const plain = (v: Json | undefined): v is Record<string, Json> =>
    typeof v === "object" &&
    v !== null &&
    !Array.isArray(v) &&
    !isFileEntry(v) &&
    !("$memori" in v);
  if (plain(old) && plain(now)) {
    const keys = Object.keys(old).sort();
    if (sameJson(keys, Object.keys(now).sort())) {
      for (const key of keys) {
        if (!sameJson(old[key]!, now[key]!))
          return firstDifference(`${name}.${key}`, old[key], now[key]);
      }
    }
  }
  return { name, old, now };
}

/**
 * Whether two stored values are equal as canonical JSON (`stringify(a) === stringify(b)`, keys
 * in any order), without serializing either. Both are JSON as state files hold it: no
 * `undefined`, no non-finite number, no function, no cycle.
 */
export function sameJson(a: Json, b: Json): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i]!, b[i]!)) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  // Own keys only (as Object.keys has them), counted instead of listed.
  let count = 0;
  for (const key in a) {
    if (!Object.hasOwn(a, key)) continue;
    if (!Object.hasOwn(b, key) || !sameJson(a[key]!, b[key]!)) return false;
    count++;
  }
  for (const key in b) if (Object.hasOwn(b, key)) count--;
  return count === 0;
}
