/**
 * Stamps (src/state/stamp.ts): `hasStamp` says exactly what comparing the stamp's text says,
 * for any numbers a `stat` can give and any text a stamp may hold, and for a real file.
 */
import { statSync, writeFileSync } from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hasStamp, recordStampOf, stampOf, type StampStats } from "../../src/state/stamp.js";
import { tempDir } from "../util/tmp.js";

/** Numbers as a `stat` gives them, and the awkward ones. */
const number = fc.oneof(
  fc.nat(),
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  fc.constantFrom(0, -0, 1e15 - 1, 1e15, 1e15 + 1, 2 ** 53, 2 ** 64, 1e21, -1, NaN, Infinity),
  fc.double({ noNaN: true }),
  fc.integer({ min: 1_600_000_000_000, max: 2_000_000_000_000 }).map((ms) => ms + 0.123_456_7),
);

const stats = fc.record({
  dev: number,
  ino: number,
  size: number,
  mtimeMs: number,
  ctimeMs: number,
});

/** A stamp's text changed a little: a digit, a separator, a zero in front, a field cut. */
function nearby(text: string, at: number, kind: number): string {
  const i = at % (text.length + 1);
  switch (kind % 6) {
    case 0:
      return text.slice(0, i) + "0" + text.slice(i);
    case 1:
      return text.slice(0, i) + text.slice(i + 1);
    case 2:
      return text.slice(0, i) + ":" + text.slice(i);
    case 3:
      return (
        text.slice(0, i) + String.fromCharCode((text.charCodeAt(i) || 48) + 1) + text.slice(i + 1)
      );
    case 4:
      return `${text}:`;
    default:
      return text.replace(/^[^:]*/, (first) => `0${first}`);
  }
}

describe("hasStamp", () => {
  it("is the stamp's text compared, for any stat and any nearby text", () => {
    fc.assert(
      fc.property(stats, stats, fc.nat(), fc.nat(), (a, b, at, kind) => {
        for (const withChange of [false, true]) {
          const make = withChange ? recordStampOf : stampOf;
          const texts = [make(a), make(b), nearby(make(a), at, kind), stampOf(a), recordStampOf(a)];
          for (const text of texts) {
            expect(hasStamp(text, a, withChange)).toBe(text === make(a));
          }
        }
      }),
      { numRuns: 3000 },
    );
  });

  it("knows a real file until it is written again", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "f.json");
    writeFileSync(file, "{}");
    const before: StampStats = statSync(file);
    const stamp = recordStampOf(before);
    expect(hasStamp(stamp, statSync(file), true)).toBe(true);
    expect(hasStamp(stampOf(before), statSync(file))).toBe(true);
    writeFileSync(file, '{"a":1}');
    expect(hasStamp(stamp, statSync(file), true)).toBe(false);
  });
});
