// The end of a job's log, read from the end of the file (no cluster needed).
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { logTail } from "../../src/slurm/log-tail.js";
import { tempDir } from "../util/tmp.js";

describe("logTail", () => {
  it("gives the last lines, without the trailing newline", async () => {
    const file = path.join(await tempDir(), "job.err");
    await writeFile(file, Array.from({ length: 50 }, (_, i) => `line ${i}`).join("\n") + "\n");
    expect(await logTail(file, { lines: 3 })).toEqual({
      ok: true,
      value: "line 47\nline 48\nline 49",
    });
    expect(await logTail(file, { lines: 0 })).toEqual({ ok: true, value: "" });
  });

  it("reads only the end of a big log, dropping the line it started inside", async () => {
    const file = path.join(await tempDir(), "big.out");
    const long = "x".repeat(100_000);
    await writeFile(file, `${long}\nsecond to last\nlast é`);
    const tail = await logTail(file, { lines: 10, bytes: 30 });
    expect(tail).toEqual({ ok: true, value: "second to last\nlast é" });
  });

  it("gives an empty file as empty, a missing one as a failure naming it", async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, "empty"), "");
    expect(await logTail(path.join(dir, "empty"))).toEqual({ ok: true, value: "" });
    expect(await logTail(path.join(dir, "missing.err"))).toMatchObject({
      ok: false,
      error: {
        reason: "log-unreadable",
        message: expect.stringMatching(/missing\.err could not be read: it does not exist/),
      },
    });
  });
});
