// A process that loses its lock while its stage runs never commits (engine/locked.ts,
// state/atomic.ts). Process A blocks its event loop (a synchronous tool) for longer than the
// lock's stale time after writing its output file; process B, with other inputs, takes the
// lock over, runs, writes the same file and commits. A must then fail with `lock-failed` and
// record nothing: before, it committed its inputs with the file as B left it, and every later
// run with A's inputs was a hit whose file held B's result.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { runChild } from "../util/child.js";
import { tempDir } from "../util/tmp.js";

const env = { MEMORI_LOCK_STALE_MS: "5000" }; // the shortest stale time allowed
const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("a lock lost while the stage runs (a blocked or suspended process)", () => {
  it("is never committed: the holder fails, and its inputs run again", async () => {
    const dir = await tempDir();
    const out = path.join(dir, "out.txt");
    const a = runChild("lock-lost-child.mjs", [dir, "a", "9000"], { env });
    // A has written its file and holds the lock, blocked.
    for (let i = 0; i < 200; i++) {
      if ((await readFile(out, "utf8").catch(() => "")) === "result for a\n") break;
      await wait(50);
    }
    const b = JSON.parse((await runChild("lock-lost-child.mjs", [dir, "b", "0"], { env })).stdout);
    expect(b).toEqual({ value: "b", fromCache: false, content: "result for b" });
    const lost = JSON.parse((await a).stdout);
    expect(lost).toMatchObject({ value: "a", reason: "lock-failed" });
    expect(lost.message).toMatch(/another process took over its lock/);
    // A recorded nothing: B's state stands, and A's inputs run again.
    const again = JSON.parse(
      (await runChild("lock-lost-child.mjs", [dir, "a", "0"], { env })).stdout,
    );
    expect(again).toEqual({ value: "a", fromCache: false, content: "result for a" });
    const bAgain = JSON.parse(
      (await runChild("lock-lost-child.mjs", [dir, "b", "0"], { env })).stdout,
    );
    expect(bAgain).toMatchObject({ value: "b", content: "result for b" });
  }, 60_000);
});
