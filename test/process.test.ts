import { existsSync } from "node:fs";
import { chmod, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, expectTypeOf, it, vi } from "vitest";
import {
  MemoriError,
  ProcessFailedError,
  type ProcessOutput,
  Stage,
  runProcess,
  scriptFunction,
  which,
} from "../src/index.js";
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

/** Keep what is written to this process's stderr from now on, instead of showing it. */
function silenceStderr(): () => string {
  let written = "";
  vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    written += Buffer.from(chunk).toString("utf8");
    return true;
  });
  return () => written;
}

describe("runProcess", () => {
  it("resolves to 0, and with reject: false to any exit status (128+N for signals); streams output", async () => {
    expect(await runProcess(["true"], { stdio: "ignore" })).toBe(0);
    expect(await runProcess("exit 3", { stdio: "ignore", reject: false })).toBe(3);
    expect(await runProcess("kill -TERM $$", { stdio: "ignore", reject: false })).toBe(143);
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

  it("rejects on a non-zero exit with a ProcessFailedError: exit code, signal, the end of stderr", async () => {
    const written = silenceStderr();
    try {
      const failed = await runProcess("echo starting; echo 'bet: cannot open image' >&2; exit 3")
        .then(() => undefined)
        .catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(ProcessFailedError);
      expect(failed).toBeInstanceOf(MemoriError);
      expect(failed).toMatchObject({
        reason: "process-failed",
        status: 3,
        exitCode: 3,
        signal: undefined,
        stderrTail: "bet: cannot open image\n",
        command: "echo starting; echo 'bet: cannot open image' >&2; exit 3",
        stdout: undefined,
      });
      expect((failed as Error).message).toBe(
        `"echo starting; echo 'bet: cannot open image' >&2; exit 3" exited with status 3. ` +
          "Its stderr ended with:\n    bet: cannot open image",
      );
      // stderr went through memori, and on to this process's stderr as it came
      expect(written()).toContain("bet: cannot open image\n");

      const killed = await runProcess(["sh", "-c", "kill -KILL $$"]).catch((e: unknown) => e);
      expect(killed).toMatchObject({ status: 137, exitCode: undefined, signal: "SIGKILL" });
      expect((killed as Error).message).toBe("sh was killed by SIGKILL (status 137).");
    } finally {
      vi.restoreAllMocks();
    }
  });

  it("keeps only the last 8 KiB of stderr for the error, and its last 10 lines for the message", async () => {
    silenceStderr();
    try {
      const lines = 'for i in $(seq 1 3000); do echo "line $i" >&2; done; exit 1';
      const failed = (await runProcess(lines).catch((e: unknown) => e)) as ProcessFailedError;
      expect(failed.exitCode).toBe(1);
      expect(Buffer.byteLength(failed.stderrTail)).toBeLessThanOrEqual(8 * 1024);
      expect(failed.stderrTail.endsWith("line 2999\nline 3000\n")).toBe(true);
      expect(failed.message.split("\n").slice(1)).toEqual(
        Array.from({ length: 10 }, (_, i) => `    line ${2991 + i}`),
      );
    } finally {
      vi.restoreAllMocks();
    }
  });

  it("with stdio given, uses it as it is: the error has no tail", async () => {
    const failed = await runProcess("echo gone >&2; exit 2", { stdio: "ignore" }).catch(
      (e: unknown) => e,
    );
    expect(failed).toMatchObject({ exitCode: 2, stderrTail: "" });
    expect((failed as Error).message).toBe('"echo gone >&2; exit 2" exited with status 2.');
    // "pipe" is read by memori, so a child writing more than a pipe holds never blocks
    const piped = runProcess("head -c 300000 /dev/zero; head -c 300000 /dev/zero >&2; exit 5", {
      stdio: "pipe",
    }).catch((e: unknown) => e);
    expect(await piped).toMatchObject({ exitCode: 5 });
    expect(((await piped) as ProcessFailedError).stderrTail).toHaveLength(8 * 1024);
  });

  it("captures stdout and stderr with capture: true, keeping the last captureLimit bytes of each", async () => {
    const written = silenceStderr();
    try {
      const output = await runProcess(["sh", "-c", "echo out; echo err >&2"], { capture: true });
      expect(output).toEqual({
        status: 0,
        exitCode: 0,
        signal: undefined,
        stdout: "out\n",
        stderr: "err\n",
        truncated: { stdout: false, stderr: false },
      });
      expect(written()).toBe(""); // captured, not shown
      // 3 MB through a 1 MiB limit: the end is kept, cut at a character, never the whole
      const big = await runProcess(
        'i=0; while [ $i -lt 100000 ]; do echo "é line $i padded to thirty"; i=$((i+1)); done',
        { capture: true },
      );
      expect(big.truncated).toEqual({ stdout: true, stderr: false });
      expect(Buffer.byteLength(big.stdout)).toBeLessThanOrEqual(1024 * 1024);
      expect(Buffer.byteLength(big.stdout)).toBeGreaterThan(1024 * 1024 - 4);
      expect(big.stdout.endsWith("é line 99999 padded to thirty\n")).toBe(true);
      expect(big.stdout).not.toMatch(/^\uFFFD/);
      const small = await runProcess(["sh", "-c", "printf 0123456789"], {
        capture: true,
        captureLimit: 4,
      });
      expect(small).toMatchObject({ stdout: "6789", truncated: { stdout: true } });
      // a failure carries what was captured
      await expect(
        runProcess("echo partial; echo broken >&2; exit 4", { capture: true }),
      ).rejects.toMatchObject({
        exitCode: 4,
        stdout: "partial\n",
        stderr: "broken\n",
        stderrTail: "broken\n",
      });
      // and reject: false resolves to it
      expect(
        await runProcess("echo partial; exit 4", { capture: true, reject: false }),
      ).toMatchObject({ status: 4, stdout: "partial\n" });
      expect(written()).toBe("");
    } finally {
      vi.restoreAllMocks();
    }
  });

  it("is typed by its options: the status, or the captured output with capture: true", () => {
    const run = (capture: boolean) => runProcess(["true"], { capture });
    expectTypeOf(runProcess).toBeCallableWith(["true"]);
    const typed = async () => {
      expectTypeOf(await runProcess(["true"])).toEqualTypeOf<number>();
      expectTypeOf(await runProcess(["true"], { reject: false })).toEqualTypeOf<number>();
      expectTypeOf(await runProcess(["true"], { capture: true })).toEqualTypeOf<ProcessOutput>();
      expectTypeOf(await run(true)).toEqualTypeOf<number | ProcessOutput>();
    };
    expect(typeof typed).toBe("function"); // checked by the compiler, not run
  });

  it("rejects capture with stdio, and a captureLimit that is not a positive whole number", async () => {
    await expect(runProcess(["true"], { capture: true, stdio: "ignore" })).rejects.toMatchObject({
      reason: "invalid-option",
    });
    await expect(runProcess(["true"], { capture: true, captureLimit: 0 })).rejects.toThrow(
      "Expected `captureLimit` to be a whole number of bytes >= 1, got 0 (number).",
    );
  });

  it("fails the stage it runs in: a failed process is never recorded, and the next run runs it again", async () => {
    const dir = await tempDir();
    const state = path.join(dir, "state");
    const runs = path.join(dir, "runs.log");
    const out = path.join(dir, "brain.txt");
    const flag = path.join(dir, "fixed");
    // A real tool's shape: it writes its output, then fails (or not).
    const make = () =>
      new Stage(
        async function skullStrip(input: string, output: string) {
          await runProcess(
            `echo run >> ${runs}; cp ${input} ${output}; [ -e ${flag} ] || { echo 'bet: failed' >&2; exit 1; }`,
            { stdio: ["ignore", "ignore", "pipe"] },
          );
          return output;
        },
        { hashOutput: state, logger: recordingLogger().logger },
      );
    const input = path.join(dir, "t1w.txt");
    await writeFile(input, "T1w");
    const first = make();
    const error = await first.run(input, out).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProcessFailedError);
    expect(error).toMatchObject({ reason: "process-failed", stage: "skullStrip", exitCode: 1 });
    expect((error as ProcessFailedError).stderrTail).toBe("bet: failed\n");
    expect(existsSync(path.join(state, "skullStrip.stage"))).toBe(false);
    expect(existsSync(out)).toBe(true); // the output it left is no success
    await expect(make().run(input, out)).rejects.toBeInstanceOf(ProcessFailedError);
    expect(await readFile(runs, "utf8")).toBe("run\nrun\n"); // ran again: nothing was cached

    await writeFile(flag, "");
    const fixed = make();
    expect(await fixed.run(input, out)).toEqual({ output: out });
    expect(fixed.lastDecision?.reason).toMatchObject({ kind: "first-run" });
    const cached = make();
    await cached.run(input, out);
    expect(cached.fromCache).toBe(true);
    expect(await readFile(runs, "utf8")).toBe("run\nrun\nrun\n");
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

describe("a failing runProcess inside a stage", () => {
  // Proves issue 15's "a failing runProcess inside a stage is never cached", with a real
  // process and real state files: the stage function does not check the status itself.
  it("is never cached: no state is recorded, and the same call runs the process again", async () => {
    const dir = await tempDir();
    const state = path.join(dir, "state");
    const input = path.join(dir, "in.txt");
    const out = path.join(dir, "out.txt");
    const calls = path.join(dir, "calls.txt");
    const status = path.join(dir, "status.txt");
    await writeFile(input, "data\n");
    await writeFile(status, "3\n");
    const stage = new Stage(
      async function convert(inFile: string, outFile: string) {
        await runProcess(
          ["sh", "-c", 'echo ran >> "$1"; cp "$2" "$3"; exit "$(cat "$4")"', "sh"].concat([
            calls,
            inFile,
            outFile,
            status,
          ]),
          { stdio: ["ignore", "ignore", "pipe"] },
        );
        return outFile;
      },
      { hashOutput: state, outputs: "converted", logger: recordingLogger().logger },
    );
    const ran = async () => (await readFile(calls, "utf8")).split("\n").filter(Boolean).length;
    const stateFiles = ["inputs", "stage", "outputs"].map((e) => path.join(state, `convert.${e}`));

    for (const attempt of [1, 2]) {
      const error = await stage.run(input, out).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ProcessFailedError);
      expect(error).toMatchObject({ reason: "process-failed", exitCode: 3, stage: "convert" });
      expect(await ran()).toBe(attempt); // the process ran again: nothing was cached
      for (const file of stateFiles) expect(existsSync(file), file).toBe(false);
    }

    // The same stage, once the process succeeds, is recorded and then cached: the failures
    // above were not a stage that never caches.
    await writeFile(status, "0\n");
    expect(await stage.run(input, out)).toEqual({ converted: out });
    expect(await ran()).toBe(3);
    for (const file of stateFiles) expect(existsSync(file), file).toBe(true);
    expect(await stage.run(input, out)).toEqual({ converted: out });
    expect(stage.fromCache).toBe(true);
    expect(await ran()).toBe(3);
  });
});
