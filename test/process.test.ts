import { chmod, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Stage, runProcess, scriptFunction, which } from "../src/index.js";
import { recordingLogger, tempDir } from "./util/tmp.js";

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
