/**
 * Invariant 5: bad input gets a clear error that names the stage and the problem, leaves the
 * previous state intact and usable, and leaves no temporary files behind.
 */
import { execFileSync } from "node:child_process";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { MemoriError, Stage } from "../../src/index.js";
import { recordingLogger, tempDir } from "../util/tmp.js";

const mounted: string[] = [];
afterEach(() => {
  for (const dir of mounted.splice(0).reverse()) execFileSync("umount", [dir]);
});

/** Mount something for a test; false if this machine does not let us (not root). */
function mount(args: string[], dir: string): boolean {
  try {
    execFileSync("mount", [...args, dir], { stdio: "ignore" });
    mounted.push(dir);
    return true;
  } catch {
    return false;
  }
}
const canMount = (() => {
  try {
    return process.getuid?.() === 0 && execFileSync("id", ["-u"]).toString().trim() === "0";
  } catch {
    return false;
  }
})();

function echoStage(dir: string, calls: { n: number }) {
  return new Stage(
    function echo(value: unknown) {
      calls.n++;
      return value;
    },
    { hashOutput: dir, logger: recordingLogger().logger },
  );
}

async function noTemps(dir: string): Promise<void> {
  expect((await readdir(dir)).filter((f) => f.endsWith(".tmp"))).toEqual([]);
}

describe("bad input", () => {
  it("rejects names that could escape hashOutput, writing nothing anywhere", async () => {
    const dir = await tempDir();
    const state = path.join(dir, "a", "b", "state");
    const names = ["../../etc/x", "../x", "a/b", "a\\b", "..", ".", "", "x\0y", "..hidden"];
    for (const name of names) {
      const error = (() => {
        try {
          new Stage(
            function f() {
              return 1;
            },
            { name, hashOutput: state },
          );
          return undefined;
        } catch (e) {
          return e;
        }
      })();
      expect(error, JSON.stringify(name)).toBeInstanceOf(MemoriError);
      expect((error as MemoriError).reason).toBe("invalid-name");
    }
    expect(await readdir(dir)).toEqual([]);
    console.log(`bad input: ${names.length} escaping names tried, 0 accepted`);
  });

  it("reports errors by stage and keeps the previous state for every kind of bad value", async () => {
    const dir = await tempDir();
    const calls = { n: 0 };
    await echoStage(dir, calls).run({ ok: true });
    const before = await Promise.all(
      ["inputs", "outputs", "stage"].map((k) => readFile(path.join(dir, `echo.${k}`), "utf8")),
    );
    const circular: Record<string, unknown> = {};
    circular.me = circular;
    const bad: unknown[] = [
      circular,
      () => 1,
      Symbol("s"),
      new (class Scan {})(),
      new Uint16Array(2),
      new WeakMap(),
      Promise.resolve(1),
    ];
    for (const value of bad) {
      await expect(echoStage(dir, calls).run(value)).rejects.toMatchObject({
        reason: "unserializable",
        stage: "echo",
      });
    }
    const after = await Promise.all(
      ["inputs", "outputs", "stage"].map((k) => readFile(path.join(dir, `echo.${k}`), "utf8")),
    );
    expect(after).toEqual(before);
    const again = echoStage(dir, calls);
    await again.run({ ok: true });
    expect(again.fromCache).toBe(true);
    await noTemps(dir);
    console.log(`bad input: ${bad.length} unserializable values tried, previous state intact`);
  });

  it.skipIf(!canMount)(
    "a full disk: clear error, previous state intact and usable, no temp files",
    async () => {
      const dir = await tempDir();
      const disk = path.join(dir, "tiny");
      await mkdir(disk);
      expect(mount(["-t", "tmpfs", "-o", "size=64k", "tmpfs"], disk)).toBe(true);
      const calls = { n: 0 };
      await echoStage(disk, calls).run("small");
      const big = "x".repeat(200_000);
      const error = (await echoStage(disk, calls)
        .run(big)
        .catch((e: unknown) => e)) as MemoriError;
      expect(error).toBeInstanceOf(MemoriError);
      expect(error.reason).toBe("state-not-writable");
      expect(error.message).toMatch(
        /stage "echo": could not write its state in .*tiny \(.*ENOSPC.*\)\. The previous state, if any, was left as it was\./,
      );
      await noTemps(disk);
      const previous = echoStage(disk, calls);
      expect(await previous.run("small")).toEqual({ output: "small" });
      expect(previous.fromCache).toBe(true);
    },
  );

  it.skipIf(!canMount)(
    "a read-only cache directory: hits are served, a miss is a clear error",
    async () => {
      const dir = await tempDir();
      const state = path.join(dir, "state");
      const calls = { n: 0 };
      await echoStage(state, calls).run("stored");
      await writeFile(path.join(dir, "marker"), "");
      expect(mount(["--bind", "-o", "ro"], state) || mount(["-o", "bind,ro", state], state)).toBe(
        true,
      );
      const hit = echoStage(state, calls);
      expect(await hit.run("stored")).toEqual({ output: "stored" });
      expect(hit.fromCache).toBe(true);
      const error = (await echoStage(state, calls)
        .run("new")
        .catch((e: unknown) => e)) as MemoriError;
      expect(error).toBeInstanceOf(MemoriError);
      expect(error.stage).toBe("echo");
      expect(error.message).toMatch(
        /stage "echo": cannot lock its state in .*state \(.*(EROFS|read-only).*\)/,
      );
      expect(calls.n).toBe(1);
    },
  );
});
