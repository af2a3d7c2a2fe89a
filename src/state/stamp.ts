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
 * {@link recordStampOf}`(stats)`), told field by field: each number's text compared where its
 * field is, no string joined (the joining, and copying the numbers' text into one string, were
 * most of the cost).
 */
export function hasStamp(stamp: string, stats: StampStats, withChange = false): boolean {
  let at = field(stamp, 0, stats.dev, false);
  if (at >= 0) at = field(stamp, at, stats.ino, false);
  if (at >= 0) at = field(stamp, at, stats.size, false);
  if (at >= 0) at = field(stamp, at, stats.mtimeMs, !withChange);
  if (withChange && at >= 0) at = field(stamp, at, stats.ctimeMs, true);
  return at === stamp.length;
}

/**
 * Whether the field of `stamp` that begins at `at` is `String(value)`: where the next field
 * begins (after the `:`; for the `last`, where it ends), or -1 when it is not.
 */
function field(stamp: string, at: number, value: number, last: boolean): number {
  const text = String(value);
  const end = at + text.length;
  if (!stamp.startsWith(text, at)) return -1;
  if (last) return end;
  return stamp.charCodeAt(end) === 58 /* ":" */ ? end + 1 : -1;
}
