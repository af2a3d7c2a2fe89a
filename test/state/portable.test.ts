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
  it("reads the same values with the reader's paths; without a root it is unreadable", async () => {
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
      kind: "unreadable",
      detail: expect.stringContaining("MEMORI_ROOT"),
    });
  });
});

describe("a project seen at another path (bind mount)", () => {
  const asRoot = process.getuid?.() === 0;
  const mounted: string[] = [];
  afterEach(() => {
    for (const at of mounted.splice(0)) spawnSync("umount", [at]);
  });

  function child(args: string[], env: NodeJS.ProcessEnv) {
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
    // Without a root, the marked paths cannot be placed: a miss that says why, never a hit.
    const rootless = await child(args(mount), { MEMORI_ROOT: "" });
    expect(rootless.decision).toMatchObject({
      action: "run",
      reason: { kind: "state-unreadable" },
    });
  });
});
