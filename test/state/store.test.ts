/**
 * The state store (src/state/store.ts): the exact bytes it writes, every way a state on disk
 * can be unreadable (with the file and the detail it reports), the known-file hash cache, state
 * names, and that a failed write leaves the previous state as it was.
 */
import { createHash } from "node:crypto";
import {
  copyFileSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { MemoriError } from "../../src/errors.js";
import type { CodeIdentity } from "../../src/hashing/hashable.js";
import type { FileEntry } from "../../src/hashing/values.js";
import {
  FORMAT_VERSION,
  StateStore,
  checkStateName,
  referencedFiles,
  trackedFiles,
  type StoredState,
} from "../../src/state/store.js";
import { FOUND_PATHS_FORMAT } from "../../src/state/record.js";
import { tempDir } from "../util/tmp.js";

const V = FORMAT_VERSION;
/** The newest format read (format 4: found paths marked, portable.ts). */
const NEWEST = FOUND_PATHS_FORMAT;

// A fault the real file system cannot produce for root: a full disk while writing a
// temporary file.
const hooks = vi.hoisted(() => ({
  failWrite: undefined as RegExp | undefined,
  /** Fail one write only (a disk that was full for a moment). */
  once: false,
}));
vi.mock("node:fs", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs")>();
  const failing = new Set<number>(); // descriptors of temp files whose writes fail
  const openSync = ((file: string, ...rest: [string, number]) => {
    const fd = real.openSync(file, ...rest);
    if (hooks.failWrite?.test(file)) failing.add(fd);
    return fd;
  }) as typeof real.openSync;
  const writeFileSync = ((target: unknown, ...rest: unknown[]) => {
    if (typeof target === "number" && failing.has(target)) {
      if (hooks.once) hooks.failWrite = undefined;
      throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    }
    return (real.writeFileSync as (...a: unknown[]) => void)(target, ...rest);
  }) as typeof real.writeFileSync;
  const closeSync = ((fd: number) => {
    failing.delete(fd);
    real.closeSync(fd);
  }) as typeof real.closeSync;
  const patched = { openSync, writeFileSync, closeSync };
  return { ...real, ...patched, default: { ...real, ...patched } };
});
afterEach(() => {
  hooks.failWrite = undefined;
  hooks.once = false;
});

type Kind = "inputs" | "outputs" | "stage";
type Obj = Record<string, unknown>;
const sha = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
const readJson = (file: string) => JSON.parse(readFileSync(file, "utf8")) as Obj;
const entry = (file: string, hash: string) => ({ file, hash }) as FileEntry;
const CODE = {
  hash: "code-hash",
  self: "self-hash",
  callees: { helper: "helper-hash" },
  wrappers: ["script"],
  extras: { "script.sh": "script-hash" },
} as unknown as CodeIdentity;

/** A store holding a valid state written by write(), and the record it returned. */
async function stored(name = "bet") {
  const store = new StateStore(await tempDir(), name);
  const record = await store.write(
    { t1w: { hash: "h-t1", file: "/data/t1.nii" }, fwhm: 6 },
    { n: [3, 1], brain: { hash: "h-brain", file: "/out/brain.nii" } },
    [entry("/out/z.log", "h-z"), entry("/out/a.log", "h-a")],
    CODE,
    ["n", "brain"],
  );
  return { store, record, dir: store.dir };
}

/** Keys sorted at every level, as memori writes them. */
function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, sorted((value as Obj)[k])]),
  );
}
/**
 * A format-3 record's text, made here independently of the code under test: its check line
 * (the SHA-256 of the bytes after it), then the pretty JSON with sorted keys.
 */
function checkedText(record: Obj): string {
  const { check: _, ...rest } = record;
  const body = (JSON.stringify(sorted(rest), null, 2) + "\n").slice(2);
  return `{\n  "check": "${sha(body)}",\n${body}`;
}
/**
 * Replace a state file (text as given, or pretty JSON; a record object gets a valid check
 * line); `fixDigest` makes .stage match it.
 */
function put(store: StateStore, kind: Kind, content: unknown, fixDigest = false): void {
  const text =
    typeof content === "string"
      ? content
      : kind === "stage"
        ? checkedText(content as Obj)
        : JSON.stringify(content, null, 2) + "\n";
  writeFileSync(store.file(kind), text);
  if (fixDigest) {
    const stage = readJson(store.file("stage"));
    (stage.digests as Obj)[kind] = sha(text);
    put(store, "stage", stage);
  }
}
/** Change a state file's JSON in place. */
function edit(store: StateStore, kind: Kind, change: (value: Obj) => void, fixDigest = false) {
  const value = readJson(store.file(kind));
  change(value);
  put(store, kind, value, fixDigest);
}
const unreadable = (store: StateStore, kind: Kind, detail: string) => ({
  kind: "unreadable",
  file: store.file(kind),
  detail,
});
const errorOf = (fn: () => unknown): Error => {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error("did not throw");
};
const tempsIn = (dir: string) => readdirSync(dir).filter((f) => f.endsWith(".tmp"));
/** The MemoriError a promise rejects with: state-not-writable, about stage "bet". */
async function notWritable(promise: Promise<unknown>): Promise<MemoriError> {
  const error = (await promise.catch((e: unknown) => e)) as MemoriError;
  expect(error).toBeInstanceOf(MemoriError);
  expect(error).toMatchObject({ reason: "state-not-writable", stage: "bet" });
  return error;
}

describe("checkStateName", () => {
  // Pins every rule with its message, and the 200-character limit on both sides.
  it.each<[string | undefined, unknown[]]>([
    ["must be a string", [5, null, undefined]],
    ["is empty", [""]],
    ["contains a NUL character", ["a\0b"]],
    ["contains a path separator", ["a/b", "a\\b", "../x"]],
    ["starts with ..", [".", "..", "..x"]],
    ["is longer than 200 characters", ["x".repeat(201)]],
    [undefined, ["x".repeat(200), "bet", ".x", "a..b", "x."]],
  ])("%s: %j", (problem, names) => {
    for (const name of names) expect(checkStateName(name), String(name)).toBe(problem);
  });
});

describe("trackedFiles / referencedFiles", () => {
  const state = {
    record: {},
    inputs: { a: entry("/in/a", "1"), b: [entry("/out/x", "0")] },
    outputs: { x: entry("/out/x", "2"), y: { deep: entry("/out/y", "3") } },
    written: [entry("/out/w", "4"), entry("/out/x", "5")],
  } as unknown as StoredState;
  // Outputs' entries then written ones, once per path, the last entry for a path winning.
  it("trackedFiles dedupes by path, the last entry winning", () => {
    expect(trackedFiles(state)).toEqual([
      entry("/out/x", "5"),
      entry("/out/y", "3"),
      entry("/out/w", "4"),
    ]);
  });
  // The inputs' entries (as they are) followed by the tracked files.
  it("referencedFiles is the inputs' entries plus the tracked files", () => {
    expect(referencedFiles(state)).toEqual([
      entry("/in/a", "1"),
      entry("/out/x", "0"),
      ...trackedFiles(state),
    ]);
  });
});

describe("write()", () => {
  // Pins the exact bytes of all three files: pretty JSON, sorted keys, newline, sorted written.
  it("writes the three files exactly, .stage naming the run and the digests of the others", async () => {
    const before = Date.now();
    const { store, record, dir } = await stored();
    expect(readdirSync(dir).sort()).toEqual(["bet.inputs", "bet.outputs", "bet.stage"]);
    const { run, time } = record;
    const inputs = readFileSync(path.join(dir, "bet.inputs"), "utf8");
    const outputs = readFileSync(path.join(dir, "bet.outputs"), "utf8");
    // Expected texts, keys written here in sorted order (write() got them unsorted).
    const pretty = (value: unknown) => JSON.stringify(value, null, 2) + "\n";
    expect(inputs).toBe(
      pretty({ inputs: { fwhm: 6, t1w: { file: "/data/t1.nii", hash: "h-t1" } }, memori: V, run }),
    );
    const brain = { file: "/out/brain.nii", hash: "h-brain" };
    const written = [entry("/out/a.log", "h-a"), entry("/out/z.log", "h-z")];
    expect(outputs).toBe(pretty({ memori: V, outputs: { brain, n: [3, 1] }, run, written }));
    const code = { callees: CODE.callees, extras: CODE.extras, hash: "code-hash" };
    const stampOf = (file: string) => {
      const s = statSync(file);
      return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`;
    };
    const stamps = {
      inputs: stampOf(store.file("inputs")),
      outputs: stampOf(store.file("outputs")),
    };
    const values = {
      inputs: { fwhm: 6, t1w: { file: "/data/t1.nii", hash: "h-t1" } },
      outputs: { brain, n: [3, 1] },
      written,
    };
    const body = pretty({
      code: { ...code, self: "self-hash", wrappers: ["script"] },
      digests: { inputs: sha(inputs), outputs: sha(outputs) },
      host: hostname(), // who committed it (the record is written into the lock first)
      ...{ memori: V, name: "bet", outputs: ["n", "brain"], pid: process.pid },
      ...{ run, stamps, time, values },
    }).slice(2);
    expect(readFileSync(store.file("stage"), "utf8")).toBe(
      `{\n  "check": "${sha(body)}",\n${body}`,
    );
    expect({ ...record, check: sha(body) }).toEqual(readJson(store.file("stage")));
    expect(run).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Date(time).toISOString()).toBe(time);
    expect(Date.parse(time)).toBeGreaterThanOrEqual(before - 1);
    expect(Date.parse(time)).toBeLessThanOrEqual(Date.now());
    // .inputs and .outputs are dated back, in whole seconds, so any later write changes them.
    for (const kind of ["inputs", "outputs"] as const) {
      const mtime = statSync(store.file(kind)).mtimeMs;
      expect(mtime % 1000).toBe(0);
      expect(mtime).toBeLessThanOrEqual(before - 9000);
      expect(mtime).toBeGreaterThanOrEqual(before - 12000);
    }
    expect(statSync(store.file("stage")).mtimeMs).toBeGreaterThanOrEqual(before - 1000);
    expect(FORMAT_VERSION).toBe(3);
  });

  // Each write has its own run id, shared by its three files; it replaces the previous state.
  it("uses a fresh run id per write and reads back what it wrote", async () => {
    const { store, record } = await stored();
    const again = await store.write({ a: 1 }, { b: 2 }, [], CODE, ["b"]);
    expect(again.run).not.toBe(record.run);
    expect(readJson(store.file("inputs")).run).toBe(again.run);
    expect(readJson(store.file("outputs")).run).toBe(again.run);
    expect(store.read()).toEqual({
      kind: "ok",
      state: {
        record: { ...again, check: expect.stringMatching(/^[0-9a-f]{64}$/) },
        inputs: { a: 1 },
        outputs: { b: 2 },
        written: [],
      },
    });
  });

  // Duplicate paths keep their given order (a stable sort by file only).
  it("sorts written entries by path, stably", async () => {
    const { store } = await stored();
    const written = [entry("/b", "1"), entry("/a", "2"), entry("/b", "3"), entry("/a", "4")];
    await store.write({}, {}, written, CODE, []);
    const sorted = [written[1], written[3], written[0], written[2]];
    expect(readJson(store.file("outputs")).written).toEqual(sorted);
    expect(written[0]).toEqual(entry("/b", "1")); // the caller's array is not sorted in place
  });

  // The directory is made once per process; a write that finds it removed makes it again.
  it("makes the directory again when it was removed since the last write", async () => {
    const top = path.join(await tempDir(), "a");
    const store = new StateStore(path.join(top, "b"), "again");
    await store.write({ n: 1 }, {}, [], CODE, []);
    rmSync(top, { recursive: true });
    await store.write({ n: 2 }, {}, [], CODE, []);
    expect(store.read()).toMatchObject({ kind: "ok", state: { inputs: { n: 2 } } });
  });

  // mkdir is recursive: missing parents are made, an existing directory is fine; 200-char names work.
  it("creates missing parent directories and accepts the longest valid name", async () => {
    const store = new StateStore(path.join(await tempDir(), "a", "b"), "x".repeat(200));
    await store.write({}, {}, [], CODE, []);
    await store.write({}, { o: 1 }, [], CODE, ["o"]);
    expect(store.read()).toMatchObject({ kind: "ok", state: { outputs: { o: 1 } } });
  });

  // A directory that cannot be created: state-not-writable naming stage, dir and the cause.
  it("says the state directory cannot be created under a file", async () => {
    const dir = await tempDir();
    writeFileSync(path.join(dir, "file"), "x");
    const target = path.join(dir, "file", "sub");
    const error = await notWritable(new StateStore(target, "bet").write({}, {}, [], CODE, []));
    expect((error.cause as NodeJS.ErrnoException).code).toBe("ENOTDIR");
    expect(error.message).toBe(
      `stage "bet": cannot create the state directory ${target} (${(error.cause as Error).message}). Choose a hashOutput directory you can write to.`,
    );
    expect(readFileSync(path.join(dir, "file"), "utf8")).toBe("x");
  });

  // hashOutput naming a file: said as such (not mkdir's EEXIST), and the file is untouched.
  it("says hashOutput is not a directory when it is a file", async () => {
    const file = path.join(await tempDir(), "file");
    writeFileSync(file, "x");
    const error = await notWritable(new StateStore(file, "bet").write({}, {}, [], CODE, []));
    expect(error.message).toBe(`stage "bet": hashOutput ${file} is not a directory.`);
    expect((error.cause as NodeJS.ErrnoException).code).toBe("EEXIST");
    expect(readFileSync(file, "utf8")).toBe("x");
  });

  // A full disk while writing .stage's temp: nothing replaced, no temp left, a clear error.
  it("leaves the previous state as it was when a write fails, with no temp files", async () => {
    const { store, record, dir } = await stored();
    const files = () => readdirSync(dir).map((f) => [f, readFileSync(path.join(dir, f), "utf8")]);
    const before = files();
    hooks.failWrite = /\.bet\.stage\..*\.tmp$/;
    const error = await notWritable(store.write({ a: 2 }, {}, [], CODE, []));
    expect((error.cause as NodeJS.ErrnoException).code).toBe("ENOSPC");
    expect(error.message).toBe(
      `stage "bet": could not write its state in ${dir} (ENOSPC: no space left on device, write). The previous state, if any, was left as it was.`,
    );
    expect(files()).toEqual(before);
    expect(store.read()).toMatchObject({ kind: "ok", state: { record } });
  });

  // Only a removed directory is made again and the write tried once more: a write that failed
  // otherwise (here a disk full for one write) is not retried, even if it would work now.
  it("does not write again after a failure other than a removed directory", async () => {
    const { store, record } = await stored();
    hooks.failWrite = /\.bet\.inputs\..*\.tmp$/;
    hooks.once = true;
    const error = await notWritable(store.write({ a: 2 }, {}, [], CODE, []));
    expect((error.cause as NodeJS.ErrnoException).code).toBe("ENOSPC");
    expect(hooks.failWrite).toBeUndefined(); // a second attempt would have worked
    expect(store.read()).toMatchObject({ kind: "ok", state: { record: { run: record.run } } });
  });

  // Many entries, in reverse and interleaved: sorted by path, equal paths in their given order.
  it("sorts many written entries by path", async () => {
    const { store } = await stored();
    const written = Array.from({ length: 24 }, (_, i) =>
      entry(`/out/${String.fromCharCode(122 - (i % 12))}.log`, `h${i}`),
    );
    await store.write({}, {}, written, CODE, []);
    const expected = [...written].sort((a, b) => a.file.localeCompare(b.file));
    expect(readJson(store.file("outputs")).written).toEqual(expected);
    expect(store.read()).toMatchObject({ kind: "ok", state: { written: expected } });
  });

  // A rename that fails (.inputs is a non-empty directory): the other files stay, no temps.
  it("reports a failed rename as state-not-writable and removes the temp files", async () => {
    const { store, dir } = await stored();
    const outputs = readFileSync(store.file("outputs"), "utf8");
    const stage = readFileSync(store.file("stage"), "utf8");
    rmSync(store.file("inputs"));
    mkdirSync(path.join(store.file("inputs"), "sub"), { recursive: true });
    const error = await notWritable(store.write({}, {}, [], CODE, []));
    expect(error.message).toMatch(
      /^stage "bet": could not write its state in .* \(E[A-Z]+: .*\)\. The previous/,
    );
    expect(error.message).toMatch(/The previous state, if any, was left as it was\.$/);
    expect(readFileSync(store.file("outputs"), "utf8")).toBe(outputs);
    expect(readFileSync(store.file("stage"), "utf8")).toBe(stage);
    expect(tempsIn(dir)).toEqual([]);
  });

  // A rename that fails after .inputs was replaced: the message says the old state is partly
  // replaced, and it reads as a miss (another run), never as a result.
  it("says when the previous state was partly replaced", async () => {
    const { store, dir } = await stored();
    rmSync(store.file("outputs"));
    mkdirSync(path.join(store.file("outputs"), "sub"), { recursive: true });
    const error = await notWritable(store.write({ a: 2 }, {}, [], CODE, []));
    expect(error.message).toMatch(
      /The previous state was partly replaced: it reads as a cache miss, never as a result\.$/,
    );
    expect(store.read().kind).toBe("unreadable");
    expect(tempsIn(dir)).toEqual([]);
  });
});

describe("read(): absent or unreadable files", () => {
  // No .stage is "absent", whatever else is there (a first write interrupted before the commit).
  it("is absent without .stage", async () => {
    const dir = await tempDir();
    expect(new StateStore(path.join(dir, "nowhere"), "bet").read()).toEqual({ kind: "absent" });
    const { store } = await stored();
    rmSync(store.file("stage"));
    expect(store.read()).toEqual({ kind: "absent" });
  });

  // hasRecord: whether there is a .stage to read (the look after a miss, under the lock); when
  // it cannot tell (not a directory on the way), it says yes, and the read names the problem.
  it("tells whether a record exists, and says yes when it cannot tell", async () => {
    const dir = await tempDir();
    expect(new StateStore(path.join(dir, "nowhere"), "bet").hasRecord()).toBe(false);
    const { store } = await stored();
    expect(store.hasRecord()).toBe(true);
    rmSync(store.file("stage"));
    expect(store.hasRecord()).toBe(false);
    writeFileSync(path.join(dir, "file"), "");
    const under = new StateStore(path.join(dir, "file"), "bet"); // ENOTDIR, not ENOENT
    expect(under.hasRecord()).toBe(true);
    expect(under.read()).toMatchObject({ kind: "unreadable", file: under.file("stage") });
  });

  // Any error but ENOENT is unreadable, naming the file with the system's message: never absent.
  it("reports a directory or a symlink loop in place of a state file as unreadable", async () => {
    const dir = await tempDir();
    const lone = new StateStore(dir, "lone");
    mkdirSync(lone.file("stage"));
    const eisdir = errorOf(() => readFileSync(lone.file("stage"))).message;
    expect(eisdir).toMatch(/^EISDIR/);
    expect(lone.read()).toEqual(unreadable(lone, "stage", eisdir));
    for (const kind of ["inputs", "outputs"] as const) {
      const { store } = await stored();
      rmSync(store.file(kind));
      mkdirSync(store.file(kind));
      expect(store.read()).toEqual(unreadable(store, kind, eisdir));
    }
    const { store } = await stored();
    rmSync(store.file("outputs"));
    symlinkSync(store.file("outputs"), store.file("outputs"));
    const eloop = errorOf(() => readFileSync(store.file("outputs"))).message;
    expect(eloop).toMatch(/^ELOOP/);
    expect(store.read()).toEqual(unreadable(store, "outputs", eloop));
  });

  // .stage present, another file gone: "is missing", naming that file.
  it.each(["inputs", "outputs"] as const)("reports a deleted .%s as missing", async (kind) => {
    const { store } = await stored();
    rmSync(store.file(kind));
    expect(store.read()).toEqual(unreadable(store, kind, "is missing"));
  });

  // Each file that does not parse, with the parser's own message; the first in order wins.
  it("reports a file that is not JSON with the parser's message", async () => {
    for (const kind of ["inputs", "outputs", "stage"] as const) {
      for (const text of ["", "{", '{"memori": 1,}']) {
        const { store } = await stored();
        put(store, kind, text);
        const message = errorOf(() => JSON.parse(text)).message;
        expect(store.read()).toEqual(unreadable(store, kind, `is not valid JSON (${message})`));
      }
    }
    // The commit record is read first: with it unreadable, nothing else is looked at.
    const { store } = await stored();
    put(store, "stage", "x");
    put(store, "outputs", "y");
    expect(store.read()).toMatchObject({ file: store.file("stage") });
  });
});

/** Set (or with `undefined`, delete) a dotted field of a record. */
function setField(record: Obj, field: string, value: unknown): void {
  const keys = field.split(".");
  const last = keys.pop()!;
  const parent = keys.reduce((o, k) => o[k] as Obj, record);
  if (value === undefined) delete parent[last];
  else parent[last] = value;
}
const SHAPE = "does not have the shape of a stage record";

describe("read(): the .stage record", () => {
  // The whole record: not an object.
  it.each([null, [], "record", 5, true])(
    ".stage holding %j is not a JSON object",
    async (value) => {
      const { store } = await stored();
      put(store, "stage", JSON.stringify(value));
      expect(store.read()).toEqual(unreadable(store, "stage", "is not a JSON object"));
    },
  );

  // The version's three messages.
  it.each<[unknown, string]>([
    [undefined, "has no format version"],
    ["1", "has no format version"],
    [null, "has no format version"],
    [NEWEST + 1, `was written by a newer memori (format ${NEWEST + 1}; this one reads ${NEWEST})`],
    [
      NEWEST + 0.5,
      `was written by a newer memori (format ${NEWEST + 0.5}; this one reads ${NEWEST})`,
    ],
    [V + 0.5, `has old format ${V + 0.5}`],
    [1.5, "has old format 1.5"],
    [0, "has old format 0"],
    [-3, "has old format -3"],
  ])("memori = %j: %s", async (value, detail) => {
    const { store } = await stored();
    edit(store, "stage", (record) => setField(record, "memori", value));
    expect(store.read()).toEqual(unreadable(store, "stage", detail));
  });

  // Every other field, wrong in turn (undefined: missing): not the shape of a stage record.
  const WRONG: Record<string, unknown[]> = {
    name: [1, undefined],
    run: [null],
    time: [0],
    code: ["x", null, ["a"]],
    "code.hash": [1],
    "code.self": [undefined],
    "code.callees": [undefined, ["h"], { ok: "h", bad: 1 }],
    "code.wrappers": ["script", { 0: "script" }],
    "code.extras": [null, { bad: null, ok: "x" }],
    outputs: ["o", ["n", 3], [null]],
    digests: [undefined, ["a", "b"]],
    "digests.inputs": [undefined],
    "digests.outputs": [5],
    stamps: [undefined, "a:b"],
    "stamps.inputs": [undefined, 1],
    "stamps.outputs": [null],
    values: [undefined, []],
    "values.inputs": [undefined, [1]],
    "values.outputs": [null],
    "values.written": [undefined, {}, ["/a"], [{ file: "/a" }]],
  };
  it.each(Object.entries(WRONG))("%s = each of %j: shape", async (field, values) => {
    const { store } = await stored();
    const good = readJson(store.file("stage"));
    for (const value of values) {
      const record = structuredClone(good);
      setField(record, field, value);
      put(store, "stage", record);
      expect(store.read(), JSON.stringify(value)).toEqual(unreadable(store, "stage", SHAPE));
    }
  });

  // Generated wrong values, per field: any JSON value (or none) that breaks the field's type.
  const isString = (v: unknown) => typeof v === "string";
  const isObject = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v);
  const isStrings = (v: unknown) => isObject(v) && Object.values(v as Obj).every(isString);
  const isStringList = (v: unknown) => Array.isArray(v) && v.every(isString);
  const json = fc.jsonValue();
  const not = (ok: (v: unknown) => boolean, also = json) =>
    fc.option(
      fc.oneof(json, also).filter((v) => !ok(v)),
      { nil: undefined },
    );
  const BREAK: Record<string, fc.Arbitrary<unknown>> = {
    ...Object.fromEntries(
      ["name", "run", "time", "code.hash", "code.self", "digests.inputs", "digests.outputs"].map(
        (f) => [f, not(isString)],
      ),
    ),
    code: not(isObject),
    digests: not(isObject),
    "code.callees": not(isStrings, fc.dictionary(fc.string(), json)),
    "code.extras": not(isStrings, fc.dictionary(fc.string(), json)),
    "code.wrappers": not(Array.isArray),
    outputs: not(isStringList, fc.array(json)),
  };
  const wrongFields = fc
    .constantFrom(...Object.keys(BREAK))
    .chain((f) => BREAK[f]!.map((v) => [f, v] as const));
  // Property: any single wrong field (generated) makes the record unreadable, as its shape.
  it("property: any one wrong field is 'not the shape of a stage record'", async () => {
    const { store } = await stored();
    const good = readJson(store.file("stage"));
    fc.assert(
      fc.property(wrongFields, ([field, value]) => {
        const record = structuredClone(good);
        setField(record, field, value);
        put(store, "stage", record);
        expect(store.read()).toEqual(unreadable(store, "stage", SHAPE));
      }),
      { numRuns: 400, seed: 20261125 },
    );
  });

  // Property: any other number as version gets the newer/older message with that number.
  it("property: any other version number is named in the message", async () => {
    const { store } = await stored();
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (v) => {
        // (format 2 is read as it is: see "format 2")
        // (and format 4)
        const read = [2, V, NEWEST];
        edit(store, "stage", (record) => (record.memori = read.includes(v) ? NEWEST + 1 : v));
        const n = readJson(store.file("stage")).memori as number;
        const newer = `was written by a newer memori (format ${n}; this one reads ${NEWEST})`;
        const detail = n > NEWEST ? newer : `has old format ${n}`;
        // an earlier format (a whole number from 1) is an upgrade, not a problem
        const outdated = Number.isInteger(n) && n >= 1 && n < V ? { outdated: n } : {};
        expect(store.read()).toEqual({ ...unreadable(store, "stage", detail), ...outdated });
      }),
      { numRuns: 100, seed: 7 },
    );
  });

  // Property: string records and string arrays of any content, and extra fields, are accepted.
  it("property: valid variants of the record read as ok", async () => {
    const { store } = await stored();
    const good = readJson(store.file("stage"));
    const strings = fc.dictionary(fc.string(), fc.string());
    fc.assert(
      fc.property(
        strings,
        strings,
        fc.array(fc.string()),
        fc.array(fc.jsonValue()),
        fc.jsonValue(),
        (callees, extras, outputs, wrappers, extra) => {
          const record = structuredClone(good);
          Object.assign(record.code as Obj, { callees, extras, wrappers });
          Object.assign(record, { outputs, extra });
          put(store, "stage", record);
          expect(store.read()).toMatchObject({ kind: "ok", state: { record: { outputs } } });
        },
      ),
      { numRuns: 100, seed: 11 },
    );
  });
});

describe("read(): .inputs and .outputs", () => {
  const OTHER_RUN = "belongs to another run than the .stage record (interrupted write)";
  const NOT_WRITTEN = 'has no "written" list of file entries';
  // Each check of checkValues, with the digest made to match so only that check can catch it.
  it.each([
    ["inputs", (v: Obj) => v, undefined],
    ["outputs", (v: Obj) => v, undefined],
    ["inputs", () => [], "is not a JSON object"],
    ["outputs", () => null, "is not a JSON object"],
    ["inputs", (v: Obj) => ({ ...v, memori: V + 1 }), `has format ${V + 1}, not ${V}`],
    ["outputs", (v: Obj) => ({ ...v, memori: undefined }), `has format undefined, not ${V}`],
    ["outputs", (v: Obj) => ({ ...v, memori: String(V) }), `has format ${V}, not ${V}`],
    ["inputs", (v: Obj) => ({ ...v, run: "another" }), OTHER_RUN],
    ["outputs", (v: Obj) => ({ ...v, run: undefined }), OTHER_RUN],
    ["inputs", (v: Obj) => ({ ...v, inputs: undefined }), 'has no "inputs" object'],
    ["inputs", (v: Obj) => ({ ...v, inputs: [1] }), 'has no "inputs" object'],
    ["outputs", (v: Obj) => ({ ...v, outputs: "x" }), 'has no "outputs" object'],
    ["outputs", (v: Obj) => ({ ...v, outputs: null }), 'has no "outputs" object'],
    ["outputs", (v: Obj) => ({ ...v, written: undefined }), NOT_WRITTEN],
    ["outputs", (v: Obj) => ({ ...v, written: {} }), NOT_WRITTEN],
    ["outputs", (v: Obj) => ({ ...v, written: [null] }), NOT_WRITTEN],
    ["outputs", (v: Obj) => ({ ...v, written: [entry("/a", "1"), { file: "/b" }] }), NOT_WRITTEN],
    ["outputs", (v: Obj) => ({ ...v, written: [entry("/a", "1"), "/b"] }), NOT_WRITTEN],
    ["inputs", (v: Obj) => ({ ...v, written: "not checked for inputs" }), undefined],
    ["outputs", (v: Obj) => ({ ...v, written: [] }), undefined],
  ] as [Kind, (v: Obj) => unknown, string | undefined][])(
    "%s edited (%#): %s",
    async (kind, change, detail) => {
      const { store } = await stored();
      put(store, kind, change(readJson(store.file(kind))), true);
      const result = store.read();
      if (detail === undefined) expect(result.kind).toBe("ok");
      else expect(result).toEqual(unreadable(store, kind, detail));
    },
  );

  // Any change to the bytes after writing, even JSON-equivalent, fails the digest check.
  it.each(["inputs", "outputs"] as const)(
    "reports an edited .%s as not matching its digest",
    async (kind) => {
      const { store } = await stored();
      const detail =
        "does not match the digest in the .stage record (changed after it was written)";
      edit(store, kind, (v) => ((v[kind] as Obj).added = 1));
      expect(store.read()).toEqual(unreadable(store, kind, detail));
      const text = readFileSync(store.file(kind), "utf8");
      put(store, kind, text, true);
      expect(store.read().kind).toBe("ok");
      put(store, kind, text + " ");
      expect(store.read()).toEqual(unreadable(store, kind, detail));
    },
  );
});

describe("read(): the record's check line", () => {
  const CHECK = "does not match the check on its second line (changed after it was written)";
  // Any byte of the record changed after writing is caught, even one in the values.
  it("catches an edit anywhere in the record, or a check line that is not there", async () => {
    const { store } = await stored();
    const good = readFileSync(store.file("stage"), "utf8");
    const edits = [
      good.replace('"fwhm": 6', '"fwhm": 7'),
      good.replace('"name": "bet"', '"name": "bat"'),
      good.replace(/"check": "(.)/, (_, c: string) => `"check": "${c === "0" ? "1" : "0"}`),
      good.replace(/\n}\n$/, "\n}"),
      good.replace('{\n  "check"', '{ "check"'),
      JSON.stringify(JSON.parse(good)),
      JSON.stringify({ ...JSON.parse(good), check: undefined }, null, 2),
      good.replace(/("check": "[0-9a-f]{64})",\n/, '$1" ,\n'), // the check line ends otherwise
      '{"memori": 3}', // shorter than a check line
    ];
    for (const text of edits) {
      expect(text).not.toBe(good);
      writeFileSync(store.file("stage"), text);
      expect(store.read(), text.slice(0, 120)).toEqual(unreadable(store, "stage", CHECK));
    }
    writeFileSync(store.file("stage"), good);
    expect(store.read().kind).toBe("ok");
  });
});

describe("read(): one file for a cached call (format 3)", () => {
  // While .inputs and .outputs keep the stamps the record names, the record alone is read:
  // here they hold garbage of the same size, dated back to the recorded time by hand (what no
  // write does), and the state still reads from the record's values.
  it("takes the values from the record while the other two keep their stamps", async () => {
    const { store, record } = await stored();
    for (const kind of ["inputs", "outputs"] as const) {
      const { mtimeMs, size } = statSync(store.file(kind));
      writeFileSync(store.file(kind), "x".repeat(size));
      utimesSync(store.file(kind), mtimeMs / 1000, mtimeMs / 1000);
    }
    expect(store.read()).toMatchObject({
      kind: "ok",
      state: { record: { run: record.run }, ...record.values },
    });
  });

  // Any write gives a file the current time: the stamp differs even for the same bytes in
  // the same clock tick, and the full check (digests) decides.
  it("checks .inputs and .outputs by their digests once their stamps changed", async () => {
    for (const kind of ["inputs", "outputs"] as const) {
      const { store, record } = await stored();
      const text = readFileSync(store.file(kind));
      writeFileSync(store.file(kind), text);
      expect(store.read()).toMatchObject({ kind: "ok", state: record.values });
      const changed = Buffer.from(text);
      changed[changed.indexOf("h-")] = "H".charCodeAt(0);
      writeFileSync(store.file(kind), changed);
      expect(store.read()).toEqual(
        unreadable(
          store,
          kind,
          "does not match the digest in the .stage record (changed after it was written)",
        ),
      );
    }
  });

  // Only a format-3 record is read alone: one that says format 2 (here a format-3 record
  // edited to say so) has its .inputs and .outputs read and checked, whatever else it holds.
  it("reads a record that says format 2 from the other two files", async () => {
    const { store } = await stored();
    edit(store, "stage", (record) => (record.memori = 2));
    expect(store.read()).toEqual(unreadable(store, "inputs", "has format 3, not 2"));
  });

  // Copied or moved state has new inodes: it reads through the digests, as a hit.
  it("reads a copied state through the digests", async () => {
    const { store, record } = await stored();
    const copy = new StateStore(await tempDir(), "bet");
    for (const kind of ["inputs", "outputs", "stage"] as const)
      copyFileSync(store.file(kind), copy.file(kind));
    expect(copy.read()).toMatchObject({ kind: "ok", state: record.values });
    rmSync(copy.file("outputs"));
    expect(copy.read()).toEqual(unreadable(copy, "outputs", "is missing"));
  });
});

describe("read(): format 2", () => {
  /** A format-2 triple as the previous memori wrote it (no check, no stamps, no values). */
  async function formatTwo() {
    const store = new StateStore(await tempDir(), "old");
    const run = "11111111-2222-4333-8444-555555555555";
    const inputs = JSON.stringify({ inputs: { a: 1 }, memori: 2, run }, null, 2) + "\n";
    const outputs =
      JSON.stringify({ memori: 2, outputs: { b: 2 }, run, written: [] }, null, 2) + "\n";
    const record = {
      code: CODE,
      digests: { inputs: sha(inputs), outputs: sha(outputs) },
      memori: 2,
      name: "old",
      outputs: ["b"],
      run,
      time: "2026-11-01T00:00:00.000Z",
    };
    writeFileSync(store.file("inputs"), inputs);
    writeFileSync(store.file("outputs"), outputs);
    writeFileSync(store.file("stage"), JSON.stringify(record, null, 2) + "\n");
    return { store, record };
  }

  // An upgrade of memori does not re-run what the previous one stored.
  it("reads a format-2 state as it is, from its three files", async () => {
    const { store, record } = await formatTwo();
    expect(store.read()).toEqual({
      kind: "ok",
      state: { record, inputs: { a: 1 }, outputs: { b: 2 }, written: [] },
    });
  });

  it("checks a format-2 state's files as before: version, run and digest", async () => {
    const { store } = await formatTwo();
    edit(store, "inputs", (v) => (v.memori = 3), true);
    expect(store.read()).toEqual(unreadable(store, "inputs", "has format 3, not 2"));
    const other = await formatTwo();
    writeFileSync(other.store.file("outputs"), readFileSync(other.store.file("outputs")) + " ");
    expect(other.store.read()).toEqual(
      unreadable(
        other.store,
        "outputs",
        "does not match the digest in the .stage record (changed after it was written)",
      ),
    );
  });
});

describe("file()", () => {
  // pins the directory normalized once per directory: the same paths path.join gives
  it("names the state files as path.join(dir, name + ext) does, for any directory", () => {
    const part = fc.constantFrom(".", "..", "a", "b c", "", "x.map", "é");
    const dir = fc
      .tuple(fc.boolean(), fc.array(part, { maxLength: 5 }), fc.boolean())
      .map(
        ([absolute, parts, slash]) => `${absolute ? "/" : ""}${parts.join("/")}${slash ? "/" : ""}`,
      );
    const name = fc.constantFrom("stage", "s1", "a.b", "0123abcd", "..x", "name with space");
    fc.assert(
      fc.property(dir, name, (d, n) => {
        for (const kind of ["inputs", "outputs", "stage"] as const) {
          expect(new StateStore(d, n).file(kind)).toBe(path.join(d, `${n}.${kind}`));
        }
      }),
      { numRuns: 500 },
    );
  });
});
