// Unit tests of src/engine/fingerprint.ts: what a fingerprint holds (code, inputs with env:NAME,
// output names), where encoding errors point, how reasons render values (shorten), the order
// and content of compare()'s reasons, and verifyFiles().
import { writeFile } from "node:fs/promises";
import path from "node:path";
import stringify from "fast-json-stable-stringify";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { Stage } from "../../src/stage.js";
import { DEFINITION } from "../../src/engine/node.js";
import {
  compare,
  directoryRule,
  encodeAll,
  fingerprintNow,
  takeFingerprint,
  verifyFiles,
  type Fingerprint,
} from "../../src/engine/fingerprint.js";
import { changedPair, sameJson, shorten } from "../../src/engine/difference.js";
import { FileHasher, HashScope, sha256, type Sha256Hex } from "../../src/hashing/files.js";
import { codeIdentity, type CodeIdentity } from "../../src/hashing/hashable.js";
import type { FileEntry, Json } from "../../src/hashing/values.js";
import type { StoredState } from "../../src/state/store.js";
import { canChdir, recordingLogger, tempDir } from "../util/tmp.js";

const HEX = "3c463695f6ad" + "0".repeat(52);
const HEX2 = "ad53e8806d17" + "1".repeat(52);
const entry = (file: string, hash: string) =>
  ({ file, hash }) as unknown as FileEntry & { [key: string]: Json };

function code(over: Partial<CodeIdentity> = {}): CodeIdentity {
  return { hash: "h", self: "s", callees: {}, wrappers: [], extras: {}, ...over } as CodeIdentity;
}

function fingerprint(over: Partial<Fingerprint> = {}): Fingerprint {
  return { code: code(), inputs: { a: 1 }, outputs: ["x"], ...over };
}

function state(
  over: {
    code?: CodeIdentity;
    names?: string[];
    inputs?: Record<string, Json>;
    outputs?: Record<string, Json>;
    written?: FileEntry[];
  } = {},
): StoredState {
  return {
    record: {
      memori: 1,
      name: "st",
      run: "r",
      time: "t",
      code: over.code ?? code(),
      outputs: over.names ?? ["x"],
      digests: { inputs: "" as Sha256Hex, outputs: "" as Sha256Hex },
    },
    inputs: over.inputs ?? { a: 1 },
    outputs: over.outputs ?? { x: 0 },
    written: over.written ?? [],
  };
}

describe("takeFingerprint and encodeAll", () => {
  const saved = { ...process.env };
  afterEach(() => {
    delete process.env.MEMORI_FP_SET;
    delete process.env.MEMORI_FP_UNSET;
    Object.assign(process.env, saved);
  });

  // pins code identity, inputs by content, `env:NAME` keys (unset -> the undefined tag), output names
  it("holds the code identity, the encoded inputs then env:NAME entries, and the output names", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "in.txt");
    await writeFile(file, "content");
    process.env.MEMORI_FP_SET = "fsl";
    delete process.env.MEMORI_FP_UNSET;
    const stage = new Stage((count: number, inFile: string) => [count, inFile], {
      name: "fp",
      outputs: ["n", "f"],
      env: ["MEMORI_FP_SET", "MEMORI_FP_UNSET"],
      logger: recordingLogger().logger,
    });
    const def = stage[DEFINITION];
    const scope = new HashScope();
    const fp = await takeFingerprint(def, { count: 3, inFile: file }, scope);
    expect(fp.code).toEqual((await codeIdentity(def.fn)).code);
    expect(fp.inputs).toStrictEqual({
      count: 3,
      inFile: { file, hash: sha256("content") },
      "env:MEMORI_FP_SET": "fsl",
      "env:MEMORI_FP_UNSET": { $memori: "undefined" },
    });
    expect(Object.keys(fp.inputs)).toEqual([
      "count",
      "inFile",
      "env:MEMORI_FP_SET",
      "env:MEMORI_FP_UNSET",
    ]);
    expect(fp.outputs).toEqual(["n", "f"]);
    expect(scope.seen.has(file)).toBe(true); // files are hashed within the given scope
  });

  // pins variables the code reads by name: after the listed ones, each once, where first named
  it("adds the variables the code reads after the listed ones, each once", async () => {
    process.env.MEMORI_FP_SET = "a";
    process.env.MEMORI_FP_CODE = "b";
    const stage = new Stage(
      (x: number) => `${x}${process.env.MEMORI_FP_CODE}${process.env.MEMORI_FP_SET}`,
      {
        name: "fpenv",
        env: ["MEMORI_FP_SET"],
        logger: recordingLogger().logger,
      },
    );
    const fp = await takeFingerprint(stage[DEFINITION], { x: 1 }, new HashScope());
    expect(Object.keys(fp.inputs)).toEqual(["x", "env:MEMORI_FP_SET", "env:MEMORI_FP_CODE"]);
    expect(fp.inputs["env:MEMORI_FP_CODE"]).toBe("b");
    // a stored read (read:PATH) is an input again, after them; a path that names no file stays one
    const stored = { "read:/nonexistent/memori-fp": "/nonexistent/memori-fp" } as Record<
      string,
      Json
    >;
    const again = await takeFingerprint(stage[DEFINITION], { x: 1 }, new HashScope(), {
      ...state(),
      inputs: stored,
    });
    expect(Object.keys(again.inputs)).toEqual([
      "x",
      "env:MEMORI_FP_SET",
      "env:MEMORI_FP_CODE",
      "read:/nonexistent/memori-fp",
    ]);
    delete process.env.MEMORI_FP_CODE;
  });

  // pins `inputs.<name>` in the error of a value that cannot be stored, and the stage's name
  it("names the stage and inputs.<name> when an input cannot be stored", async () => {
    const stage = new Stage((cb: unknown) => cb, { name: "enc", logger: recordingLogger().logger });
    await expect(
      takeFingerprint(stage[DEFINITION], { cb: Symbol("s") }, new HashScope()),
    ).rejects.toThrow(/^stage "enc": inputs\.cb is a symbol/);
  });

  // pins `${where}.${key}` and the hasher passed to the encoder
  it("encodeAll encodes each value under `where.key`", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "out.txt");
    await writeFile(file, "out");
    const def = { name: "enc2", hasher: new FileHasher() };
    expect(
      await encodeAll(def, { y: file, z: [1, "two"] }, "outputs", new HashScope()),
    ).toStrictEqual({
      y: { file, hash: sha256("out") },
      z: [1, "two"],
    });
    await expect(encodeAll(def, { ok: 1, y: () => 1 }, "outputs", new HashScope())).rejects.toThrow(
      /^stage "enc2": outputs\.y is /,
    );
  });
});

describe("fingerprintNow", () => {
  // pins the promise-free path: a known code identity and no string that could name a file
  it("is taken without a promise only when nothing has to wait, with takeFingerprint()'s value", async () => {
    const stage = new Stage((n: number, s?: string) => [n, s], {
      name: "now",
      outputs: ["n", "s"],
      logger: recordingLogger().logger,
    });
    const def = stage[DEFINITION];
    const scope = new HashScope();
    const first = fingerprintNow(def, { n: 1 }, scope); // its code identity not yet known
    expect(first).toBeInstanceOf(Promise);
    const taken = await first;
    const now = fingerprintNow(def, { n: 1 }, scope);
    expect(now).not.toBeInstanceOf(Promise);
    expect(now).toStrictEqual(taken);
    expect(now).toStrictEqual(await takeFingerprint(def, { n: 1 }, scope));
    const withPath = fingerprintNow(def, { n: 1, s: "/nonexistent/memori-now" }, scope);
    expect(withPath).toBeInstanceOf(Promise);
    expect((await withPath).inputs).toStrictEqual({ n: 1, s: "/nonexistent/memori-now" });
    expect(() => fingerprintNow(def, { n: Symbol("x") }, scope)).toThrow(/inputs\.n is a symbol/);
  });
});

describe("directoryRule", () => {
  // pins what the rule is made from: a change to any of it makes a new rule
  it("is made again when hashOutput, ignore or (for a relative hashOutput) the working directory differ", async () => {
    const def: { hashOutput?: string; ignore?: readonly string[] } = { hashOutput: "/abs/state" };
    const rule = directoryRule(def);
    expect(rule).toStrictEqual({ ignore: undefined, skip: ["/abs/state"] });
    expect(directoryRule(def)).toBe(rule);
    def.hashOutput = "/abs/other";
    expect(directoryRule(def).skip).toEqual(["/abs/other"]);
    def.ignore = ["*.log"];
    expect(directoryRule(def)).toStrictEqual({ ignore: ["*.log"], skip: ["/abs/other"] });
    def.hashOutput = undefined;
    expect(directoryRule(def)).toStrictEqual({ ignore: ["*.log"], skip: [] });
    def.hashOutput = "rel-state";
    expect(directoryRule(def).skip).toEqual([path.resolve("rel-state")]);
    // another definition with the same directory and globs has the same rule; other globs, not
    const same = directoryRule({ hashOutput: "rel-state", ignore: ["*.log"] });
    expect(same).toBe(directoryRule(def));
    expect(directoryRule({ hashOutput: "rel-state", ignore: ["*.tmp"] }).ignore).toEqual(["*.tmp"]);
    expect(directoryRule({ hashOutput: "rel-state" }).ignore).toBeUndefined();
    expect(directoryRule({ hashOutput: "rel-state", ignore: [] }).ignore).toEqual([]);
    // the rule keeps the globs it was made with, whatever happens to the list given
    const globs = ["a/**"];
    const kept = directoryRule({ hashOutput: "/abs/k", ignore: globs });
    globs.push("b/**");
    expect(kept.ignore).toEqual(["a/**"]);
    expect(directoryRule({ hashOutput: "/abs/k", ignore: globs }).ignore).toEqual(["a/**", "b/**"]);
    if (!canChdir) return;
    const before = process.cwd();
    const dir = await tempDir();
    process.chdir(dir);
    try {
      expect(directoryRule(def).skip).toEqual([path.join(process.cwd(), "rel-state")]);
    } finally {
      process.chdir(before);
    }
    expect(directoryRule(def).skip).toEqual([path.join(before, "rel-state")]);
  });
});

describe("shorten", () => {
  // pins "(absent)", the undefined tag, null and other tags
  it("renders absent, undefined, null and tagged values", () => {
    expect(shorten(undefined)).toBe("(absent)");
    expect(shorten({ $memori: "undefined" })).toBe("undefined");
    expect(shorten(null)).toBe("null");
    expect(shorten("undefined")).toBe('"undefined"');
    expect(shorten({ $memori: "number", value: "NaN" })).toBe('{"$memori":"number","value":"NaN"}');
  });

  // pins the 64-hex test (anchors, class, count) and the 12-character cut
  it("renders a file entry as path@12 hex characters, or path (marker) when the hash is not a digest", () => {
    expect(shorten(entry("/data/t1.nii", HEX))).toBe("/data/t1.nii@3c463695f6ad");
    expect(shorten(entry("/d/f", "missing"))).toBe("/d/f (missing)");
    for (const odd of [HEX.slice(1), HEX + "0", "z" + HEX, HEX + "z", HEX.toUpperCase()]) {
      expect(shorten(entry("/d/f", odd))).toBe(`/d/f (${odd})`);
    }
    expect(shorten({ file: "/d/f", hash: 5 })).toBe('{"file":"/d/f","hash":5}'); // not an entry
  });

  // pins canonical JSON and the cut: 60 characters stay, 61 become 57 + "..."
  it("renders other values as canonical JSON, cut to 57 characters and ... beyond 60", () => {
    expect(shorten({ b: 1, a: [2, "x"] })).toBe('{"a":[2,"x"],"b":1}');
    expect(shorten(7)).toBe("7");
    const sixty = "a".repeat(58);
    expect(shorten(sixty)).toBe(`"${sixty}"`);
    expect(shorten(sixty + "b")).toBe(`"${"a".repeat(56)}...`);
  });
});

describe("changedPair", () => {
  const stats = (n: number) => entry(`/out/sub-0${n}_clean_stats.json`, HEX);
  // H8's case: a cohort shrank from four subjects to two, and both lists shortened alike
  it("says how many items a list had and has, and which were added or removed", () => {
    const before = [stats(1), stats(2), stats(3), stats(4)];
    expect(changedPair(before, [stats(1), stats(3)])).toEqual([
      "4 items",
      "2 items, removed [1] /out/sub-02_clean_stats.json@3c463695f6ad, [3] /out/sub-04_clean_stats.json@3c463695f6ad",
    ]);
    expect(changedPair([1], [1, 2, 3, 4, 1])).toEqual([
      "1 item",
      "5 items, added [1] 2, [2] 3 and 2 more",
    ]);
    // by count: one of two equal items gone is one removed
    expect(changedPair(["a", "a", "b"], ["a", "b"])).toEqual([
      "3 items",
      '2 items, removed [1] "a"',
    ]);
    expect(changedPair([], ["x"])).toEqual(["0 items", '1 item, added [0] "x"']);
  });

  it("shows where two values that shorten alike first differ", () => {
    const long = (tail: string) => ({
      path: `/a/very/long/folder/name/that/repeats/and/repeats/${tail}`,
    });
    const [old, now] = changedPair(long("sub-01/anat.nii"), long("sub-02/anat.nii"));
    expect(old).not.toBe(now);
    expect(shorten(long("sub-01/anat.nii"))).toBe(shorten(long("sub-02/anat.nii")));
    expect(old).toBe('...ts/and/repeats/sub-01/anat.nii"}');
    expect(now).toBe('...ts/and/repeats/sub-02/anat.nii"}');
    const [a, b] = changedPair("x".repeat(100) + "1" + "y".repeat(100), "x".repeat(100) + "2");
    expect(a).toBe(`...${"x".repeat(20)}1${"y".repeat(33)}...`);
    expect(b).toBe(`...${"x".repeat(20)}2"`);
  });

  it("is the two shortened values otherwise", () => {
    expect(changedPair(1, 3)).toEqual(["1", "3"]);
    expect(changedPair(undefined, "new")).toEqual(["(absent)", '"new"']);
    expect(changedPair([1, 2], [1, 3])).toEqual(["[1,2]", "[1,3]"]);
  });
});

describe("compare", () => {
  // pins the fully-equal case
  it("is cached when code, output names, inputs and stored outputs match", () => {
    expect(compare(fingerprint(), state(), "st")).toStrictEqual({ kind: "cached" });
  });

  // pins the listing: the stage, changed callees sorted, changed extras sorted, then wrappers
  it("lists exactly what changed in the code, in order", () => {
    const before = code({
      hash: "h1" as Sha256Hex,
      self: "s1" as Sha256Hex,
      callees: { zeta: "z1", beta: "b1", same: "c" } as unknown as CodeIdentity["callees"],
      extras: { "run.sh": "e1", "a.sh": "e2", "keep.sh": "k" },
      wrappers: ["script:1"],
    });
    const after = code({
      hash: "h2" as Sha256Hex,
      self: "s2" as Sha256Hex,
      callees: { same: "c", zeta: "z2", alpha: "a2" } as unknown as CodeIdentity["callees"],
      extras: { "keep.sh": "k", "run.sh": "e1b", "b.sh": "e3" },
      wrappers: ["script:2"],
    });
    expect(compare(fingerprint({ code: after }), state({ code: before }), "bet")).toStrictEqual({
      kind: "function-changed",
      changed: ["bet", "alpha", "beta", "zeta", "a.sh", "b.sh", "run.sh", "wrappers"],
    });
  });

  // pins each condition on its own: nothing listed that did not change
  it("lists only the parts that differ", () => {
    const h = (s: string) => s as Sha256Hex;
    const base = code({ callees: { f: h("1") }, extras: { e: "1" }, wrappers: ["w"] });
    const changed = (over: Partial<CodeIdentity>) =>
      compare(
        fingerprint({ code: { ...base, hash: h("new"), ...over } }),
        state({ code: base }),
        "st",
      );
    expect(changed({})).toStrictEqual({ kind: "function-changed", changed: [] });
    expect(changed({ self: h("s2") })).toStrictEqual({ kind: "function-changed", changed: ["st"] });
    expect(changed({ callees: { f: h("2") } })).toStrictEqual({
      kind: "function-changed",
      changed: ["f"],
    });
    expect(changed({ extras: { e: "2" } })).toStrictEqual({
      kind: "function-changed",
      changed: ["e"],
    });
    expect(changed({ wrappers: ["v"] })).toStrictEqual({
      kind: "function-changed",
      changed: ["wrappers"],
    });
    // the code hash decides: equal hashes are the same code, whatever else differs
    const sameHash = { ...base, self: h("other") };
    expect(compare(fingerprint({ code: sameHash }), state({ code: base }), "st").kind).toBe(
      "cached",
    );
  });

  // pins the order: code before output names before inputs
  it("checks code first, then output names, then inputs", () => {
    const fp = fingerprint({
      code: code({ hash: "h2" as Sha256Hex }),
      outputs: ["y"],
      inputs: { a: 2 },
    });
    expect(compare(fp, state(), "st").kind).toBe("function-changed");
    const noCode = { ...fp, code: code() };
    expect(compare(noCode, state(), "st")).toStrictEqual({
      kind: "output-names-changed",
      old: ["x"],
      new: ["y"],
    });
    expect(compare({ ...noCode, outputs: ["x"] }, state(), "st").kind).toBe("input-changed");
  });

  // pins the first differing name in sorted order, and both renderings (absent on either side)
  it("names the first changed input in sorted order, with old and new renderings", () => {
    const fp = (inputs: Record<string, Json>) => fingerprint({ inputs });
    const st = (inputs: Record<string, Json>) => state({ inputs });
    expect(compare(fp({ same: 0, b: 2, a: 3 }), st({ same: 0, b: 1, a: 1 }), "st")).toStrictEqual({
      kind: "input-changed",
      name: "a",
      old: "1",
      new: "3",
    });
    expect(compare(fp({ a: 1, z: "new" }), st({ a: 1 }), "st")).toStrictEqual({
      kind: "input-changed",
      name: "z",
      old: "(absent)",
      new: '"new"',
    });
    expect(compare(fp({ a: 1 }), st({ a: 1, y: 5 }), "st")).toStrictEqual({
      kind: "input-changed",
      name: "y",
      old: "5",
      new: "(absent)",
    });
    const t1 = (hash: string) => ({ a: 1, t1w: entry("/data/t1.nii", hash) });
    expect(compare(fp(t1(HEX2)), st(t1(HEX)), "st")).toStrictEqual({
      kind: "input-changed",
      name: "t1w",
      old: "/data/t1.nii@3c463695f6ad",
      new: "/data/t1.nii@ad53e8806d17",
    });
  });

  // pins filesAsPaths: a file the stage wrote is compared by path, on both sides
  it("compares inputs that name written files by path, not content", () => {
    const written = [entry("/out/w.txt", HEX)];
    const fp = fingerprint({ inputs: { a: 1, w: entry("/out/w.txt", HEX2) } });
    const stored = state({ inputs: { a: 1, w: entry("/out/w.txt", HEX) }, written });
    expect(compare(fp, stored, "st")).toStrictEqual({ kind: "cached" }); // default: trackedFiles(state)
    expect(compare(fp, stored, "st", []).kind).toBe("input-changed"); // nothing written: by content
    // now a plain string (the file is gone) on one side, an entry on the other: both a path
    const gone = fingerprint({ inputs: { a: 1, w: "/out/w.txt" } });
    expect(compare(gone, stored, "st")).toStrictEqual({ kind: "cached" });
    // a returned output file counts as written too
    const viaOutput = state({
      inputs: { a: 1, w: entry("/out/w.txt", HEX) },
      outputs: { x: entry("/out/w.txt", HEX) },
    });
    expect(compare(fp, viaOutput, "st")).toStrictEqual({ kind: "cached" });
    // other files are still compared by content
    const other = fingerprint({
      inputs: { a: 1, w: entry("/out/w.txt", HEX2), r: entry("/in", HEX2) },
    });
    const storedOther = state({
      inputs: { a: 1, w: entry("/out/w.txt", HEX), r: entry("/in", HEX) },
      written,
    });
    expect(compare(other, storedOther, "st")).toMatchObject({ kind: "input-changed", name: "r" });
  });

  // pins the shortcut: with written files that no input names, inputs are compared as they are
  it("compares inputs by content when the files the stage wrote are not among them", () => {
    const written = [entry("/out/w.txt", HEX)];
    const stored = state({ inputs: { a: 1, r: entry("/in", HEX) }, written });
    expect(
      compare(fingerprint({ inputs: { a: 1, r: entry("/in", HEX) } }), stored, "st"),
    ).toStrictEqual({
      kind: "cached",
    });
    expect(
      compare(fingerprint({ inputs: { a: 1, r: entry("/in", HEX2) } }), stored, "st"),
    ).toStrictEqual({
      kind: "input-changed",
      name: "r",
      old: "/in@3c463695f6ad",
      new: "/in@ad53e8806d17",
    });
    // a written file named on the current side only is still a path there
    const named = fingerprint({
      inputs: { a: 1, r: entry("/in", HEX), w: entry("/out/w.txt", HEX2) },
    });
    const storedNamed = state({ inputs: { a: 1, r: entry("/in", HEX), w: "/out/w.txt" }, written });
    expect(compare(named, storedNamed, "st")).toStrictEqual({ kind: "cached" });
  });

  // pins the last check: an output name the stored outputs lack
  it("says output-names-changed when the stored outputs lack a name the record lists", () => {
    const fp = fingerprint({ outputs: ["x", "y"] });
    const stored = state({ names: ["x", "y"], outputs: { x: 1 } });
    expect(compare(fp, stored, "st")).toStrictEqual({
      kind: "output-names-changed",
      old: ["x", "y"],
      new: ["x", "y"],
    });
  });
});

describe("verifyFiles", () => {
  // pins missing -> output-missing, modified -> output-modified, the first failing in order
  it("gives the first file that is missing or modified, or undefined when all are intact", async () => {
    const dir = await tempDir();
    const [ok, changed, missing] = ["ok", "changed", "missing"].map((n) => path.join(dir, n)) as [
      string,
      string,
      string,
    ];
    await writeFile(ok, "ok");
    await writeFile(changed, "now");
    const okEntry = entry(ok, sha256("ok"));
    const changedEntry = entry(changed, sha256("before"));
    const missingEntry = entry(missing, sha256("x"));
    const def = { hasher: new FileHasher() };
    const scope = new HashScope();
    const verify = (entries: FileEntry[]) => verifyFiles(entries, def, scope);
    expect(await verify([okEntry, missingEntry, changedEntry])).toStrictEqual({
      kind: "output-missing",
      path: missing,
    });
    expect(await verify([okEntry, changedEntry, missingEntry])).toStrictEqual({
      kind: "output-modified",
      path: changed,
    });
    expect(await verify([okEntry, entry(changed, sha256("now"))])).toBeUndefined();
    expect(await verify([])).toBeUndefined();
    expect(scope.seen.has(ok)).toBe(true); // hashed within the call's scope
    // A directory is by content: a recorded hash that is not its content is a modification.
    expect(await verify([entry(dir, sha256("x"))])).toStrictEqual({
      kind: "output-modified",
      path: dir,
    });
  });
});

describe("sameJson", () => {
  const key = fc.oneof(
    fc.string({ maxLength: 3 }),
    fc.constantFrom("__proto__", "file", "hash", "$memori", "toJSON", "0", "length"),
  );
  const { json } = fc.letrec<{ json: Json }>((tie) => ({
    json: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      fc.constantFrom<Json>(null, true, false, 0, -0, 1, "", "0", "null", "true"),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.string({ maxLength: 4 }),
      fc.array(tie("json"), { maxLength: 4 }),
      fc.array(fc.tuple(key, tie("json")), { maxLength: 4 }).map((entries) => {
        // JSON.parse makes a key named __proto__ an own property; so does this
        const object: Record<string, Json> = {};
        for (const [k, v] of entries) {
          Object.defineProperty(object, k, {
            value: v,
            enumerable: true,
            writable: true,
            configurable: true,
          });
        }
        return object;
      }),
    ),
  }));
  /** The same value with its keys in another order (what a state file read back may hold). */
  const reordered = (value: Json): Json => {
    if (Array.isArray(value)) return value.map(reordered);
    if (value === null || typeof value !== "object") return value;
    const out: Record<string, Json> = {};
    for (const k of Object.keys(value).reverse()) {
      Object.defineProperty(out, k, {
        value: reordered(value[k]!),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  };

  // pins equality as canonical JSON: the comparison compare() made by serializing both sides
  it("is true exactly when both sides serialize alike (generated values)", () => {
    fc.assert(
      fc.property(json, json, (a, b) => {
        expect(sameJson(a, b)).toBe(stringify(a) === stringify(b));
        expect(sameJson(a, reordered(a))).toBe(true);
        expect(sameJson(a, JSON.parse(JSON.stringify(a)) as Json)).toBe(true);
      }),
      { seed: 20260611, numRuns: 2000 },
    );
  });

  // pins the cases a structural comparison could get wrong
  it("tells arrays from objects, strings from numbers, and own keys from inherited ones", () => {
    expect(sameJson([], {})).toBe(false);
    expect(sameJson({}, [])).toBe(false);
    expect(sameJson({ 0: 1 }, [1])).toBe(false);
    expect(sameJson("1", 1)).toBe(false);
    expect(sameJson(null, "null")).toBe(false);
    expect(sameJson(null, {})).toBe(false);
    expect(sameJson(-0, 0)).toBe(true);
    expect(sameJson({ a: 1, b: [2, { c: 3 }] }, { b: [2, { c: 3 }], a: 1 })).toBe(true);
    expect(sameJson({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(sameJson({ a: 1, b: 2 }, { a: 1, c: 2 })).toBe(false);
    expect(sameJson([1, 2], [2, 1])).toBe(false);
    const own = JSON.parse('{"__proto__": 1}') as Json;
    expect(sameJson(own, { a: 1 })).toBe(false);
    expect(sameJson({ a: 1 }, own)).toBe(false);
    expect(sameJson(own, JSON.parse('{"__proto__": 1}') as Json)).toBe(true);
    expect(sameJson({ toString: 1 }, { valueOf: 1 })).toBe(false);
  });
});
