/**
 * A file's stamp: its device, inode, size and modification time, as text. The commit record
 * keeps those of `.inputs` and `.outputs` (atomic.ts writes them), the directory's index keys
 * each record by its `.stage`'s (with the change time too). A cached call compares three
 * stamps with what `stat` says now: {@link hasStamp} tells whether they are the same without
 * making the text of each (five numbers made into strings and joined, a call).
 */
import type { Stats } from "node:fs";

/** The fields of a `stat` a stamp is made of. */
export type StampStats = Pick<Stats, "dev" | "ino" | "size" | "mtimeMs" | "ctimeMs">;

/**
 * A file's stamp as written: device, inode, size and modification time (ms, with its fraction).
 * A rename keeps it; writing the file again, in place or by replacing it, changes it (atomic.ts
 * ages what it stamps). From `Stats`, not `BigIntStats`: the same fields without fourteen
 * BigInts made per `stat`; writer and reader make the stamp the same way.
 */
export function stampOf(stats: StampStats): string {
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}`;
}

/** The stamp of a `.stage` file as the index keys it: {@link stampOf}, then its change time. */
export function recordStampOf(stats: StampStats): string {
  return `${stampOf(stats)}:${stats.ctimeMs}`;
}

/**
 * Whether `stamp` is, byte for byte, {@link stampOf}`(stats)` (with `withChange`,
 * {@link recordStampOf}`(stats)`), told field by field without making that text: whole numbers
 * below 10^15 (devices, inodes, sizes, times in whole ms) are read from the digits, anything
 * else is compared as the text JavaScript gives the number.
 */
export function hasStamp(stamp: string, stats: StampStats, withChange = false): boolean {
  let at = field(stamp, 0, stats.dev, false);
  if (at >= 0) at = field(stamp, at, stats.ino, false);
  if (at >= 0) at = field(stamp, at, stats.size, false);
  if (at >= 0) at = field(stamp, at, stats.mtimeMs, !withChange);
  if (withChange && at >= 0) at = field(stamp, at, stats.ctimeMs, true);
  return at === stamp.length;
}

/** Below this, a whole number's digits are read exactly (2^53 is about 9 × 10^15). */
const EXACT = 1e15;

/**
 * Whether the field of `stamp` that begins at `at` is `String(value)`: where the next field
 * begins (for the `last`, the stamp's length), or -1 when it is not.
 */
function field(stamp: string, at: number, value: number, last: boolean): number {
  const colon = stamp.indexOf(":", at);
  if (last ? colon >= 0 : colon < 0) return -1;
  const end = last ? stamp.length : colon;
  const length = end - at;
  if (Number.isInteger(value) && value >= 0 && value < EXACT) {
    // String(value) is its digits, with no leading zero (a lone "0" for zero).
    if (length === 0 || (length > 1 && stamp.charCodeAt(at) === 48)) return -1;
    let read = 0;
    for (let i = at; i < end; i++) {
      const digit = stamp.charCodeAt(i) - 48;
      if (digit < 0 || digit > 9) return -1;
      read = read * 10 + digit;
    }
    return read === value ? (last ? end : end + 1) : -1;
  }
  const text = String(value);
  return text.length === length && stamp.startsWith(text, at) ? (last ? end : end + 1) : -1;
}
