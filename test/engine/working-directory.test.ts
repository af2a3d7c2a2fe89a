/**
 * The working directory is an input of a call whose code found files (`read:`, `list:`): a
 * copy of the project, run there, finds the copy's files, never a hit on the original's.
 * Real processes, each in its own working directory.
 */
import { spawn } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../util/tmp.js";

const fixture = path.resolve(import.meta.dirname, "..", "fixtures", "cwd-child.mjs");

interface Ran {
  found: { first: string; subjects: string[] };
  decision: { action: string; reason: { kind: string; name?: string; old?: string; new?: string } };
}

/** Run Node with `args` in `cwd`: the JSON it printed. */
function node<T>(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd,
      env: { ...process.env, MEMORI_ROOT: "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("close", (status) =>
      status === 0 ? resolve(JSON.parse(out) as T) : reject(new Error(`status ${status}: ${err}`)),
    );
  });
}

function survey(cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  return node<Ran>([fixture], cwd, env);
}

async function project(): Promise<{ a: string; b: string }> {
  const base = await tempDir();
  const a = path.join(base, "A");
  mkdirSync(path.join(a, "data"), { recursive: true });
  writeFileSync(path.join(a, "data", "sub-01"), "original");
  writeFileSync(path.join(a, "data", "sub-02"), "second");
  return { a, b: path.join(base, "B") };
}

describe("the working directory of a call whose code found files", () => {
  it("is recorded, and the same one again is a hit", async () => {
    const { a } = await project();
    expect((await survey(a)).decision.action).toBe("run");
    const again = await survey(a);
    expect(again.decision).toMatchObject({ action: "skip", reason: { kind: "cached" } });
    const inputs = JSON.parse(readFileSync(path.join(a, ".memori", "survey.inputs"), "utf8"));
    expect(inputs.inputs["cwd:"]).toBe(a);
  });

  it("a copy of the project, changed and run there, runs again and finds the copy's files", async () => {
    const { a, b } = await project();
    await survey(a);
    cpSync(a, b, { recursive: true });
    writeFileSync(path.join(b, "data", "sub-01"), "edited in the copy");
    writeFileSync(path.join(b, "data", "sub-03"), "third");
    const there = await survey(b);
    expect(there.decision).toMatchObject({
      action: "run",
      reason: {
        kind: "input-changed",
        name: "cwd:",
        old: JSON.stringify(a),
        new: JSON.stringify(b),
      },
    });
    expect(there.found).toEqual({
      first: "edited in the copy",
      subjects: ["sub-01", "sub-02", "sub-03"],
    });
    // What it found in the original is no longer an input: a change there re-runs nothing.
    const inputs = readFileSync(path.join(b, ".memori", "survey.inputs"), "utf8");
    expect(inputs).not.toContain(`${a}${path.sep}`);
    writeFileSync(path.join(a, "data", "sub-01"), "changed in the original");
    expect((await survey(b)).decision).toMatchObject({ action: "skip" });
  });

  // Files found only outside the working directory (an atlas in /opt, FSL's standard images)
  // are the same files from any directory: run from another one, nothing runs again.
  it("is not an input when everything the code found is outside it", async () => {
    const { a, b } = await project();
    const atlas = path.join(await tempDir(), "atlas.txt");
    writeFileSync(atlas, "atlas v1");
    const state = path.join(await tempDir(), "state");
    const code = `import { readFileSync } from "node:fs";
      import { Stage } from ${JSON.stringify(path.resolve(import.meta.dirname, "..", "..", "dist", "index.js"))};
      const stage = new Stage(function atlasOf() { return readFileSync(${JSON.stringify(atlas)}, "utf8"); },
        { name: "atlas", hashOutput: ${JSON.stringify(state)} });
      await stage.run();
      process.stdout.write(JSON.stringify(stage.lastDecision));`;
    const stage = (cwd: string) => node<Ran["decision"]>(["--input-type=module", "-e", code], cwd);
    mkdirSync(b);
    expect((await stage(a)).action).toBe("run");
    const inputs = JSON.parse(readFileSync(path.join(state, "atlas.inputs"), "utf8"));
    expect(Object.keys(inputs.inputs)).toEqual([`read:${atlas}`]);
    expect(await stage(b)).toMatchObject({ action: "skip" });
    writeFileSync(atlas, "atlas v2");
    expect(await stage(b)).toMatchObject({ action: "run", reason: { name: `read:${atlas}` } });
  });

  it("holds for state written with a root and read without one (a script after `memori run`)", async () => {
    const { a, b } = await project();
    expect((await survey(a, { MEMORI_ROOT: a })).decision.action).toBe("run");
    // the same project, a script without a root: the same files, a hit
    expect((await survey(a)).decision).toMatchObject({ action: "skip" });
    cpSync(a, b, { recursive: true });
    writeFileSync(path.join(b, "data", "sub-01"), "edited in the copy");
    const there = await survey(b);
    expect(there.decision).toMatchObject({ action: "run", reason: { name: "cwd:" } });
    expect(there.found.first).toBe("edited in the copy");
  });
});
