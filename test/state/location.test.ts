import path from "node:path";
import { describe, expect, it } from "vitest";
import { Stage } from "../../src/index.js";
import { commits } from "../util/procs.js";
import { recordingLogger, tempDir } from "../util/tmp.js";

describe("where a map element's state lives (location.ts)", () => {
  // Proves BigInt map values key their elements' state: the map runs, and runs again cached.
  it("maps over BigInt values, memoized per element", async () => {
    const dir = await tempDir();
    let runs = 0;
    const stage = new Stage(
      function double(n: bigint) {
        runs++;
        return n * 2n;
      },
      { hashOutput: dir, logger: recordingLogger().logger },
    );
    expect(await stage.map({ n: [1n, 2n] })).toEqual({ output: [2n, 4n] });
    expect(runs).toBe(2);
    expect(await commits(path.join(dir, "double.map"))).toHaveLength(2);

    expect(await stage.map({ n: [1n, 2n] })).toEqual({ output: [2n, 4n] });
    expect(runs).toBe(2); // both elements cached

    // Each value keys its own element: a new one runs alone, and 1n is not 1.
    expect(await stage.map({ n: [2n, 3n] })).toEqual({ output: [4n, 6n] });
    expect(runs).toBe(3);
    expect(await commits(path.join(dir, "double.map"))).toHaveLength(3);
  });

  // Proves elements whose values JSON writes alike key different states: each runs once, and
  // a re-run runs none (before, all but one re-ran on every run).
  it("keys elements JSON would confuse (NaN, null, Infinity, -0, Sets, Maps) apart", async () => {
    const dir = await tempDir();
    const seen: unknown[] = [];
    const stage = new Stage(
      function keep(v: unknown) {
        seen.push(v);
        return 1;
      },
      { hashOutput: dir, logger: recordingLogger().logger },
    );
    const values = [
      NaN,
      null,
      Infinity,
      -Infinity,
      0,
      -0,
      undefined,
      new Set([1]),
      new Set([2]),
      new Map([["a", 1]]),
      new Map([["a", 2]]),
      { file: "x", hash: "y" },
      { file: "x", hash: "y", note: 1 },
    ];
    await stage.map({ v: values });
    expect(seen).toHaveLength(values.length);
    expect(await commits(path.join(dir, "keep.map"))).toHaveLength(values.length);
    await stage.map({ v: values });
    expect(seen).toHaveLength(values.length); // every element cached
  });

  it("keys plain JSON values as before, so existing states stay found", async () => {
    const { elementKey } = await import("../../src/state/location.js");
    // the key of { x: "sub-01" } before value encoding: sha256('{"x":"sub-01"}'), 20 hex digits
    const { createHash } = await import("node:crypto");
    const before = createHash("sha256").update('{"x":"sub-01"}').digest("hex").slice(0, 20);
    expect(elementKey({ x: "sub-01" }, "s")).toBe(before);
  });

  // Proves a map over files inside the pipeline root keys each element the same wherever the
  // root is (a cluster node's mount, a moved project), and files outside it by their paths.
  it("keys paths inside the pipeline root relative to it", async () => {
    const { elementKey } = await import("../../src/state/location.js");
    const at = (root: string) => ({
      t1w: path.join(root, "sub-01", "anat", "T1w.nii.gz"),
      atlas: "/opt/atlas/mni.nii.gz",
      nested: [{ file: path.join(root, "sub-01") }],
      fwhm: 6,
    });
    const key = elementKey(at("/lab/study"), "s", "/lab/study");
    expect(elementKey(at("/mnt/lab/study"), "s", "/mnt/lab/study")).toBe(key);
    // without a root, or with another file in it, another key
    expect(elementKey(at("/lab/study"), "s", undefined)).not.toBe(key);
    expect(
      elementKey({ ...at("/lab/study"), atlas: "/opt/atlas/other.nii.gz" }, "s", "/lab/study"),
    ).not.toBe(key);
    expect(
      elementKey(
        { ...at("/lab/study"), t1w: "/lab/study/sub-02/anat/T1w.nii.gz" },
        "s",
        "/lab/study",
      ),
    ).not.toBe(key);
    // a path outside the root stays absolute: the same file seen from two roots keys alike
    expect(elementKey({ atlas: "/opt/a" }, "s", "/lab/study")).toBe(
      elementKey({ atlas: "/opt/a" }, "s", "/mnt/x"),
    );
    // plain values key as they always did
    expect(elementKey({ x: "sub-01" }, "s", "/lab/study")).toBe(
      elementKey({ x: "sub-01" }, "s", undefined),
    );
  });
});
