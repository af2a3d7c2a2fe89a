/**
 * What a skipped `memori` call loads: only what deciding the skip needs (issue 13). Starting
 * processes (`child_process`, which brings `net` and `dgram`), worker threads and the inspector
 * each cost a process start-up a few percent, and a skip needs none of them; they are loaded
 * when a command has to run. Real processes of the bundled program, real files; the built-in
 * modules each process loaded are written at its exit by a preloaded module.
 */
import { chmod, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { run, type Ran } from "../util/cli.js";
import { tempDir } from "../util/tmp.js";

const preload = pathToFileURL(
  path.resolve(import.meta.dirname, "..", "util", "loaded-modules.mjs"),
);

/** Only what running a command needs. */
const FOR_RUNNING = ["child_process", "worker_threads", "inspector", "net", "dgram"];

/** Run the program, and the built-in modules its process loaded. */
async function runWatched(args: string[], dir: string): Promise<{ ran: Ran; loaded: Set<string> }> {
  const list = path.join(dir, "loaded.txt");
  const ran = await run("memori", args, dir, {
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import ${preload.href}`.trim(),
    MEMORI_TEST_LOADED: list,
  });
  const loaded = new Set((await readFile(list, "utf8")).split("\n").filter(Boolean));
  return { ran, loaded };
}

async function runs(dir: string): Promise<number> {
  return (await readFile(path.join(dir, "runs.log"), "utf8").catch(() => ""))
    .split("\n")
    .filter(Boolean).length;
}

describe("a skipped memori call", () => {
  it("loads no module for starting processes, worker threads or the inspector, and still checks everything", async () => {
    const dir = await tempDir();
    const script = path.join(dir, "copy.sh");
    await writeFile(
      script,
      `#!/bin/sh\necho run >> "${path.join(dir, "runs.log")}"\n. ./lib.sh\ncp "$1" "$2"\n`,
    );
    await chmod(script, 0o755);
    await writeFile(path.join(dir, "lib.sh"), "true\n");
    await writeFile(path.join(dir, "in.txt"), "one");
    const args = [
      "-d",
      "cache",
      "-c",
      "./lib.sh",
      "-o",
      "out.txt",
      "--",
      script,
      "in.txt",
      "out.txt",
    ];

    const first = await runWatched(args, dir);
    expect(first.ran).toMatchObject({ status: 0, stderr: "" });
    expect(await runs(dir)).toBe(1);
    // The preload sees what a process loads: running the command loads child_process.
    expect(first.loaded).toContain("child_process");

    const skipped = await runWatched(args, dir);
    expect(skipped.ran).toMatchObject({ status: 0, stdout: "", stderr: "" });
    expect(await runs(dir)).toBe(1);
    expect(skipped.loaded).toContain("crypto"); // it hashed what the call names
    for (const name of FOR_RUNNING) expect(skipped.loaded).not.toContain(name);

    // The skip still looked at everything: a changed input, dependent or output runs again.
    await writeFile(path.join(dir, "in.txt"), "two");
    expect((await runWatched(args, dir)).loaded).toContain("child_process");
    expect(await runs(dir)).toBe(2);
    expect(await readFile(path.join(dir, "out.txt"), "utf8")).toBe("two");
    await writeFile(path.join(dir, "lib.sh"), "true # edited\n");
    await runWatched(args, dir);
    expect(await runs(dir)).toBe(3);
    await writeFile(path.join(dir, "out.txt"), "tampered");
    await runWatched(args, dir);
    expect(await runs(dir)).toBe(4);
    expect(await readFile(path.join(dir, "out.txt"), "utf8")).toBe("two");
    const again = await runWatched(args, dir);
    expect(await runs(dir)).toBe(4);
    for (const name of FOR_RUNNING) expect(again.loaded).not.toContain(name);
  });
});
