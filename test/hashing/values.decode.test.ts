/**
 * Decoding state-file values and walking them (src/hashing/values.ts): every tag with a good
 * payload, every malformed-tag guard with its message, and what mapStored, walkStored and
 * fileEntries visit. Encoding: values.test.ts; generated values: values.property.test.ts.
 */
import { inspect, isDeepStrictEqual } from "node:util";
import { describe, expect, it } from "vitest";
import {
  MalformedStateError,
  decodeValue,
  fileEntries,
  mapStored,
  walkStored,
  type FileEntry,
  type Json,
} from "../../src/hashing/values.js";

const T = "$memori";
function helper() {}
/** The message of the MalformedStateError decoding `json` raises (fails if it decodes). */
function malformed(json: unknown): string {
  try {
    decodeValue(json);
  } catch (error) {
    expect(error).toBeInstanceOf(MalformedStateError);
    expect((error as Error).name).toBe("MalformedStateError");
    return (error as Error).message;
  }
  throw new Error(`decoded silently: ${inspect(json)}`);
}

describe("decodeValue", () => {
  // JSON scalars, arrays and plain objects come back as they are, decoded inside
  it("decodes plain JSON, entries, and nested tags", () => {
    for (const v of [null, "s", "", true, false, 0, 1.5, -3]) expect(decodeValue(v)).toBe(v);
    const out = decodeValue([
      1,
      { [T]: "undefined" },
      [{ [T]: "number", value: "NaN" }],
      { file: "/f", hash: "h" },
    ]);
    expect(Array.isArray(out) && isDeepStrictEqual(out, [1, undefined, [NaN], "/f"])).toBe(true);
    expect(decodeValue({ a: { b: { [T]: "bigint", value: "7" } }, c: [] })).toStrictEqual({
      a: { b: 7n },
      c: [],
    });
    const proto = decodeValue(
      JSON.parse('{"__proto__": {"x": {"$memori": "number", "value": "-0"}}}'),
    ) as object;
    expect(Object.getPrototypeOf(proto)).toBe(Object.prototype);
    expect(Object.keys(proto)).toEqual(["__proto__"]);
    expect(Object.is(Object.getOwnPropertyDescriptor(proto, "__proto__")?.value.x, -0)).toBe(true);
  });

  // each tag with a good payload
  it("decodes every tag", () => {
    expect(decodeValue({ [T]: "undefined" })).toBeUndefined();
    expect(decodeValue({ [T]: "number", value: "NaN" })).toBeNaN();
    expect(decodeValue({ [T]: "number", value: "Infinity" })).toBe(Infinity);
    expect(decodeValue({ [T]: "number", value: "-Infinity" })).toBe(-Infinity);
    expect(Object.is(decodeValue({ [T]: "number", value: "-0" }), -0)).toBe(true);
    for (const b of ["0", "42", "-42", "12345678901234567890"])
      expect(decodeValue({ [T]: "bigint", value: b })).toBe(BigInt(b));
    const date = decodeValue({ [T]: "date", value: "2020-02-03T04:05:06.007Z" }) as Date;
    expect(date).toBeInstanceOf(Date);
    expect(date.getTime()).toBe(Date.UTC(2020, 1, 3, 4, 5, 6, 7));
    const invalid = decodeValue({ [T]: "date", value: null }) as Date;
    expect(invalid).toBeInstanceOf(Date);
    expect(invalid.getTime()).toBeNaN();
    const map = decodeValue({
      [T]: "map",
      entries: [
        ["b", 1],
        [{ [T]: "undefined" }, { file: "/f", hash: "h" }],
        ["a", 3],
      ],
    });
    expect([...(map as Map<unknown, unknown>)]).toStrictEqual([
      ["b", 1],
      [undefined, "/f"],
      ["a", 3],
    ]);
    expect(map).toBeInstanceOf(Map);
    const set = decodeValue({ [T]: "set", values: ["z", { [T]: "bigint", value: "1" }, "a"] });
    expect(set).toBeInstanceOf(Set);
    expect([...(set as Set<unknown>)]).toStrictEqual(["z", 1n, "a"]);
    // an escaped object's entries are data: never an entry or a tag themselves
    expect(decodeValue({ [T]: "object", value: { file: "/f", hash: "h" } })).toStrictEqual({
      file: "/f",
      hash: "h",
    });
    expect(
      decodeValue({ [T]: "object", value: { [T]: "undefined", x: { [T]: "undefined" } } }),
    ).toStrictEqual({
      [T]: "undefined",
      x: undefined,
    });
    const bare = decodeValue(
      JSON.parse(
        '{"$memori":"object","prototype":null,"value":{"__proto__":1,"a":{"$memori":"number","value":"NaN"}}}',
      ),
    ) as Record<string, unknown>;
    expect(Object.getPrototypeOf(bare)).toBeNull();
    expect(Object.keys(bare)).toEqual(["__proto__", "a"]);
    expect([bare["__proto__"], bare.a]).toStrictEqual([1, NaN]);
  });

  // each guard, with its message
  it("throws MalformedStateError naming the problem for anything memori would not write", () => {
    /** The tag without `field`, then with each of `values` in it. */
    const bad = (tag: string, field: string, values: unknown[], message: string) =>
      [{ [T]: tag }, ...values.map((v) => ({ [T]: tag, [field]: v }))].map(
        (json): [unknown, string] => [json, message],
      );
    const cases: [unknown, string][] = [
      [NaN, "non-finite number"],
      [Infinity, "non-finite number"],
      [-Infinity, "non-finite number"],
      [undefined, "unexpected undefined"],
      [1n, "unexpected bigint"],
      [helper, "unexpected function"],
      [Symbol("s"), "unexpected symbol"],
      ...bad("number", "value", ["nan", 1, null, ["NaN"], "", "0"], "bad number tag"),
      ...bad(
        "bigint",
        "value",
        [12, ["12"], "", " 12", "12 ", "12x", "x12", "1.5", "0x1", "+1", "--1", "-"],
        "bad bigint tag",
      ),
      ...bad("date", "value", [5, {}, true, []], "bad date tag"),
      ...bad("map", "entries", [{}, "ab", null], "bad map tag"),
      ...[["ab"], [[1]], [[1, 2, 3]], [null], [{ 0: 1, 1: 2, length: 2 }], [[1, 2], []]].map(
        (entries): [unknown, string] => [{ [T]: "map", entries }, "bad map entry"],
      ),
      ...bad("set", "values", [{}, "ab", null], "bad set tag"),
      ...bad("object", "value", [null, [], [1], 1, "ab", true], "bad object tag"),
      ...[{}, "null", 0, false, []].map((prototype): [unknown, string] => [
        { [T]: "object", prototype, value: {} },
        "bad object prototype",
      ]),
      [{ [T]: "map", values: [] }, "bad map tag"],
      [{ [T]: "set", entries: [] }, "bad set tag"],
      [{ [T]: "nope" }, 'unknown tag "nope"'],
      [{ [T]: "" }, 'unknown tag ""'],
      [{ [T]: "Map", entries: [] }, 'unknown tag "Map"'],
      [{ [T]: 5 }, "unknown tag 5"],
      [{ [T]: null }, "unknown tag null"],
      [{ [T]: {} }, "unknown tag {}"],
      [[1, { [T]: "nope" }], 'unknown tag "nope"'],
      [{ a: { b: { [T]: "set" } } }, "bad set tag"],
      [{ [T]: "map", entries: [["k", { [T]: "date" }]] }, "bad date tag"],
      [{ [T]: "set", values: [NaN] }, "non-finite number"],
      [{ [T]: "object", value: { a: { [T]: "bigint", value: "x" } } }, "bad bigint tag"],
    ];
    for (const [json, message] of cases) expect(malformed(json), inspect(json)).toBe(message);
    expect(new MalformedStateError("m")).toBeInstanceOf(Error);
  });

  // known deviations from "throws for anything memori would not have written" (flip to `it` when fixed)
  // a number tag naming an Object.prototype member must not decode to that member
  it("rejects number tags naming inherited properties", () => {
    for (const value of ["__proto__", "constructor", "toString", "hasOwnProperty"]) {
      expect(malformed({ [T]: "number", value }), value).toBe("bad number tag");
    }
  });
  // memori writes toISOString(): any other date string was not written by it
  it("rejects date tags that are not an ISO string memori wrote", () => {
    for (const value of ["garbage", "2020", "2020-01-01", "2020-01-01T00:00:00Z", ""]) {
      expect(malformed({ [T]: "date", value }), value).toBe("bad date tag");
    }
    expect(decodeValue({ [T]: "date", value: "2020-01-01T00:00:00.000Z" })).toEqual(
      new Date("2020-01-01T00:00:00.000Z"),
    );
  });
});

/** Records what the walkers are offered. */
function visits(json: Json, walk: "map" | "walk") {
  const seen: unknown[] = [];
  if (walk === "map")
    mapStored(
      json,
      (e) => (seen.push(e), e),
      (s) => (seen.push(s), s),
    );
  else
    walkStored(
      json,
      (e) => seen.push(e),
      (s) => seen.push(s),
    );
  return seen;
}

describe("mapStored, walkStored, fileEntries", () => {
  const e = (n: number): FileEntry => ({ file: `/f${n}`, hash: `h${n}` }) as FileEntry;
  const stored: Json = {
    s: "top",
    arr: [e(1), "in-array", 1, null, true],
    nested: { deep: { x: e(2) } },
    date: { [T]: "date", value: "2020-01-01T00:00:00.000Z" },
    num: { [T]: "number", value: "NaN" },
    big: { [T]: "bigint", value: "12" },
    undef: { [T]: "undefined" },
    map: {
      [T]: "map",
      entries: [
        ["mk", e(3)],
        [e(4), "mv"],
      ],
    },
    set: { [T]: "set", values: ["sv", e(5)] },
    esc: { [T]: "object", value: { file: "/not", hash: "hx", inner: e(6) } },
    bare: { [T]: "object", prototype: null, value: { p: "pv" } },
  } as unknown as Json;
  const order = [
    "top",
    e(1),
    "in-array",
    e(2),
    "mk",
    e(3),
    e(4),
    "mv",
    "sv",
    e(5),
    "/not",
    "hx",
    e(6),
    "pv",
  ];

  // user strings and entries at every depth, in order; a tag's own fields never
  it("visit entries and user strings in order, not tag fields", () => {
    expect(visits(stored, "map")).toStrictEqual(order);
    expect(visits(stored, "walk")).toStrictEqual(order);
    expect(fileEntries(stored)).toStrictEqual([1, 2, 3, 4, 5, 6].map(e));
    expect(fileEntries(e(7) as unknown as Json)).toStrictEqual([e(7)]);
    expect(fileEntries(["x", [e(8)], 3, null] as Json)).toStrictEqual([e(8)]);
    walkStored(["no onString given", { a: "b" }], () => undefined); // does not throw
    const extra = Object.assign(["a"], { x: "not an element" }) as Json; // arrays: elements only
    expect([visits(extra, "map"), visits(extra, "walk")]).toStrictEqual([["a"], ["a"]]);
  });

  // rebuilds the value with the replacements, tags keeping their fields
  it("mapStored replaces entries and strings", () => {
    const out = mapStored(
      stored,
      (x) => `<${x.file}>`,
      (s) => s.toUpperCase(),
    );
    expect(out).toStrictEqual({
      s: "TOP",
      arr: ["</f1>", "IN-ARRAY", 1, null, true],
      nested: { deep: { x: "</f2>" } },
      date: { [T]: "date", value: "2020-01-01T00:00:00.000Z" },
      num: { [T]: "number", value: "NaN" },
      big: { [T]: "bigint", value: "12" },
      undef: { [T]: "undefined" },
      map: {
        [T]: "map",
        entries: [
          ["MK", "</f3>"],
          ["</f4>", "MV"],
        ],
      },
      set: { [T]: "set", values: ["SV", "</f5>"] },
      esc: { [T]: "object", value: { file: "/NOT", hash: "HX", inner: "</f6>" } },
      bare: { [T]: "object", prototype: null, value: { p: "PV" } },
    });
    expect(mapStored(["a", e(1), null, 3, false] as Json, (x) => x)).toStrictEqual([
      "a",
      e(1),
      null,
      3,
      false,
    ]);
    for (const v of [null, 3, true, "x"] as Json[]) expect(mapStored(v, (x) => x)).toBe(v);
  });

  // odd tag fields stay opaque: only an object tag's `value` object is user data
  it("leave odd tag fields alone", () => {
    const odd = [
      { [T]: "object", value: "str" },
      { [T]: "object", value: null },
      { [T]: "object", value: { a: "in" }, extra: { b: "out" } },
      { [T]: "date", value: { c: "out" } },
      { [T]: "number", value: ["out"] },
      { [T]: "set", value: ["out"], values: ["in"] },
    ] as unknown as Json;
    expect(visits(odd, "map")).toStrictEqual(["in", "in"]);
    expect(visits(odd, "walk")).toStrictEqual(["in", "in"]);
    const copy = JSON.parse(JSON.stringify(odd)) as Json[];
    (copy[2] as { value: { a: string } }).value.a = "IN";
    (copy[5] as { values: string[] }).values[0] = "IN";
    expect(
      mapStored(
        odd,
        (x) => x,
        (s) => s.toUpperCase(),
      ),
    ).toStrictEqual(copy);
  });

  // `__proto__` keys stay own data in the rebuilt value, plain or escaped
  it("mapStored keeps __proto__ keys as data", () => {
    const json = JSON.parse(
      '{"__proto__": "v", "o": {"$memori": "object", "value": {"__proto__": "w"}}}',
    ) as Json;
    const out = mapStored(
      json,
      (x) => x,
      (s) => s.toUpperCase(),
    ) as Record<string, Record<string, Record<string, string>>>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(JSON.stringify(out)).toBe(
      '{"__proto__":"V","o":{"$memori":"object","value":{"__proto__":"W"}}}',
    );
    expect(Object.getPrototypeOf(out.o!.value)).toBe(Object.prototype);
  });
});
