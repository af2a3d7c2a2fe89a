/**
 * Invariant 1, crash consistency: a process killed with SIGKILL at any moment of a stage run
 * never makes a later run return outputs that do not belong to its inputs and code.
 */
import { readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { runChild } from "../util/child.js";
import { underMutation } from "../util/mutation.js";
import { tempDir } from "../util/tmp.js";

const POINTS = [
  "before-function",
  "after-function",
  "mid-temp-write",
  "after-prepare-inputs",
  "after-prepare-outputs",
  "after-prepare-stage",
  "after-commit-inputs",
  "after-commit-outputs",
  "after-commit-stage",
];
const exhaustive = process.env.MEMORI_EXHAUSTIVE === "1";
// Under the mutation runner every kill point is still tried; random kills are few (each mutant
// of the write path runs this test).
const RANDOM_KILLS = exhaustive ? 200 : underMutation ? 4 : 24;

const expected = (x: number) => x * x + 1;

/** Run the stage for x in a fresh process and check its result against a fresh computation. */
async function verify(state: string, work: string, x: number): Promise<boolean> {
  const result = await runChild("square-child.mjs", [state, work, String(x)]);
  expect(result.status, result.stderr).toBe(0);
  const returned = JSON.parse(result.stdout) as { value: number; file: string };
  const content = await readFile(returned.file, "utf8");
  const fileOk = content === `value=${expected(x)}\n`.repeat(8000);
  return returned.value === expected(x) && fileOk;
}

describe("crash consistency (SIGKILL at every write boundary and at random moments)", () => {
  it("never serves a stale result after a kill at a write boundary", async () => {
    let tried = 0;
    let landed = 0;
    let stale = 0;
    for (const point of POINTS) {
      for (const previous of [false, true]) {
        const work = await tempDir();
        const state = path.join(work, "state");
        if (previous) expect(await verify(state, work, 1)).toBe(true);
        const killed = await runChild("square-child.mjs", [state, work, "2"], {
          env: { MEMORI_TEST_CRASH_AT: point },
        });
        tried++;
        if (killed.signal === "SIGKILL") landed++;
        for (const x of [2, 1, 2]) if (!(await verify(state, work, x))) stale++;
        const leftovers = (await readdir(state)).filter((f) => /\.(inputs|outputs|stage)$/.test(f));
        expect(leftovers.sort()).toEqual(["square.inputs", "square.outputs", "square.stage"]);
      }
    }
    console.log(
      `crash harness: ${tried} kill points tried (${POINTS.length} boundaries x 2), ${landed} kills landed, ${stale} stale results`,
    );
    expect(landed).toBe(tried);
    expect(stale).toBe(0);
  });

  it(
    "never serves a stale result after kills at random moments",
    async () => {
      const work = await tempDir();
      const state = path.join(work, "state");
      let landed = 0;
      let stale = 0;
      for (let i = 0; i < RANDOM_KILLS; i++) {
        const x = i % 3;
        const killAfterMs = 60 + Math.floor(Math.random() * 180);
        const killed = await runChild("square-child.mjs", [state, work, String(x), "80"], {
          killAfterMs,
        });
        if (killed.signal === "SIGKILL") landed++;
        if (!(await verify(state, work, (i + 1) % 3))) stale++;
        if (!(await verify(state, work, x))) stale++;
      }
      console.log(
        `crash harness: ${RANDOM_KILLS} random kills tried (${landed} landed mid-run), ${stale} stale results${exhaustive ? " [exhaustive]" : " (MEMORI_EXHAUSTIVE=1 for 200)"}`,
      );
      expect(stale).toBe(0);
    },
    exhaustive ? 900_000 : undefined,
  );
});
