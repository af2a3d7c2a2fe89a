/** Where a JSON text stops being JSON (config files' errors name a line and a column). */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { jsonErrorOffset, lineColumn } from "../../src/cli/json-position.js";

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

describe("jsonErrorOffset", () => {
  it("finds no error exactly where JSON.parse parses (JSON texts, and near-JSON noise)", () => {
    fc.assert(
      fc.property(fc.json(), (text) => {
        expect(jsonErrorOffset(text)).toBe(-1);
        expect(jsonErrorOffset(`\n ${text}\t`)).toBe(-1);
      }),
    );
    const noise = fc
      .array(
        fc.constantFrom(
          ...'{}[],:"\\ \n0123456789-+.eEtrufalsn'.split(""),
          "true",
          "null",
          "\\u00e9",
          '"a"',
        ),
        { maxLength: 14 },
      )
      .map((parts) => parts.join(""));
    fc.assert(
      fc.property(noise, (text) => {
        expect(jsonErrorOffset(text) === -1).toBe(parses(text));
      }),
      { numRuns: 5000 },
    );
  });

  it("points at the first character that cannot continue the text", () => {
    expect(jsonErrorOffset('{"a": 1,}')).toBe(8);
    expect(jsonErrorOffset('{"a": }')).toBe(6);
    expect(jsonErrorOffset("[1, 2")).toBe(5);
    expect(jsonErrorOffset("")).toBe(0);
    expect(jsonErrorOffset('{"a": 1} x')).toBe(9);
    expect(jsonErrorOffset('{"a": 01}')).toBe(7);
    expect(jsonErrorOffset('{"a": "\\x"}')).toBe(8);
    expect(jsonErrorOffset('{"a": "\\u12g4"}')).toBe(9);
    expect(jsonErrorOffset('{"a\n": 1}')).toBe(3);
    expect(jsonErrorOffset("{'a': 1}")).toBe(1);
    expect(jsonErrorOffset("[tru]")).toBe(1);
    expect(jsonErrorOffset("-")).toBe(1);
  });

  it("gives 1-based lines and columns", () => {
    expect(lineColumn("ab\ncd\nef", 0)).toEqual({ line: 1, column: 1 });
    expect(lineColumn("ab\ncd\nef", 4)).toEqual({ line: 2, column: 2 });
    expect(lineColumn("ab\ncd\nef", 8)).toEqual({ line: 3, column: 3 });
  });
});
