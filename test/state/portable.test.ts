// Portable state: paths inside the pipeline root (MEMORI_ROOT) are stored relative to it, so a
// process that sees the project at another path (a cluster node's mount) reads the same state.
// Tested for real with a bind mount of a project directory (needs root: skipped with a message
// elsewhere, a failure in CI).
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  FOUND_KEYS,
  ROOT_MARK,
  fromStored,
  inputsFromStored,
  inputsToStored,
  livePath,
  storedPath,
  toStored,
} from "../../src/state/portable.js";
import { CWD_KEY, LINK_PREFIX, LIST_PREFIX, READ_PREFIX } from "../../src/engine/found.js";
import type { CodeIdentity } from "../../src/hashing/hashable.js";
import { StateStore } from "../../src/state/store.js";
import { FORMAT_VERSION, FOUND_PATHS_FORMAT, recordText } from "../../src/state/record.js";
import { tempDir } from "../util/tmp.js";

const fixture = path.resolve(import.meta.dirname, "..", "fixtures", "portable-child.mjs");

describe("paths as stored", () => {
  it("marks absolute paths inside the root, and leaves the others as they are", () => {
    const root = "/lab/study";
    expect(storedPath("/lab/study/data/sub-01.nii", root)).toBe(`${ROOT_MARK}/data/sub-01.nii`);
    expect(storedPath("/lab/study", root)).toBe(ROOT_MARK);
    expect(storedPath("/lab/study-2/x", root)).toBe("/lab/study-2/x"); // a sibling, not inside
    expect(storedPath("/lab/other/x", root)).toBe("/lab/other/x");
    expect(storedPath("data/x", root)).toBe("data/x"); // relative: as given
    expect(livePath(`${ROOT_MARK}/data/sub-01.nii`, "/mnt/lab/study")).toBe(
      "/mnt/lab/study/data/sub-01.nii",
    );
    expect(livePath(ROOT_MARK, "/mnt/lab/study")).toBe("/mnt/lab/study");
    expect(livePath("/lab/other/x", "/mnt/lab/study")).toBe("/lab/other/x");
    expect(livePath(`${ROOT_MARK}/x`, undefined)).toBeUndefined();
  });

  it("converts every file entry of a value, and nothing else", () => {
    const value = {
      t1w: { file: "/lab/study/t1.nii", hash: "h1" },
      list: ["/lab/study/plain-string", { file: "/elsewhere/a", hash: "h2" }],
    };
    const stored = toStored(value, "/lab/study");
    expect(stored).toEqual({
      t1w: { file: `${ROOT_MARK}/t1.nii`, hash: "h1" },
      list: ["/lab/study/plain-string", { file: "/elsewhere/a", hash: "h2" }],
    });
    expect(fromStored(stored, "/lab/study")).toEqual({ ok: true, value });
    expect(fromStored(stored, undefined)).toEqual({ ok: false, path: `${ROOT_MARK}/t1.nii` });
  });
});

/** What a call's code found in /lab/study, and outside it, as the engine records it. */
const FOUND = {
  "cwd:": "/lab",
  "list:/lab/study/data": "listing:1",
  "list:/lab/study/bids/**": "listing:2",
  "list:data": "listing:3",
  "list:/opt/atlas": "listing:4",
  "read:/lab/study/notes.txt": { file: "/lab/study/notes.txt", hash: "h1" },
  "read:/lab/study/absent.txt": "/lab/study/absent.txt",
  "read:/opt/atlas/mni.nii": { file: "/opt/atlas/mni.nii", hash: "h2" },
  "link:/lab/study/current": "/lab/study/v1.txt",
  "link:/lab/study/gone": "",
  "link:/lab/study/outward": "/opt/atlas/mni.nii",
  "env:HOME": "/lab/study",
  subjects: "/lab/study/data",
};

describe("what the code found, as stored (read:, list:, link:, cwd:)", () => {
  it("names the keys found.ts makes", () => {
    expect(FOUND_KEYS).toEqual([READ_PREFIX, LIST_PREFIX, LINK_PREFIX, CWD_KEY]);
  });

  it("marks found paths inside the root, in keys and in the paths they hold, and nothing else", () => {
    const { inputs, marked } = inputsToStored(FOUND, "/lab/study");
    expect(marked).toBe(true);
    expect(inputs).toEqual({
      "cwd:": "/lab", // outside the root: as it is
      [`list:${ROOT_MARK}/data`]: "listing:1",
      [`list:${ROOT_MARK}/bids/**`]: "listing:2",
      "list:data": "listing:3",
      "list:/opt/atlas": "listing:4",
      [`read:${ROOT_MARK}/notes.txt`]: { file: `${ROOT_MARK}/notes.txt`, hash: "h1" },
      [`read:${ROOT_MARK}/absent.txt`]: `${ROOT_MARK}/absent.txt`,
      "read:/opt/atlas/mni.nii": { file: "/opt/atlas/mni.nii", hash: "h2" },
      [`link:${ROOT_MARK}/current`]: `${ROOT_MARK}/v1.txt`,
      [`link:${ROOT_MARK}/gone`]: "",
      [`link:${ROOT_MARK}/outward`]: "/opt/atlas/mni.nii",
      "env:HOME": "/lab/study", // not found by the code: a value as it is
      subjects: "/lab/study/data",
    });
    // Read back under another root: the copy's paths; under the same, the same inputs.
    const copy = inputsFromStored(inputs, "/lab/study2");
    expect(copy).toEqual({
      ok: true,
      value: {
        "cwd:": "/lab",
        "list:/lab/study2/data": "listing:1",
        "list:/lab/study2/bids/**": "listing:2",
        "list:data": "listing:3",
        "list:/opt/atlas": "listing:4",
        "read:/lab/study2/notes.txt": { file: "/lab/study2/notes.txt", hash: "h1" },
        "read:/lab/study2/absent.txt": "/lab/study2/absent.txt",
        "read:/opt/atlas/mni.nii": { file: "/opt/atlas/mni.nii", hash: "h2" },
        "link:/lab/study2/current": "/lab/study2/v1.txt",
        "link:/lab/study2/gone": "",
        "link:/lab/study2/outward": "/opt/atlas/mni.nii",
        "env:HOME": "/lab/study",
        subjects: "/lab/study/data",
      },
    });
    expect(inputsFromStored(inputs, "/lab/study")).toEqual({ ok: true, value: FOUND });
    expect(inputsFromStored(inputs, undefined)).toMatchObject({ ok: false });
  });

  it("leaves them as they are without a root, or with nothing found inside it", () => {
    expect(inputsToStored(FOUND, undefined)).toEqual({ inputs: FOUND, marked: false });
    const outside = { "cwd:": "/lab", "list:/opt/atlas": "listing:4", "list:data": "listing:3" };
    expect(inputsToStored(outside, "/lab/study")).toEqual({ inputs: outside, marked: false });
    // A file entry inside the root is marked as before: format 3 stores it so.
    const named = { t1w: { file: "/lab/study/t1.nii", hash: "h" } };
    expect(inputsToStored(named, "/lab/study")).toEqual({
      inputs: { t1w: { file: `${ROOT_MARK}/t1.nii`, hash: "h" } },
      marked: false,
    });
  });

  it("places the absolute found paths of a state an older memori wrote under another root", () => {
    // Format 3 under /lab/study: entries marked, found keys absolute.
    const old = { ...toStored(FOUND, "/lab/study") };
    const copy = inputsFromStored(old, "/lab/study2", "/lab/study");
    expect(copy.ok && copy.value).toMatchObject({
      "list:/lab/study2/data": "listing:1",
      "read:/lab/study2/notes.txt": { file: "/lab/study2/notes.txt", hash: "h1" },
      "link:/lab/study2/current": "/lab/study2/v1.txt",
      "list:/opt/atlas": "listing:4",
      "list:data": "listing:3",
    });
    expect(copy.ok && Object.keys(copy.value).some((k) => k.includes("/lab/study/"))).toBe(false);
  });

  it("fails, naming the path, when two found inputs would name the same one", () => {
    // The original listed its own data and, by its absolute path, the copy's place.
    const inputs = {
      [`list:${ROOT_MARK}/data`]: "listing:1",
      "list:/lab/study2/data": "listing:2",
    };
    expect(inputsFromStored(inputs, "/lab/study2")).toEqual({
      ok: false,
      path: "/lab/study2/data",
      twice: true,
    });
  });
});

describe("the format of a state holding found paths", () => {
  const code = { hash: "c", self: "s", callees: {}, extras: {}, wrappers: [] } as never;
  const versions = (store: StateStore) =>
    (["stage", "inputs", "outputs"] as const).map(
      (kind) => (JSON.parse(readFileSync(store.file(kind), "utf8")) as { memori: number }).memori,
    );

  it("is 4 when a found path is stored relative to the root, else 3 as before", async () => {
    const dir = await tempDir();
    const marked = new StateStore(dir, "found", "/lab/study");
    await marked.write({ "list:/lab/study/data": "listing:1" }, {}, [], code, []);
    expect(versions(marked)).toEqual([FOUND_PATHS_FORMAT, FOUND_PATHS_FORMAT, FOUND_PATHS_FORMAT]);
    expect(marked.read()).toMatchObject({
      kind: "ok",
      state: { inputs: { "list:/lab/study/data": "listing:1" } },
    });
    expect(new StateStore(dir, "found", "/lab/copy").read()).toMatchObject({
      kind: "ok",
      state: { inputs: { "list:/lab/copy/data": "listing:1" } },
    });
    const outside = new StateStore(dir, "outside", "/lab/study");
    await outside.write({ "list:/opt/atlas": "listing:1" }, {}, [], code, []);
    expect(versions(outside)).toEqual([FORMAT_VERSION, FORMAT_VERSION, FORMAT_VERSION]);
    const rootless = new StateStore(dir, "rootless", null);
    await rootless.write({ "list:/lab/study/data": "listing:1" }, {}, [], code, []);
    expect(versions(rootless)).toEqual([FORMAT_VERSION, FORMAT_VERSION, FORMAT_VERSION]);
    expect(readFileSync(rootless.file("inputs"), "utf8")).toContain('"list:/lab/study/data"');
  });

  it("an older memori's state under a root: placed under a copy's root, as it was under its own", async () => {
    const dir = await tempDir();
    // As a memori before this one wrote it: found paths absolute, the record naming its root.
    const writer = new StateStore(dir, "survey", null);
    await writer.write({ "list:/lab/study/data": "listing:1" }, {}, [], code, []);
    const record = JSON.parse(readFileSync(writer.file("stage"), "utf8")) as Record<
      string,
      unknown
    >;
    delete record.check;
    writeFileSync(writer.file("stage"), recordText({ ...record, root: "/lab/study" } as never));
    const inputsAt = (root: string | null) => {
      const read = new StateStore(dir, "survey", root).read();
      return read.kind === "ok" ? read.state.inputs : read;
    };
    expect(inputsAt("/lab/copy")).toEqual({ "list:/lab/copy/data": "listing:1" });
    expect(inputsAt("/lab/study")).toEqual({ "list:/lab/study/data": "listing:1" });
    expect(inputsAt(null)).toEqual({ "list:/lab/study/data": "listing:1" });
  });

  it("a state written under a root it does not name, with absolute found paths: a miss that says why", async () => {
    const dir = await tempDir();
    const writer = new StateStore(dir, "survey", "/lab/study");
    const inputs = { t1w: { file: "/lab/study/t1.nii", hash: "h" } };
    await writer.write(inputs, {}, [], code, []);
    // As the memori before records named their root wrote it, its code's finds absolute.
    const record = JSON.parse(readFileSync(writer.file("stage"), "utf8")) as {
      values: { inputs: Record<string, unknown> };
    } & Record<string, unknown>;
    delete record.root;
    delete record.check;
    record.values.inputs["list:/lab/study/data"] = "listing:1";
    writeFileSync(writer.file("stage"), recordText(record as never));
    expect(new StateStore(dir, "survey", "/lab/copy").read()).toMatchObject({
      kind: "unreadable",
      detail: expect.stringContaining('"/lab/study/data", found by its code'),
    });
  });
});

describe("a state written under one root, read under another", () => {
  it("reads the same values with the reader's paths; without a root, with the writer's", async () => {
    const dir = await tempDir();
    const inputs = { t1w: { file: "/lab/study/t1.nii", hash: "h1" } };
    const code = {
      hash: "c",
      self: "s",
      callees: {},
      extras: {},
      wrappers: [],
    } as unknown as CodeIdentity;
    const writer = new StateStore(dir, "bet", "/lab/study");
    await writer.write(inputs, { brain: { file: "/lab/study/brain.nii", hash: "h2" } }, [], code, [
      "brain",
    ]);
    expect(readFileSync(writer.file("inputs"), "utf8")).toContain('"\\u0000root/t1.nii"');
    const reader = new StateStore(dir, "bet", "/mnt/lab/study");
    expect(reader.read()).toMatchObject({
      kind: "ok",
      state: {
        inputs: { t1w: { file: "/mnt/lab/study/t1.nii", hash: "h1" } },
        outputs: { brain: { file: "/mnt/lab/study/brain.nii", hash: "h2" } },
      },
    });
    expect(new StateStore(dir, "bet", null).read()).toMatchObject({
      kind: "ok",
      state: {
        inputs: { t1w: { file: "/lab/study/t1.nii", hash: "h1" } },
        outputs: { brain: { file: "/lab/study/brain.nii", hash: "h2" } },
      },
    });
  });

  it("is unreadable without a root when the record does not name its writer's", async () => {
    const dir = await tempDir();
    const code = { hash: "c", self: "s", callees: {}, extras: {}, wrappers: [] };
    const writer = new StateStore(dir, "bet", "/lab/study");
    await writer.write(
      { t1w: { file: "/lab/study/t1.nii", hash: "h1" } },
      {},
      [],
      code as never,
      [],
    );
    // as a memori before records named their root wrote it: the same record without `root`
    const text = readFileSync(writer.file("stage"), "utf8");
    const record = JSON.parse(text) as Record<string, unknown>;
    delete record.root;
    delete record.check;
    writeFileSync(writer.file("stage"), recordText(record as never));
    expect(new StateStore(dir, "bet", "/lab/study").read().kind).toBe("ok");
    expect(new StateStore(dir, "bet", null).read()).toMatchObject({
      kind: "unreadable",
      detail: expect.stringContaining("MEMORI_ROOT"),
    });
  });

  it("a script without MEMORI_ROOT hits what `memori run` (with one) committed, and the other way", async () => {
    // What `memori run` does for a pipeline module's stages, then the same stage from a script
    // run with node: nothing changed, nothing runs again.
    const project = await tempDir();
    mkdirSync(path.join(project, "data"));
    mkdirSync(path.join(project, "out"));
    const inside = path.join(project, "data", "t1.txt");
    writeFileSync(inside, "t1");
    const outside = path.join(await tempDir(), "atlas.txt");
    writeFileSync(outside, "atlas");
    const args = [path.join(project, ".memori"), inside, outside, path.join(project, "out")];
    const viaRun = await portableChild(args, { MEMORI_ROOT: project });
    expect(viaRun.decision).toMatchObject({ action: "run", reason: { kind: "first-run" } });
    expect(readFileSync(path.join(project, ".memori", "combine.inputs"), "utf8")).toContain(
      "\\u0000root/data/t1.txt",
    );
    const viaScript = await portableChild(args, { MEMORI_ROOT: "" });
    expect(viaScript.decision).toMatchObject({ action: "skip", reason: { kind: "cached" } });
    expect(viaScript.out).toBe(path.join(project, "out", "combined.txt"));
    const again = await portableChild(args, { MEMORI_ROOT: project });
    expect(again.decision).toMatchObject({ action: "skip", reason: { kind: "cached" } });
    // and a change inside the project is still seen without a root
    writeFileSync(inside, "t1 v2");
    const changed = await portableChild(args, { MEMORI_ROOT: "" });
    expect(changed.decision).toMatchObject({ action: "run", reason: { kind: "input-changed" } });
  });
});

/** Run test/fixtures/portable-child.mjs: what its stage returned, and its decision. */
function portableChild(args: string[], env: NodeJS.ProcessEnv) {
  return new Promise<{ out: string; decision: { action: string; reason: { kind: string } } }>(
    (resolve, reject) => {
      const p = spawn(process.execPath, [fixture, ...args], {
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      let err = "";
      p.stdout.on("data", (d: Buffer) => (out += d.toString()));
      p.stderr.on("data", (d: Buffer) => (err += d.toString()));
      p.on("close", (status) =>
        status === 0 ? resolve(JSON.parse(out)) : reject(new Error(`status ${status}: ${err}`)),
      );
    },
  );
}

describe("a project seen at another path (bind mount)", () => {
  const asRoot = process.getuid?.() === 0;
  const mounted: string[] = [];
  afterEach(() => {
    for (const at of mounted.splice(0)) spawnSync("umount", [at]);
  });

  const child = portableChild;

  it("hits the state written through the other path; paths outside compare as they are", async (ctx) => {
    if (!asRoot) {
      if (process.env.CI === "true") throw new Error("CI runs as root: a bind mount needs it");
      console.warn("skipping: a bind mount needs root");
      return ctx.skip();
    }
    const top = await tempDir();
    const project = path.join(top, "lab", "study");
    const mount = path.join(top, "mnt", "study");
    const outside = path.join(top, "shared", "atlas.txt");
    mkdirSync(path.join(project, "data"), { recursive: true });
    mkdirSync(path.join(project, "out"));
    mkdirSync(mount, { recursive: true });
    mkdirSync(path.dirname(outside));
    writeFileSync(path.join(project, "data", "t1.txt"), "t1 ");
    writeFileSync(outside, "atlas");
    const mountResult = spawnSync("mount", ["--bind", project, mount], { encoding: "utf8" });
    expect(mountResult.status, mountResult.stderr).toBe(0);
    mounted.push(mount);
    const args = (base: string) => [
      path.join(base, "state"),
      path.join(base, "data", "t1.txt"),
      outside,
      path.join(base, "out"),
    ];
    const first = await child(args(project), { MEMORI_ROOT: project });
    expect(first.decision).toMatchObject({ action: "run", reason: { kind: "first-run" } });
    expect(first.out).toBe(path.join(project, "out", "combined.txt"));
    // The same project through the mount: the submitter's state, the mount's paths.
    const there = await child(args(mount), { MEMORI_ROOT: mount });
    expect(there.decision).toMatchObject({ action: "skip", reason: { kind: "cached" } });
    expect(there.out).toBe(path.join(mount, "out", "combined.txt"));
    // A change outside the root is seen through either path: compared by its absolute path.
    writeFileSync(outside, "atlas v2");
    const changed = await child(args(mount), { MEMORI_ROOT: mount });
    expect(changed.decision).toMatchObject({ action: "run", reason: { kind: "input-changed" } });
    expect(readFileSync(path.join(project, "out", "combined.txt"), "utf8")).toBe("t1 atlas v2");
    const back = await child(args(project), { MEMORI_ROOT: project });
    expect(back.decision).toMatchObject({ action: "skip", reason: { kind: "cached" } });
    // Without a root, the marked paths are placed under the root the record was written with
    // (the mount's: the last commit was through it): the same files, a hit.
    const rootless = await child(args(mount), { MEMORI_ROOT: "" });
    expect(rootless.decision).toMatchObject({ action: "skip", reason: { kind: "cached" } });
    expect(rootless.out).toBe(path.join(mount, "out", "combined.txt"));
  });
});
