/**
 * Generated values through the codec of state files (src/hashing/values.ts): what is encoded
 * decodes back deep-strict-equal, the walkers agree, and every broken tag is a
 * MalformedStateError. Fixed seeds: the same values every run.
 */
import { inspect, isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { FileHasher } from "../../src/hashing/files.js";
import {
  MalformedStateError,
  decodeValue,
  encodeValue,
  fileEntries,
  isFileEntry,
  mapStored,
  sortKeys,
  walkStored,
  type Json,
} from "../../src/hashing/values.js";

const SEED = 20260611;
const T = "$memori";
const FILES = ["/data/sub-01_T1w.nii.gz", "with space.txt", "file"];
/** Takes the strings of FILES for files, so entries appear without touching the disk. */
const hasher = {
  hash: async (file: string) => (FILES.includes(file) ? "f".repeat(64) : undefined),
} as unknown as FileHasher;
const encode = (value: unknown) => encodeValue(value, "v", { stage: "prop", hasher });
/** What the state file holds: the encoding as written and parsed back. */
const stored = async (value: unknown) => JSON.parse(JSON.stringify(await encode(value))) as Json;

const key = fc.oneof(
  fc.string({ maxLength: 4 }),
  fc.constantFrom("file", "hash", T, "__proto__", "value", "prototype", "entries", "values"),
);
const str = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom(...FILES, "NaN", "-0", T));
const leaf = fc.oneof(
  fc.constantFrom(null, undefined, true, false, NaN, Infinity, -Infinity, -0, 0),
  fc.double(),
  fc.integer(),
  fc.bigInt(),
  str,
  fc.date({ noInvalidDate: true }),
  fc.record({ file: str, hash: str }),
  fc.record({ file: str, hash: str, note: fc.integer() }),
  fc.record({ file: str }),
  fc.record({ [T]: fc.oneof(str, fc.integer(), fc.constant(null)) }),
  fc.record({ [T]: str, value: str }),
);
const { tree } = fc.letrec((tie) => ({
  tree: fc.oneof({ depthSize: "small" }, leaf, tie("array"), tie("object"), tie("map"), tie("set")),
  array: fc.array(tie("tree"), { maxLength: 4 }),
  // fc.dictionary makes plain and null-prototype objects, `__proto__` keys as own data
  object: fc.dictionary(key, tie("tree"), { maxKeys: 4 }),
  map: fc.array(fc.tuple(tie("tree"), tie("tree")), { maxLength: 3 }).map((e) => new Map(e)),
  set: fc.array(tie("tree"), { maxLength: 3 }).map((v) => new Set(v)),
}));
/** A value holding at least one tag, so there is a tag to break. */
const tagged = fc.tuple(
  tree,
  fc.oneof(
    fc.constantFrom(undefined, NaN, -0, 5n, new Date(0), new Map([[1, 2]]), new Set([1])),
    fc.constant(Object.create(null) as object),
    fc.constant({ file: "a", hash: "b" }),
  ),
);

/** Every object of a stored value that decodeValue reads as a tag or a plain object. */
function sites(json: unknown, out: Record<string, unknown>[] = []): Record<string, unknown>[] {
  if (Array.isArray(json)) for (const item of json) sites(item, out);
  else if (typeof json === "object" && json !== null && !isFileEntry(json)) {
    const record = json as Record<string, unknown>;
    out.push(record);
    const inner = T in record ? [record.entries, record.values] : Object.values(record);
    if (record[T] === "object") inner.push(...Object.values(record.value as object));
    for (const item of inner) sites(item, out);
  }
  return out;
}

/** Ways to break one site, by its tag: each yields JSON memori would never have written. */
const BREAKS: Record<string, ((r: Record<string, unknown>) => void)[]> = {
  any: [(r) => (r[T] = "nope"), (r) => (r[T] = 7), (r) => (r[T] = null), (r) => (r[T] = "Map")],
  plain: [(r) => (r[T] = "bogus"), (r) => (r[T] = ["map"])],
  number: [
    (r) => (r.value = "nan"),
    (r) => (r.value = 0),
    (r) => (r.value = ["NaN"]),
    (r) => delete r.value,
  ],
  bigint: [
    (r) => (r.value = "1.5"),
    (r) => (r.value = 12),
    (r) => (r.value = ""),
    (r) => delete r.value,
  ],
  date: [
    (r) => (r.value = 0),
    (r) => (r.value = {}),
    (r) => (r.value = true),
    (r) => delete r.value,
  ],
  map: [
    (r) => (r.entries = {}),
    (r) => delete r.entries,
    (r) => (r.entries = "ab"),
    (r) => (r.entries = [[1]]),
  ],
  set: [
    (r) => (r.values = {}),
    (r) => delete r.values,
    (r) => (r.values = "ab"),
    (r) => (r.values = null),
  ],
  object: [
    (r) => (r.value = null),
    (r) => (r.value = []),
    (r) => (r.value = "s"),
    (r) => (r.prototype = {}),
  ],
  undefined: [],
};

describe("codec properties", () => {
  // decode(JSON round trip of encode(v)) is v, types, prototypes, -0 and NaN included
  it("round-trips generated values exactly", async () => {
    await fc.assert(
      fc.asyncProperty(tree, async (value) => {
        const back = decodeValue(await stored(value));
        expect(isDeepStrictEqual(back, value), inspect({ value, back }, { depth: 9 })).toBe(true);
      }),
      { numRuns: 600, seed: SEED },
    );
  });

  // walkStored offers exactly what mapStored does; identity mapStored and sortKeys change nothing
  it("walks stored values like mapStored rebuilds them", async () => {
    await fc.assert(
      fc.asyncProperty(tree, async (value) => {
        const json = await stored(value);
        const mapped: unknown[] = [];
        const walked: unknown[] = [];
        const copy = mapStored(
          json,
          (e) => (mapped.push(e), e),
          (s) => (mapped.push(s), s),
        );
        walkStored(
          json,
          (e) => walked.push(["entry", e]),
          (s) => walked.push(s),
        );
        expect(walked).toStrictEqual(mapped.map((m) => (isFileEntry(m) ? ["entry", m] : m)));
        expect(fileEntries(json)).toStrictEqual(mapped.filter(isFileEntry));
        expect(copy).toStrictEqual(json);
        // entries replaced by their paths decode the same: entries stand for their path
        const paths = mapStored(json, (e) => e.file);
        expect(fileEntries(paths)).toStrictEqual([]);
        expect(isDeepStrictEqual(decodeValue(paths), value)).toBe(true);
        expect(isDeepStrictEqual(decodeValue(sortKeys(json)), value)).toBe(true);
      }),
      { numRuns: 400, seed: SEED },
    );
  });

  // breaking one field of one tag (or tagging a plain object) always gives MalformedStateError
  it("rejects every broken tag with MalformedStateError", async () => {
    let broken = 0;
    await fc.assert(
      fc.asyncProperty(tagged, fc.nat(), fc.nat(), async (value, pick, how) => {
        const json = await stored(value);
        const all = sites(json);
        const site = all[pick % all.length]!;
        const tag = T in site ? String(site[T]) : "plain";
        const ways = tag === "plain" ? BREAKS.plain! : [...BREAKS.any!, ...BREAKS[tag]!];
        ways[how % ways.length]!(site);
        broken++;
        let error: unknown;
        try {
          decodeValue(json);
        } catch (e) {
          error = e;
        }
        expect(error, inspect(json, { depth: 9 })).toBeInstanceOf(MalformedStateError);
      }),
      { numRuns: 800, seed: SEED },
    );
    expect(broken).toBe(800);
  });
});
