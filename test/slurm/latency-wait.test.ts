// Waiting for a job's files to show (latency-wait.ts), with real files written late: a file
// that appears after the first look is waited for, one that never does (or keeps another size)
// is named once the bound has passed, an abort ends the wait at once.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { waitForFiles } from "../../src/slurm/latency-wait.js";
import { tempDir } from "../util/tmp.js";

const later = (ms: number, make: () => Promise<void>) =>
  new Promise<void>((resolve, reject) => setTimeout(() => make().then(resolve, reject), ms));

describe("waitForFiles", () => {
  it("returns at once when every file is there with its size, and directories are there", async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, "a.txt"), "abc");
    await mkdir(path.join(dir, "out"));
    const began = Date.now();
    const found = await waitForFiles(
      [
        { path: path.join(dir, "a.txt"), size: 3 },
        { path: path.join(dir, "out"), size: null },
        { path: path.join(dir, "a.txt") },
      ],
      { latencyWait: 5000 },
    );
    expect(found).toEqual({ ok: true });
    expect(Date.now() - began).toBeLessThan(200);
  });

  it("waits for a file that appears after the first look, and for its full size", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "late.txt");
    const began = Date.now();
    const writing = later(400, () => writeFile(file, "x")).then(() =>
      later(300, () => writeFile(file, "xyz")),
    );
    const found = await waitForFiles([{ path: file, size: 3 }], { latencyWait: 5000 });
    await writing;
    expect(found).toEqual({ ok: true });
    expect(Date.now() - began).toBeGreaterThanOrEqual(650);
    expect(Date.now() - began).toBeLessThan(3000);
  });

  it("names what is still missing once the bound has passed", async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, "short.txt"), "ab");
    await writeFile(path.join(dir, "file"), "");
    const began = Date.now();
    const found = await waitForFiles(
      [
        { path: path.join(dir, "never.txt"), size: 1 },
        { path: path.join(dir, "short.txt"), size: 5 },
        { path: path.join(dir, "file"), size: null },
        { path: path.join(dir, "short.txt"), size: 2 },
      ],
      { latencyWait: 500 },
    );
    const took = Date.now() - began;
    expect(found).toEqual({
      ok: false,
      missing: [
        `${path.join(dir, "never.txt")} (not there)`,
        `${path.join(dir, "short.txt")} (2 bytes, the job left 5)`,
        `${path.join(dir, "file")} (not a directory)`,
      ],
    });
    expect(took).toBeGreaterThanOrEqual(480);
    expect(took).toBeLessThan(2000);
  });

  it("a latency wait of 0 looks once", async () => {
    const dir = await tempDir();
    const found = await waitForFiles([{ path: path.join(dir, "nope") }], { latencyWait: 0 });
    expect(found).toEqual({ ok: false, missing: [`${path.join(dir, "nope")} (not there)`] });
  });

  it("stops waiting when its signal aborts", async () => {
    const dir = await tempDir();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const began = Date.now();
    const found = await waitForFiles([{ path: path.join(dir, "nope") }], {
      latencyWait: 30_000,
      signal: controller.signal,
    });
    expect(found.ok).toBe(false);
    expect(Date.now() - began).toBeLessThan(2000);
  });
});
