/**
 * Invariant 7: a cached result equals the fresh one, and the inputs' identity is stable across
 * processes and independent of object key order (property-based, fast-check).
 */
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Stage } from "../../src/index.js";
import { reverseKeys, valueArbitrary } from "../fixtures/values-arbitrary.mjs";
import { runChild } from "../util/child.js";
import { recordingLogger, tempDir } from "../util/tmp.js";

const SEED = 20261123;

async function filePool(dir: string): Promise<string[]> {
  const files = ["a.nii", "b.nii.gz", "with space.txt", "ünïcode.json"].map((f) =>
    path.join(dir, f),
  );
  for (const [i, file] of files.entries()) await writeFile(file, `content ${i}`);
  return files;
}

describe("round-trip property", () => {
  it("cached results equal fresh results; key order does not matter", async () => {
    const dir = await tempDir();
    const files = await filePool(dir);
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(valueArbitrary(files), async (value) => {
        const hashOutput = path.join(dir, "state", String(runs++));
        const make = () =>
          new Stage(
            function identity(v: unknown) {
              return v;
            },
            { hashOutput, logger: recordingLogger().logger },
          );
        const fresh = await make().run(value);
        const cachedStage = make();
        const cached = await cachedStage.run(value);
        expect(cachedStage.fromCache).toBe(true);
        // node's isDeepStrictEqual: strict on prototypes, -0 and types (vitest's toStrictEqual
        // misjudges objects that have an own "constructor" key)
        expect(isDeepStrictEqual(cached.output, fresh.output)).toBe(true);
        const shuffled = make();
        await shuffled.run(reverseKeys(value));
        expect(shuffled.fromCache).toBe(true);
      }),
      { numRuns: 150, seed: SEED },
    );
    console.log(
      `round-trip: ${runs} generated values, each fresh, cached and key-reversed; 0 mismatches`,
    );
  });

  it("the inputs' identity is stable across processes", async () => {
    const dir = await tempDir();
    const files = await filePool(dir);
    const state = path.join(dir, "shared");
    const count = 40;
    const values = fc.sample(valueArbitrary(files), { seed: SEED, numRuns: count });
    for (const [i, value] of values.entries()) {
      await new Stage(
        function identity(v: unknown) {
          return v;
        },
        { name: `v${i}`, hashOutput: state, logger: recordingLogger().logger },
      ).run(value);
    }
    const child = await runChild("values-child.mjs", [
      state,
      String(SEED),
      String(count),
      ...files,
    ]);
    expect(child.status, child.stderr).toBe(0);
    const report = JSON.parse(child.stdout) as { hits: number; equal: number; total: number };
    console.log(
      `round-trip: another process regenerated ${report.total} values: ${report.hits} hits, ${report.equal} equal`,
    );
    expect(report).toEqual({ hits: count, equal: count, total: count });
  });
});
