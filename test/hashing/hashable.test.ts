import { chmod, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Stage, hashable, scriptFunction } from "../../src/index.js";
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
