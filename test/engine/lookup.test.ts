// Unit tests of src/engine/lookup.ts: every rung of the decision ladder with its exact Reason,
// on states written by real Stage runs and read back with StateStore.
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Stage } from "../../src/stage.js";
import { DEFINITION } from "../../src/engine/node.js";
import { takeFingerprint } from "../../src/engine/fingerprint.js";
import { lookup, lookupNow, trackedOf, type LookupInput } from "../../src/engine/lookup.js";
import { MemoriError } from "../../src/errors.js";
import { HashScope } from "../../src/hashing/files.js";
import { stageLocation } from "../../src/state/location.js";
import { FOUND_PATHS_FORMAT } from "../../src/state/record.js";
import { StateStore, trackedFiles, type StoredState } from "../../src/state/store.js";
import type { FileEntry, Json } from "../../src/hashing/values.js";
import { recordingLogger, tempDir } from "../util/tmp.js";

const quiet = recordingLogger().logger;

/** The stage under test: writes a file through its argument and returns it with a number. */
async function lk(a: number, outFile: string) {
  await writeFile(outFile, `a=${a}`);
  return [a * 2, outFile];
}

function stageIn(hashOutput: string, readonlyCaches: string[] = []) {
  return new Stage(lk, {
    name: "lk",
    outputs: ["double", "file"],
    hashOutput,
    readonlyCaches,
    logger: quiet,
  });
}

/** A directory with a committed state of `lk(a, <dir>/out.txt)`. */
async function ranState(a: number, outFile?: string): Promise<{ dir: string; outFile: string }> {
  const dir = await tempDir();
  const out = outFile ?? path.join(dir, "out.txt");
  await stageIn(dir).run(a, out);
  return { dir, outFile: out };
}

function stored(dir: string): StoredState {
  const read = new StateStore(dir, "lk").read();
  if (read.kind !== "ok") throw new Error(`no state in ${dir}`);
  return read.state;
}

/** What lookup() works from for `lk(a, outFile)` with state in `dir`. */
async function inputFor(
  dir: string,
  a: number,
  outFile: string,
  over: Partial<LookupInput> & { stageCaches?: string[] } = {},
): Promise<LookupInput> {
  const def = stageIn(dir, over.stageCaches)[DEFINITION];
  const scope = new HashScope();
  const location = stageLocation(dir, "lk");
  return {
    def,
    location,
    previous: location.store.read(),
    fingerprint: await takeFingerprint(def, { a, outFile }, scope),
    options: {},
    readonlyCaches: [],
    scope,
    refresh: false,
    ...over,
  };
}

describe("before any state is read", () => {
  // pins `location === undefined || fingerprint === undefined`
  it("is not memoized without a location, or without a fingerprint", async () => {
    const { dir, outFile } = await ranState(1);
    const base = await inputFor(dir, 1, outFile);
    const miss = { hit: false, reason: { kind: "not-memoized" }, rejected: [] };
    expect(await lookup({ ...base, location: undefined })).toStrictEqual(miss);
    expect(await lookup({ ...base, fingerprint: undefined })).toStrictEqual(miss);
  });

  // pins `forceRun || (refresh && !forceSkip)`
  it("is forced with forceRun, or with MEMORI_REFRESH unless forceSkip is given", async () => {
    const { dir, outFile } = await ranState(1);
    const base = await inputFor(dir, 1, outFile);
    const forced = { hit: false, reason: { kind: "forced" }, rejected: [] };
    expect(await lookup({ ...base, options: { forceRun: true } })).toStrictEqual(forced);
    expect(await lookup({ ...base, refresh: true })).toStrictEqual(forced);
    const skipped = await lookup({ ...base, refresh: true, options: { forceSkip: true } });
    expect(skipped).toMatchObject({ hit: true, reason: { kind: "forced" } });
    expect(await lookup(base)).toMatchObject({ hit: true, reason: { kind: "cached" } });
  });
});

describe("forceSkip", () => {
  // pins the no-state error: reason, stage, and the message for absent state
  it("throws no-state when nothing is stored", async () => {
    const dir = await tempDir();
    const input = await inputFor(dir, 1, path.join(dir, "out.txt"), {
      options: { forceSkip: true },
    });
    const error = await lookup(input).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MemoriError);
    expect(error).toMatchObject({
      reason: "no-state",
      stage: "lk",
      message: `stage "lk": forceSkip was given but nothing is stored in ${dir}; run it without forceSkip first.`,
    });
  });

  // pins the message for unreadable state: the file and what is wrong with it
  it("throws no-state naming the unreadable file and why", async () => {
    const { dir, outFile } = await ranState(1);
    await writeFile(path.join(dir, "lk.stage"), "{");
    const input = await inputFor(dir, 1, outFile, { options: { forceSkip: true } });
    expect(input.previous.kind).toBe("unreadable");
    const { file, detail } = input.previous as { file: string; detail: string };
    expect(file).toBe(path.join(dir, "lk.stage"));
    await expect(lookup(input)).rejects.toThrow(
      `stage "lk": forceSkip was given but ${file} ${detail} in ${dir}; run it without forceSkip first.`,
    );
  });

  // pins the forced hit: decoded outputs, the stored state, and no mismatch when all matches
  it("loads the stored results, with no mismatch when nothing changed", async () => {
    const { dir, outFile } = await ranState(1);
    const found = await lookup(await inputFor(dir, 1, outFile, { options: { forceSkip: true } }));
    expect(found).toStrictEqual({
      hit: true,
      reason: { kind: "forced" },
      outputs: { double: 2, file: outFile },
      state: stored(dir),
    });
  });

  // pins `mismatch`: compare()'s reason first, else verifyFiles()'s
  it("loads the stored results anyway, saying how they differ", async () => {
    const { dir, outFile } = await ranState(1);
    const changed = await lookup(await inputFor(dir, 7, outFile, { options: { forceSkip: true } }));
    expect(changed).toMatchObject({
      hit: true,
      reason: { kind: "forced" },
      outputs: { double: 2, file: outFile },
      mismatch: { kind: "input-changed", name: "a", old: "1", new: "7" },
    });
    await writeFile(outFile, "tampered");
    const tampered = await lookup(
      await inputFor(dir, 1, outFile, { options: { forceSkip: true } }),
    );
    expect(tampered).toMatchObject({
      hit: true,
      reason: { kind: "forced" },
      mismatch: { kind: "output-modified", path: outFile },
    });
  });
});

describe("the call's own state", () => {
  // pins the cached hit: decoded outputs, the state, no `from`
  it("is a hit when valid", async () => {
    const { dir, outFile } = await ranState(1);
    expect(await lookup(await inputFor(dir, 1, outFile))).toStrictEqual({
      hit: true,
      reason: { kind: "cached" },
      outputs: { double: 2, file: outFile },
      state: stored(dir),
    });
  });

  // pins ownStateReason: absent -> first-run, unreadable -> state-unreadable with file and detail
  it("is a first run when absent, state-unreadable when it cannot be read", async () => {
    const dir = await tempDir();
    const outFile = path.join(dir, "out.txt");
    expect(await lookup(await inputFor(dir, 1, outFile))).toStrictEqual({
      hit: false,
      reason: { kind: "first-run" },
      rejected: [],
    });
    await stageIn(dir).run(1, outFile);
    await writeFile(path.join(dir, "lk.outputs"), "not json");
    const input = await inputFor(dir, 1, outFile);
    const { file, detail } = input.previous as { file: string; detail: string };
    expect(file).toBe(path.join(dir, "lk.outputs"));
    expect(detail).toMatch(/^is not valid JSON/);
    expect(await lookup(input)).toStrictEqual({
      hit: false,
      reason: { kind: "state-unreadable", file, detail },
      rejected: [],
    });
  });

  // pins validResult: compare()'s reason, then verifyFiles()'s (missing and modified)
  it("misses with the reason it does not fit: inputs, then the files it wrote", async () => {
    const { dir, outFile } = await ranState(1);
    expect(await lookup(await inputFor(dir, 2, outFile))).toStrictEqual({
      hit: false,
      reason: { kind: "input-changed", name: "a", old: "1", new: "2" },
      rejected: [],
    });
    await writeFile(outFile, "a=9");
    expect((await lookup(await inputFor(dir, 1, outFile))).reason).toStrictEqual({
      kind: "output-modified",
      path: outFile,
    });
  });

  // pins the decode failure: state-unreadable naming `.outputs` and what memori did not write
  it("is state-unreadable when its outputs hold a value memori did not write", async () => {
    const dir = await tempDir();
    const outFile = path.join(dir, "out.txt");
    const input = await inputFor(dir, 1, outFile);
    const fp = input.fingerprint!;
    const store = new StateStore(dir, "lk");
    await store.write(
      fp.inputs,
      { double: { $memori: "bogus" }, file: "x" },
      [],
      fp.code,
      fp.outputs,
    );
    const found = await lookup({ ...input, previous: store.read() });
    expect(found).toStrictEqual({
      hit: false,
      reason: {
        kind: "state-unreadable",
        file: path.join(dir, "lk.outputs"),
        detail: 'holds a value memori did not write (unknown tag "bogus")',
      },
      rejected: [],
    });
  });
});

describe("read-only caches", () => {
  // pins the hit from a cache: `from` in the reason and the result, the cache's state
  it("takes a valid state from a read-only cache when its own is absent", async () => {
    const out = path.join(await tempDir(), "shared-out.txt");
    const { dir: cache } = await ranState(1, out);
    const own = await tempDir();
    const found = await lookup(await inputFor(own, 1, out, { readonlyCaches: [cache] }));
    expect(found).toStrictEqual({
      hit: true,
      reason: { kind: "cached", from: cache },
      outputs: { double: 2, file: out },
      state: stored(cache),
      from: cache,
    });
  });

  // A lab's shared cache of a stage that reads an atlas it is not given (a `read:` input): a
  // new hashOutput takes it from the cache while the atlas is as the cache's run read it, and
  // runs when it is not; what it takes, it records with the atlas as an input of its own.
  it("compares a cache on the files its run found, as they are now", async () => {
    const base = await tempDir();
    const atlas = path.join(base, "atlas.txt");
    writeFileSync(atlas, "atlas v1");
    const labelled = (hashOutput: string, readonlyCaches: string[] = []) =>
      new Stage((x: number) => `${readFileSync(atlas, "utf8")} ${x}`, {
        name: "label",
        hashOutput,
        readonlyCaches,
        logger: quiet,
      });
    const lab = path.join(base, "lab-cache");
    await labelled(lab).run(1);
    const mine = labelled(path.join(base, "mine"), [lab]);
    expect(await mine.run(1)).toEqual({ output: "atlas v1 1" });
    expect(mine.lastDecision?.reason).toEqual({ kind: "cached", from: lab });
    const recorded = JSON.parse(readFileSync(path.join(base, "mine", "label.inputs"), "utf8"));
    expect(Object.keys(recorded.inputs)).toContain(`read:${atlas}`);
    writeFileSync(atlas, "atlas v2");
    const other = labelled(path.join(base, "other"), [lab]);
    expect(await other.run(1)).toEqual({ output: "atlas v2 1" });
    expect(other.lastDecision?.action).toBe("run");
    expect(await mine.run(1)).toEqual({ output: "atlas v2 1" }); // its own state: the atlas too
    expect(mine.lastDecision?.reason).toMatchObject({
      kind: "input-changed",
      name: `read:${atlas}`,
    });
  });

  // pins the order: the pipeline's caches, then the stage's own; the first valid one wins
  it("asks the pipeline's caches before the stage's, and takes the first valid one", async () => {
    const out = path.join(await tempDir(), "shared-out.txt");
    const { dir: first } = await ranState(1, out);
    const { dir: second } = await ranState(1, out);
    const own = await tempDir();
    const both = await inputFor(own, 1, out, { readonlyCaches: [first], stageCaches: [second] });
    expect(await lookup(both)).toMatchObject({ hit: true, from: first });
    const stageOnly = await inputFor(own, 1, out, { stageCaches: [second] });
    expect(await lookup(stageOnly)).toMatchObject({ hit: true, from: second });
  });

  // pins `rejected`: every cache with a state that does not fit, in order, with its reason;
  // caches without a readable state are skipped; the own reason is kept
  it("lists the caches whose state does not fit, and keeps its own reason", async () => {
    const out = path.join(await tempDir(), "shared-out.txt");
    const { dir: other } = await ranState(5, out);
    const { dir: fits } = await ranState(1, out);
    const { dir: broken } = await ranState(1, out);
    await writeFile(path.join(broken, "lk.stage"), "");
    const empty = await tempDir();
    const { dir: own } = await ranState(3, out);
    await writeFile(out, "a=1"); // what lk(1) leaves, as the caches recorded
    const input = await inputFor(own, 2, out, {
      readonlyCaches: [empty, broken, other],
      stageCaches: [fits],
    });
    // own: input changed; other: another input; fits: a different input too (2, not 1)
    const found = await lookup(input);
    expect(found).toStrictEqual({
      hit: false,
      reason: { kind: "input-changed", name: "a", old: "3", new: "2" },
      rejected: [
        { dir: other, reason: { kind: "input-changed", name: "a", old: "5", new: "2" } },
        { dir: fits, reason: { kind: "input-changed", name: "a", old: "1", new: "2" } },
      ],
    });
    // a cache's tampered output rejects it with the verifyFiles reason
    const tampered = await lookup(await inputFor(empty, 1, out, { readonlyCaches: [fits] }));
    expect(tampered).toMatchObject({ hit: true, from: fits });
    await writeFile(out, "changed");
    expect(await lookup(await inputFor(empty, 1, out, { readonlyCaches: [fits] }))).toStrictEqual({
      hit: false,
      reason: { kind: "first-run" },
      rejected: [{ dir: fits, reason: { kind: "output-modified", path: out } }],
    });
  });

  // pins the decode failure in a cache: it names the cache's `.outputs` file
  it("rejects a cache whose outputs do not decode, naming its .outputs file", async () => {
    const cache = await tempDir();
    const own = await tempDir();
    const out = path.join(own, "out.txt");
    const input = await inputFor(own, 1, out, { readonlyCaches: [cache] });
    const fp = input.fingerprint!;
    await new StateStore(cache, "lk").write(
      fp.inputs,
      { double: { $memori: "number", value: "1" }, file: "x" },
      [],
      fp.code,
      fp.outputs,
    );
    expect(await lookup(input)).toStrictEqual({
      hit: false,
      reason: { kind: "first-run" },
      rejected: [
        {
          dir: cache,
          reason: {
            kind: "state-unreadable",
            file: path.join(cache, "lk.outputs"),
            detail: "holds a value memori did not write (bad number tag)",
          },
        },
      ],
    });
  });

  // pins `ownOnly`: the second look under the lock consults the call's own state only
  it("are not consulted with ownOnly", async () => {
    const out = path.join(await tempDir(), "shared-out.txt");
    const { dir: cache } = await ranState(1, out);
    const own = await tempDir();
    const input = await inputFor(own, 1, out, {
      readonlyCaches: [cache],
      stageCaches: [cache],
      ownOnly: true,
    });
    expect(await lookup(input)).toStrictEqual({
      hit: false,
      reason: { kind: "first-run" },
      rejected: [],
    });
    expect(await readFile(out, "utf8")).toBe("a=1");
  });
});

describe("state from an older memori", () => {
  // Proves a format-2 state (the previous format) is a hit as it is, without a re-run; the
  // next commit writes the current format.
  it("loads a format-2 state without running, and commits the current format next", async () => {
    const hashOutput = await tempDir();
    let runs = 0;
    const make = () =>
      new Stage(
        function halved(x: number) {
          runs++;
          return x / 2;
        },
        { hashOutput },
      );
    await make().run(8);
    const file = (kind: string) => path.join(hashOutput, `halved.${kind}`);
    const sha = (text: string) => createHash("sha256").update(text).digest("hex");
    // Rewrite the triple as format 2: the mirrors say memori 2, the record has no check line,
    // stamps or values.
    const record = JSON.parse(await readFile(file("stage"), "utf8")) as Record<string, unknown>;
    const digests: Record<string, string> = {};
    for (const kind of ["inputs", "outputs"]) {
      const text = (await readFile(file(kind), "utf8")).replace('"memori": 3', '"memori": 2');
      await writeFile(file(kind), text);
      digests[kind] = sha(text);
    }
    const { check: _c, stamps: _s, values: _v, ...rest } = record;
    await writeFile(file("stage"), JSON.stringify({ ...rest, memori: 2, digests }, null, 2));
    const old = make();
    expect(await old.run(8)).toEqual({ output: 4 });
    expect(old.lastDecision?.reason).toEqual({ kind: "cached" });
    expect(runs).toBe(1);
    const changed = make();
    expect(await changed.run(6)).toEqual({ output: 3 });
    expect(runs).toBe(2);
    expect(JSON.parse(await readFile(file("stage"), "utf8"))).toMatchObject({ memori: 3 });
  });

  // Proves a state in an earlier format is a miss with reason format-upgraded (no warning, never
  // a hit), run once, and then a hit; a newer format stays "unreadable", with a warning.
  it("runs once with reason format-upgraded, then hits", async () => {
    const hashOutput = await tempDir();
    const { logger, warn } = recordingLogger();
    let runs = 0;
    const make = () =>
      new Stage(
        function scaled(x: number) {
          runs++;
          return x * 2;
        },
        { hashOutput, logger },
      );
    await make().run(3);
    const file = path.join(hashOutput, "scaled.stage");
    const record = JSON.parse(await readFile(file, "utf8")) as { memori: number };
    await writeFile(file, JSON.stringify({ ...record, memori: 1 }));
    const upgraded = make();
    expect(await upgraded.run(3)).toEqual({ output: 6 });
    expect(upgraded.lastDecision?.reason).toEqual({ kind: "format-upgraded", from: 1 });
    expect(warn).toEqual([]);
    const again = make();
    await again.run(3);
    expect(again.lastDecision?.reason).toEqual({ kind: "cached" });
    expect(runs).toBe(2);

    const current = JSON.parse(await readFile(file, "utf8")) as { memori: number };
    await writeFile(file, JSON.stringify({ ...current, memori: FOUND_PATHS_FORMAT + 1 }));
    const newer = make();
    await newer.run(3);
    expect(newer.lastDecision?.reason).toMatchObject({ kind: "state-unreadable" });
    expect(warn.some((m) => /newer memori/.test(m))).toBe(true);
  });
});

describe("at once (lookupNow)", () => {
  /** A stage that writes no file: its state refers to none. */
  const plain = (hashOutput: string, readonlyCaches: string[] = []) =>
    new Stage(
      function pl(a: number) {
        return a * 2;
      },
      { name: "pl", hashOutput, readonlyCaches, logger: quiet },
    );

  async function plainInput(dir: string, a: number, readonlyCaches: string[] = []) {
    const def = plain(dir, readonlyCaches)[DEFINITION];
    const scope = new HashScope();
    const location = stageLocation(dir, "pl");
    const input: LookupInput = {
      def,
      location,
      previous: location.store.read(),
      fingerprint: await takeFingerprint(def, { a }, scope),
      options: {},
      readonlyCaches: [],
      scope,
      refresh: false,
    };
    return input;
  }

  // pins the promise-free path: no file to verify, no cache to ask; the same answer as lookup()
  it("answers without a promise when no file has to be hashed, as lookup() does", async () => {
    const dir = await tempDir();
    await plain(dir).run(1);
    const hit = lookupNow(await plainInput(dir, 1));
    expect(hit).not.toBeInstanceOf(Promise);
    expect(hit).toMatchObject({ hit: true, reason: { kind: "cached" }, outputs: { output: 2 } });
    expect(hit).toStrictEqual(await lookup(await plainInput(dir, 1)));
    const miss = lookupNow(await plainInput(dir, 5));
    expect(miss).toStrictEqual({
      hit: false,
      reason: { kind: "input-changed", name: "a", old: "1", new: "5" },
      rejected: [],
    });
    const first = lookupNow(await plainInput(await tempDir(), 1));
    expect(first).toStrictEqual({ hit: false, reason: { kind: "first-run" }, rejected: [] });
  });

  // pins the paths that wait: files to verify, read-only caches to read
  it("gives a promise when files are verified or read-only caches consulted, with lookup()'s answer", async () => {
    const { dir, outFile } = await ranState(1);
    const withFiles = lookupNow(await inputFor(dir, 1, outFile));
    expect(withFiles).toBeInstanceOf(Promise);
    expect(await withFiles).toMatchObject({ hit: true, reason: { kind: "cached" } });
    await writeFile(outFile, "tampered");
    expect(await lookupNow(await inputFor(dir, 1, outFile))).toMatchObject({
      hit: false,
      reason: { kind: "output-modified", path: outFile },
    });

    const cache = await tempDir();
    await plain(cache).run(3);
    const own = await tempDir();
    const borrowed = lookupNow(await plainInput(own, 3, [cache]));
    expect(borrowed).toBeInstanceOf(Promise);
    expect(await borrowed).toMatchObject({ hit: true, from: cache, outputs: { output: 6 } });
    expect(
      await lookupNow({ ...(await plainInput(own, 3, [cache])), ownOnly: true }),
    ).toStrictEqual({ hit: false, reason: { kind: "first-run" }, rejected: [] });
  });
});

describe("trackedOf", () => {
  // pins that it is trackedFiles(), whatever the state holds
  it("lists what trackedFiles lists: returned files, then files written through arguments, once each", () => {
    const e = (file: string, hash = "h") => ({ file, hash }) as FileEntry & Record<string, Json>;
    const base = { record: {} as StoredState["record"], inputs: { a: e("/in") } };
    const states: StoredState[] = [
      { ...base, outputs: { x: 1 }, written: [] },
      { ...base, outputs: { x: e("/o1"), y: [e("/o2"), "s"] }, written: [] },
      { ...base, outputs: { x: 1 }, written: [e("/w")] },
      { ...base, outputs: { x: e("/same", "1") }, written: [e("/same", "2"), e("/w")] },
      { ...base, outputs: { x: { $memori: "object", value: { file: e("/deep") } } }, written: [] },
    ];
    for (const state of states) expect(trackedOf(state)).toStrictEqual(trackedFiles(state));
  });
});
