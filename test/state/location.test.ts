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
});
