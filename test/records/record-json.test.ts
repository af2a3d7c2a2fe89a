/**
 * records/record-json.ts: a record written in parts is the text JSON.stringify gives, byte for
 * byte, whatever the lengths of its arrays (at and around the slice size) and whatever it
 * leaves out (undefined fields).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { jsonParts } from "../../src/records/record-json.js";
import { sampleRecord } from "../util/run-records.js";

const whole = (value: unknown) => [...jsonParts(value)].join("");

describe("jsonParts", () => {
  it("gives JSON.stringify's text for a record, small or with 10,000 tasks", () => {
    const small = sampleRecord();
    expect(whole(small)).toBe(JSON.stringify(small));
    const big = sampleRecord();
    const task = big.tasks[0]!;
    big.tasks = Array.from({ length: 10_000 }, (_, i) => ({ ...task, id: i + 1, end: undefined }));
    big.graph.nodes = Array.from({ length: 10_000 }, (_, i) => ({
      id: `s${i}`,
      name: `stage "${i}"\n`,
      mapped: false,
      state: "cached",
    }));
    const parts = [...jsonParts(big)];
    expect(parts.length).toBeGreaterThan(20); // written in slices, not as one string
    expect(parts.join("")).toBe(JSON.stringify(big));
  });

  it("gives JSON.stringify's text for arrays around the slice size, anywhere", () => {
    for (const n of [0, 1, 999, 1000, 1001, 1999, 2000, 2001, 3500]) {
      const list = Array.from({ length: n }, (_, i) =>
        i % 7 === 3 ? undefined : { i, s: "é\u2028" },
      );
      for (const value of [list, { a: 1, list, b: undefined, c: [list] }, { deep: { list } }]) {
        expect(whole(value), `${n}`).toBe(JSON.stringify(value));
      }
    }
  });

  it("gives JSON.stringify's text for any JSON value", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(whole(value)).toBe(JSON.stringify(value));
      }),
      { numRuns: 300 },
    );
  });
});
