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
});
