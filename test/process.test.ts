import { existsSync } from "node:fs";
import { chmod, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { MemoriError, Stage, runProcess, scriptFunction, which } from "../src/index.js";
import { processesNamed } from "./util/procs.js";
import { recordingLogger, tempDir } from "./util/tmp.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll `check` every 50 ms until it holds; throws after `ms`. */
async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe("runProcess", () => {
  it("returns exit codes, 128+N for signals, and streams output", async () => {
    expect(await runProcess("exit 3", { stdio: "ignore" })).toBe(3);
    expect(await runProcess(["true"], { stdio: "ignore" })).toBe(0);
    expect(await runProcess("kill -TERM $$", { stdio: "ignore" })).toBe(143);
    const dir = await tempDir();
    const out = path.join(dir, "out.txt");
    const { openSync, closeSync } = await import("node:fs");
    const fd = openSync(out, "w");
    await runProcess(["sh", "-c", "echo streamed"], { stdio: ["ignore", fd, "inherit"] });
    closeSync(fd);
    expect(await readFile(out, "utf8")).toBe("streamed\n");
    await expect(runProcess(["definitely-not-a-command-xyz"])).rejects.toThrow(
      /command not found: definitely-not-a-command-xyz/,
    );
  });

  it("which finds commands on PATH and by path", async () => {
    expect(await which("sh")).toMatch(/\/sh$/);
    expect(await which("no-such-command-zzz")).toBeUndefined();
  });
});

describe("scriptFunction", () => {
  it("memoizes a script by its content and its dependents' content", async () => {
    const dir = await tempDir();
    const script = path.join(dir, "work.sh");
    const lib = path.join(dir, "lib.sh");
    const log = path.join(dir, "runs.log");
    const out = path.join(dir, "out.txt");
    await writeFile(lib, "suffix=one\n");
    const body = (tag: string) =>
      `#!/bin/sh\n. ${lib}\necho run >> ${log}\necho "$1-$suffix-${tag}" > "$2"\n`;
    await writeFile(script, body("a"));
    await chmod(script, 0o755);
    const make = () =>
      new Stage(scriptFunction(script, { dependents: [lib], stdio: "ignore" }), {
        hashOutput: path.join(dir, "state"),
        logger: recordingLogger().logger,
      });
    const runs = async () => (await readFile(log, "utf8")).split("\n").filter(Boolean).length;
    const first = make();
    expect(first.name).toBe("work");
    await first.run("x", out);
    await make().run("x", out);
    expect(await runs()).toBe(1);
    expect(await readFile(out, "utf8")).toBe("x-one-a\n");

    await writeFile(script, body("b"));
    const edited = make();
    await edited.run("x", out);
    expect(await runs()).toBe(2);
    expect(edited.lastDecision?.reason).toMatchObject({
      kind: "function-changed",
      changed: [`script:${script}`],
    });

    await writeFile(lib, "suffix=two\n");
    const dep = make();
    await dep.run("x", out);
    expect(dep.lastDecision?.reason).toMatchObject({
      kind: "function-changed",
      changed: [`dependent:${lib}`],
    });
    expect(await readFile(out, "utf8")).toBe("x-two-b\n");
  });

  it("rejects on a non-zero exit, so a failure is never cached", async () => {
    const dir = await tempDir();
    const script = path.join(dir, "fail.sh");
    await writeFile(script, "#!/bin/sh\nexit 4\n");
    await chmod(script, 0o755);
    const stage = new Stage(scriptFunction(script, { stdio: "ignore" }), {
      hashOutput: path.join(dir, "state"),
      logger: recordingLogger().logger,
    });
    await expect(stage.run()).rejects.toThrow(/exited with status 4/);
    await expect(stage.run()).rejects.toThrow(/exited with status 4/);
    // the script's own error, naming the stage it failed in
    await expect(stage.run()).rejects.toMatchObject({ reason: "process-failed", stage: "fail" });
    const missing = new Stage(scriptFunction(path.join(dir, "nope.sh")), {
      hashOutput: path.join(dir, "state"),
    });
    await expect(missing.run()).rejects.toThrow(/script not found: .*nope\.sh/);
  });
});

describe("stopping a process tree (process-tree.ts)", () => {
  // Proves a stopped call's whole process tree is gone before the call settles: a descendant
  // that ignores SIGTERM gets SIGKILL, so it can never write after its call was stopped.
  it("a timed-out stage's descendant that ignores SIGTERM is gone when run() rejects, and never writes", async () => {
    const dir = await tempDir();
    const late = path.join(dir, "late.txt");
    const stage = new Stage(
      async function lingering(file: string) {
        await runProcess(`(trap '' TERM; sleep 6.71; echo LATE > ${file}) & wait`, {
          stdio: "ignore",
        });
        return file;
      },
      {
        hashOutput: path.join(dir, "state"),
        timeout: 800,
        retries: 0,
        logger: recordingLogger().logger,
      },
    );
    const error = await stage.run(late).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MemoriError);
    expect((error as MemoriError).reason).toBe("timeout");
    // At once, not after polling: runProcess settles only when the tree is gone.
    expect(processesNamed("sleep 6.71")).toEqual([]);
    await sleep(7000); // past the moment the sleep would have ended and written
    expect(existsSync(late)).toBe(false);
  }, 20_000);

  // Proves the same for runProcess's explicit signal: it rejects (interrupted) only once the
  // descendant that ignores SIGTERM is gone.
  it("runProcess with an aborted signal rejects with reason interrupted, its whole tree gone", async () => {
    const dir = await tempDir();
    const late = path.join(dir, "late.txt");
    const controller = new AbortController();
    const running = runProcess(`(trap '' TERM; sleep 6.72; echo LATE > ${late}) & wait`, {
      stdio: "ignore",
      signal: controller.signal,
    }).catch((e: unknown) => e);
    await until("the sleep to start", () => processesNamed("sleep 6.72").length === 1);
    await sleep(200); // the subshell has set its trap long before
    const aborted = Date.now();
    controller.abort();
    const error = await running;
    expect(error).toBeInstanceOf(MemoriError);
    expect((error as MemoriError).reason).toBe("interrupted");
    expect(processesNamed("sleep 6.72")).toEqual([]);
    expect(Date.now() - aborted).toBeLessThan(6000); // SIGKILL after 3 s, not the sleep's end
    expect(existsSync(late)).toBe(false);
  });
});
