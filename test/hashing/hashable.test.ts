import { chmod, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { MemoriError, Stage, hashable, scriptFunction } from "../../src/index.js";
import { recordingLogger, tempDir } from "../util/tmp.js";

describe("hashable script functions (hashable.ts)", () => {
  // Proves a script function marked hashable and called from a stage hashes its script:
  // editing the script re-runs the stage, and the reason names the script.
  it("editing the script of a hashable scriptFunction helper re-runs the stage that calls it", async () => {
    const dir = await tempDir();
    const script = path.join(dir, "strip.sh");
    await writeFile(script, "#!/bin/sh\necho one > /dev/null\n");
    await chmod(script, 0o755);
    const strip = hashable(scriptFunction(script, { stdio: "ignore" }), "strip");
    let runs = 0;
    const make = () =>
      new Stage(
        async function useStrip(x: number) {
          runs++;
          await strip(x);
          return x + 1;
        },
        { hashOutput: path.join(dir, "state"), logger: recordingLogger().logger },
      );

    expect(await make().run(1)).toEqual({ output: 2 });
    const cached = make();
    expect(await cached.run(1)).toEqual({ output: 2 });
    expect(cached.lastDecision?.reason).toEqual({ kind: "cached" });
    expect(runs).toBe(1);

    await writeFile(script, "#!/bin/sh\necho two > /dev/null\n");
    const edited = make();
    expect(await edited.run(1)).toEqual({ output: 2 });
    expect(runs).toBe(2);
    const reason = edited.lastDecision?.reason;
    expect(reason?.kind).toBe("function-changed");
    const changed = reason?.kind === "function-changed" ? reason.changed : [];
    expect(changed.some((entry) => entry.includes(script))).toBe(true);
  });
});

describe("codeVersion and ignoreCode (hashable.ts)", () => {
  // Proves a codeVersion replaces the code as identity: other code with the same version is
  // served from the state; a new version re-runs, and the reason names codeVersion.
  it("codeVersion: the version, not the code, decides; inputs still count", async () => {
    const hashOutput = await tempDir();
    const logger = recordingLogger().logger;
    const runs: string[] = [];
    const v1 = new Stage(
      function scale(x: number) {
        runs.push("v1");
        return x * 2;
      },
      { hashOutput, logger, codeVersion: "1" },
    );
    expect(await v1.run(2)).toEqual({ output: 4 });
    const edited = new Stage(
      function scale(x: number) {
        runs.push("edited");
        return x * 3;
      },
      { hashOutput, logger, codeVersion: "1" },
    );
    expect(await edited.run(2)).toEqual({ output: 4 }); // pinned: the edit is not seen
    expect(edited.lastDecision?.reason).toEqual({ kind: "cached" });
    expect(await edited.run(5)).toEqual({ output: 15 }); // an input still counts
    const bumped = new Stage(edited.fn, { hashOutput, logger, codeVersion: "2" });
    expect(await bumped.run(5)).toEqual({ output: 15 });
    expect(bumped.lastDecision?.reason).toEqual({
      kind: "function-changed",
      changed: ["codeVersion"],
    });
    expect(runs).toEqual(["v1", "edited", "edited"]);
  });

  it("ignoreCode: no change to the code re-runs the stage; inputs still count", async () => {
    const hashOutput = await tempDir();
    const logger = recordingLogger().logger;
    const a = new Stage((x: number) => x + 1, {
      name: "load",
      hashOutput,
      logger,
      ignoreCode: true,
    });
    expect(await a.run(1)).toEqual({ output: 2 });
    const b = new Stage((x: number) => x + 100, {
      name: "load",
      hashOutput,
      logger,
      ignoreCode: true,
    });
    expect(await b.run(1)).toEqual({ output: 2 });
    expect(b.lastDecision?.reason).toEqual({ kind: "cached" });
    expect(await b.run(2)).toEqual({ output: 102 });
  });

  it("rejects a bad codeVersion, and both options together, naming the stage", () => {
    const make = (options: object) => () => new Stage((x: number) => x, { name: "s", ...options });
    expect(make({ codeVersion: "" })).toThrow(/stage "s": .*codeVersion/);
    expect(make({ codeVersion: 2 })).toThrow(MemoriError);
    expect(make({ codeVersion: "1", ignoreCode: true })).toThrow(
      /give codeVersion or ignoreCode, not both/,
    );
    expect(make({ ignoreCode: "yes" })).toThrow(/ignoreCode/);
  });
});
