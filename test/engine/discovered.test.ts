// What a call found without being given it, checked for changes made while it ran
// (engine/discovered.ts): a file it read (`read:`), replaced while it ran in ways that keep an
// old modification time, or changed on a file system other hosts write; a directory it listed
// (`list:`) that gains an entry while it runs. Each must leave the next run running again,
// never a hit that serves what the call computed from what was there before. Real files, real
// processes for the writers that keep times (`mv`, `cp -p`, `touch -r`).
import { execFileSync } from "node:child_process";
import {
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { mkdir, readFile, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Stage } from "../../src/index.js";
import { deviceName, modifiedSince, typesByDevice } from "../../src/hashing/file-systems.js";
import { listingHash } from "../../src/hashing/listing.js";
import { recordingLogger, tempDir } from "../util/tmp.js";

const savedShared = process.env.MEMORI_SHARED_FS;
afterEach(() => {
  if (savedShared === undefined) delete process.env.MEMORI_SHARED_FS;
  else process.env.MEMORI_SHARED_FS = savedShared;
});

/** A stage that waits, once, for the test to change things while it runs. */
function gated() {
  let started!: () => void;
  const began = new Promise<void>((resolve) => (started = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  return { began, started: () => started(), release: () => release(), released };
}

/**
 * A stage that reads `file` (a file it is not given), then waits at `gate` once; `runs()`
 * counts how often its function ran.
 */
function configReader(dir: string, file: string, gate: ReturnType<typeof gated>, logger = quiet) {
  let count = 0;
  const make = () =>
    new Stage(
      async function readConfig() {
        count++;
        const text = await readFile(file, "utf8");
        gate.started();
        await gate.released;
        return text;
      },
      { hashOutput: path.join(dir, "state"), logger },
    );
  return { make, runs: () => count };
}

const quiet = recordingLogger().logger;

const hour = new Date(Date.now() - 3_600_000);

/**
 * Past the clock tick in which the call began: a change within it may be stamped before the
 * call's start and go unseen (README, Limitations). These tests are about later changes.
 */
const pastTheTick = () => new Promise((resolve) => setTimeout(resolve, 20));

describe("a file the code read, replaced while it ran (discovered.ts)", () => {
  // `mv` of a file made earlier, `cp -p` and a write then `touch -r` all leave the file with an
  // old modification time: only its change time says it changed.
  for (const how of ["mv", "cp -p", "touch -r"] as const) {
    it(`by \`${how}\` keeping an old modification time: the next run runs again`, async () => {
      const dir = await tempDir();
      const config = path.join(dir, "config.txt");
      const prepared = path.join(dir, "prepared.txt");
      await writeFile(config, "OLD1");
      await writeFile(prepared, "NEW1");
      await utimes(config, hour, hour);
      await utimes(prepared, hour, hour);
      const log = recordingLogger();
      const gate = gated();
      const { make, runs } = configReader(dir, config, gate, log.logger);
      const running = make().run();
      await gate.began;
      await pastTheTick();
      if (how === "mv") execFileSync("mv", [prepared, config]);
      else if (how === "cp -p") execFileSync("cp", ["-p", prepared, config]);
      else {
        writeFileSync(config, "NEW1");
        execFileSync("touch", ["-r", prepared, config]);
      }
      expect(statSync(config).mtimeMs).toBeLessThan(Date.now() - 3_000_000); // an old mtime
      gate.release();
      expect(await running).toEqual({ output: "OLD1" });
      expect(log.warn.join("\n")).toContain(`${config} changed while it ran`);
      const next = make();
      expect(await next.run()).toEqual({ output: "NEW1" }); // never the OLD1 computed before
      expect(next.lastDecision?.reason).toMatchObject({ kind: "input-changed" });
      const third = make();
      expect(await third.run()).toEqual({ output: "NEW1" });
      expect(third.fromCache).toBe(true);
      expect(runs()).toBe(2);
    });
  }

  it("on a file system other hosts write, changed a moment after the call began", async () => {
    const dir = await tempDir();
    // This machine has no network file system: its own type counts as shared here.
    const types = typesByDevice(readFileSync("/proc/self/mountinfo", "utf8"));
    process.env.MEMORI_SHARED_FS = types.get(deviceName(statSync(dir).dev))!;
    const config = path.join(dir, "config.txt");
    await writeFile(config, "OLD1");
    await utimes(config, hour, hour);
    const gate = gated();
    const { make, runs } = configReader(dir, config, gate);
    const running = make().run();
    await gate.began;
    await pastTheTick();
    writeFileSync(config, "NEW1"); // its times: now, within the allowed skew of the call's start
    gate.release();
    expect(await running).toEqual({ output: "OLD1" });
    const next = make();
    expect(await next.run()).toEqual({ output: "NEW1" });
    expect(runs()).toBe(2);
  });
});

describe("a directory the code listed, changed while it ran (discovered.ts)", () => {
  it("gains an entry while the call runs: the next run runs again and sees it", async () => {
    const dir = await tempDir();
    const subjects = path.join(dir, "subjects");
    await mkdir(subjects);
    await writeFile(path.join(subjects, "s1"), "");
    await writeFile(path.join(subjects, "s2"), "");
    const gate = gated();
    let runs = 0;
    const make = () =>
      new Stage(
        async function list() {
          runs++;
          const names = readdirSync(subjects).sort().join(",");
          gate.started();
          await gate.released;
          return names;
        },
        { hashOutput: path.join(dir, "state"), logger: recordingLogger().logger },
      );
    const running = make().run();
    await gate.began;
    await pastTheTick();
    await writeFile(path.join(subjects, "s3"), ""); // a subject added while it runs
    gate.release();
    expect(await running).toEqual({ output: "s1,s2" });
    const state = JSON.parse(readFileSync(path.join(dir, "state", "list.inputs"), "utf8")) as {
      inputs: Record<string, unknown>;
    };
    // Recorded as the call saw it: two subjects, not the three there after the run.
    expect(state.inputs[`list:${subjects}`]).not.toBe(listingHash(subjects));
    const next = make();
    expect(await next.run()).toEqual({ output: "s1,s2,s3" });
    const third = make();
    expect(await third.run()).toEqual({ output: "s1,s2,s3" });
    expect(third.fromCache).toBe(true);
    expect(runs).toBe(2);
  });

  it("listed and written into by the call itself: cached on the next run", async () => {
    const dir = await tempDir();
    const out = path.join(dir, "out");
    await mkdir(out);
    let runs = 0;
    const make = () =>
      new Stage(
        async function report() {
          runs++;
          const before = readdirSync(out).length;
          await writeFile(path.join(out, `report-${before === 0 ? "a" : "b"}.txt`), "done");
          return "ok";
        },
        { hashOutput: path.join(dir, "state"), logger: recordingLogger().logger },
      );
    await make().run();
    // Its own write changed the folder while it ran: the listing after the run stands.
    for (let i = 0; i < 3; i++) {
      const next = make();
      await next.run();
      expect(next.fromCache).toBe(true);
    }
    expect(runs).toBe(1);
  });

  it("listed, and a temporary folder made and removed in it: cached on the next run", async () => {
    const dir = await tempDir();
    const work = path.join(dir, "work");
    await mkdir(work);
    await writeFile(path.join(work, "input.txt"), "x");
    let runs = 0;
    const make = () =>
      new Stage(
        async function scratch() {
          runs++;
          const names = readdirSync(work).sort().join(",");
          const temp = mkdtempSync(path.join(work, "tmp-"));
          rmSync(temp, { recursive: true });
          return names;
        },
        { hashOutput: path.join(dir, "state"), logger: recordingLogger().logger },
      );
    expect(await make().run()).toEqual({ output: "input.txt" });
    for (let i = 0; i < 3; i++) {
      const next = make();
      await next.run();
      expect(next.fromCache).toBe(true);
    }
    expect(runs).toBe(1);
  });
});

describe("a file the code read, swapped for another while it ran (discovered.ts)", () => {
  // Times alone miss these: the file now at the path is an older one, with old times. What
  // the call's read found (device, inode) is compared.
  for (const how of ["a link re-pointed", "its folder swapped"] as const) {
    it(`by ${how}: the next run runs again`, async () => {
      const dir = await tempDir();
      for (const version of ["a", "b"]) {
        await mkdir(path.join(dir, version));
        await writeFile(path.join(dir, version, "cfg.txt"), `config ${version}`);
        await utimes(path.join(dir, version, "cfg.txt"), hour, hour);
      }
      const linked = how === "a link re-pointed";
      if (linked) symlinkSync("a", path.join(dir, "current"));
      else execFileSync("cp", ["-a", path.join(dir, "a"), path.join(dir, "current")]);
      const config = path.join(dir, "current", "cfg.txt");
      const gate = gated();
      const { make, runs } = configReader(dir, config, gate);
      const running = make().run();
      await gate.began;
      if (linked) execFileSync("ln", ["-sfn", "b", path.join(dir, "current")]);
      else {
        execFileSync("cp", ["-a", path.join(dir, "b"), path.join(dir, "current.new")]);
        execFileSync("rm", ["-r", path.join(dir, "current")]);
        execFileSync("mv", [path.join(dir, "current.new"), path.join(dir, "current")]);
      }
      gate.release();
      expect(await running).toEqual({ output: "config a" });
      const next = make();
      expect(await next.run()).toEqual({ output: "config b" });
      const third = make();
      expect(await third.run()).toEqual({ output: "config b" });
      expect(third.fromCache).toBe(true);
      expect(runs()).toBe(2);
    });
  }
});

describe("modifiedSince (file-systems.ts)", () => {
  it("reads the change time too, and allows for whole-second times and shared file systems", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "f");
    await writeFile(file, "x");
    const now = statSync(file);
    expect(modifiedSince(now, now.ctimeMs - 2)).toBe(true);
    // a change stamped before `since` was made before it: never counts (no false alarms for a
    // file written just before a call began)
    expect(modifiedSince(now, Math.floor(Math.max(now.ctimeMs, now.mtimeMs)))).toBe(false);
    expect(modifiedSince(now, Math.floor(Math.max(now.ctimeMs, now.mtimeMs)) - 2)).toBe(true);
    // an old modification time, a recent change time: modified
    expect(modifiedSince({ dev: now.dev, mtimeMs: 0, ctimeMs: now.ctimeMs }, now.ctimeMs - 5)).toBe(
      true,
    );
    // times in whole seconds: a change stamped up to two seconds before counts
    const whole = Math.floor(now.ctimeMs / 1000) * 1000;
    const second = { dev: now.dev, mtimeMs: whole, ctimeMs: whole };
    expect(modifiedSince(second, whole + 1500)).toBe(true);
    expect(modifiedSince(second, whole + 2500)).toBe(false);
    // shared: the allowed clock skew before
    const types = typesByDevice(readFileSync("/proc/self/mountinfo", "utf8"));
    process.env.MEMORI_SHARED_FS = types.get(deviceName(now.dev))!;
    expect(modifiedSince(now, now.ctimeMs + 60_000)).toBe(true);
    expect(modifiedSince(now, now.ctimeMs + 200_000)).toBe(false);
  });
});

// What `readlink` and `realpath` give the code is a path: a link re-pointed at a file with the
// same bytes (`latest -> release-2` made `-> release-3`, a copy) changes what the stage returns,
// though no content it read changed. Recorded as `link:` inputs, where the path led.
describe("a path the code resolved (readlink, realpath)", () => {
  it.each([
    ["realpathSync of a link it is given", "argument"],
    ["readlinkSync of a link it is given", "readlink"],
    ["realpathSync of a link it finds", "found"],
  ])("re-runs the stage when the link is re-pointed at the same bytes: %s", async (_, how) => {
    const dir = await tempDir();
    await mkdir(path.join(dir, "v1"));
    await mkdir(path.join(dir, "v2"));
    await writeFile(path.join(dir, "v1", "data.nii"), "same bytes");
    await writeFile(path.join(dir, "v2", "data.nii"), "same bytes");
    const link = path.join(dir, "current");
    symlinkSync(path.join(dir, "v1", "data.nii"), link);
    const found = link; // a constant the function reads, not an argument
    let runs = 0;
    const make = () =>
      new Stage(
        async function resolve(given: string) {
          runs++;
          const fs = await import("node:fs");
          if (how === "readlink") return fs.readlinkSync(given);
          return fs.realpathSync(how === "found" ? found : given);
        },
        { hashOutput: path.join(dir, "state"), logger: recordingLogger().logger },
      );
    const arg = how === "found" ? "unused" : link;
    expect(await make().run(arg)).toEqual({ output: path.join(dir, "v1", "data.nii") });
    expect(await make().run(arg)).toEqual({ output: path.join(dir, "v1", "data.nii") });
    expect(runs).toBe(1);
    rmSync(link);
    symlinkSync(path.join(dir, "v2", "data.nii"), link);
    const again = make();
    expect(await again.run(arg)).toEqual({ output: path.join(dir, "v2", "data.nii") });
    expect(again.lastDecision).toMatchObject({
      action: "run",
      reason: { kind: "input-changed", name: `link:${link}` },
    });
    expect(runs).toBe(2);
  });
});
