// Portable state: paths inside the pipeline root (MEMORI_ROOT) are stored relative to it, so a
// process that sees the project at another path (a cluster node's mount) reads the same state.
// Tested for real with a bind mount of a project directory (needs root: skipped with a message
// elsewhere, a failure in CI).
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ROOT_MARK, fromStored, livePath, storedPath, toStored } from "../../src/state/portable.js";
import type { CodeIdentity } from "../../src/hashing/hashable.js";
import { StateStore } from "../../src/state/store.js";
import { recordText } from "../../src/state/record.js";
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
