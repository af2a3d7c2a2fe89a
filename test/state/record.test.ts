/**
 * The commit record's text (src/state/record.ts): its check line over sorted keys, whatever
 * order the record was built in, and what breaks the check.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { checkHolds, recordText, type StageRecord } from "../../src/state/record.js";

const sha = (text: string) => createHash("sha256").update(text).digest("hex");

describe("recordText / checkHolds", () => {
  // Keys come out sorted at every level, and the check is the SHA-256 of the lines after it.
  it("writes the check line over the record with its keys sorted", () => {
    const record = {
      time: "t",
      name: "n",
      memori: 3,
      code: { self: "s", hash: "h", callees: {}, wrappers: [], extras: {} },
    } as unknown as StageRecord;
    const text = recordText(record);
    const body = [
      '  "code": {',
      '    "callees": {},',
      '    "extras": {},',
      '    "hash": "h",',
      '    "self": "s",',
      '    "wrappers": []',
      "  },",
      '  "memori": 3,',
      '  "name": "n",',
      '  "time": "t"',
      "}",
      "",
    ].join("\n");
    expect(text).toBe(`{\n  "check": "${sha(body)}",\n${body}`);
    expect(checkHolds(text)).toBe(true);
    expect(JSON.parse(text)).toEqual({ ...record, check: sha(body) });
  });

  it("holds for no other bytes", () => {
    const text = recordText({ memori: 3, name: "n" } as unknown as StageRecord);
    expect(checkHolds(text + " ")).toBe(false);
    expect(checkHolds(text.replace('"n"', '"m"'))).toBe(false);
    expect(checkHolds(text.slice(0, 40))).toBe(false);
    expect(checkHolds(text.replace('",\n', '" ,\n'))).toBe(false);
    expect(checkHolds(text.replace("{\n", "{ \n"))).toBe(false);
  });

  it("holds for text that is not ASCII, and never for bytes that are not UTF-8", () => {
    const text = recordText({ memori: 3, name: "sujet-é-测试" } as unknown as StageRecord);
    // as the store reads it: the file's bytes decoded as UTF-8
    expect(checkHolds(Buffer.from(text, "utf8").toString("utf8"))).toBe(true);
    // a body whose bytes are not UTF-8, checked over those bytes: read with U+FFFD, no match
    const body = Buffer.concat([
      Buffer.from('  "name": "'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"\n}\n'),
    ]);
    const check = createHash("sha256").update(body).digest("hex");
    const bytes = Buffer.concat([Buffer.from(`{\n  "check": "${check}",\n`), body]);
    expect(checkHolds(bytes.toString("utf8"))).toBe(false);
  });
});
