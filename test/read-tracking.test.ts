// Files a JavaScript stage reads without naming them (src/read-tracking.ts, engine/commit.ts):
// which calls count as reads, that each concurrent call gets its own, what is left out, and
// that a change to such a file re-runs the stage with a reason naming it.
import { createReadStream, openSync, closeSync, readFileSync, writeFileSync } from "node:fs";
import { mkdir, open, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Pipeline, Stage } from "../src/index.js";
import { runChild } from "./util/child.js";
import { canChdir, recordingLogger, tempDir } from "./util/tmp.js";

const logger = recordingLogger().logger;

async function readKeys(state: string, name: string): Promise<string[]> {
  const inputs = JSON.parse(await readFile(path.join(state, `${name}.inputs`), "utf8")) as {
    inputs: Record<string, unknown>;
  };
  return Object.keys(inputs.inputs).filter((k) => k.startsWith("read:"));
}

describe("files a JavaScript stage reads (read-tracking.ts)", () => {
  it("records reads by every kind of call, not writes, deleted files or its own state", async () => {
    const dir = await tempDir();
    const state = path.join(dir, "state");
    const f = (name: string) => path.join(dir, name);
    for (const name of ["a", "b", "c", "d", "e"]) writeFileSync(f(name), name);
    const stage = new Stage(
      async function reader(tag: string) {
        readFileSync(f("a"), "utf8");
        await readFile(new URL(`file://${f("b")}`));
        closeSync(openSync(f("c"), "r"));
        await (await open(f("d"))).close();
        await new Promise<void>((done) => {
          createReadStream(f("e"))
            .on("data", () => undefined)
            .on("close", () => done());
        });
        await writeFile(f("written"), tag); // written, not read
        closeSync(openSync(f("w"), "w"));
        writeFileSync(f("temp"), "x");
        readFileSync(f("temp"));
        (await import("node:fs")).unlinkSync(f("temp")); // read, then gone
        return tag;
      },
      { hashOutput: state, logger },
    );
    await stage.run("one");
    expect(await readKeys(state, "reader")).toEqual(
      ["a", "b", "c", "d", "e"].map((name) => `read:${f(name)}`),
    );
  });

  it("gives each concurrent call its own reads, and re-runs only the one whose file changed", async () => {
    const dir = await tempDir();
    const state = path.join(dir, "state");
    const runs: string[] = [];
    const make = (name: string, file: string) =>
      new Stage(
        async function readOne() {
          runs.push(name);
          await new Promise((r) => setTimeout(r, 20)); // overlap with the other call
          return readFile(file, "utf8");
        },
        { name, outputs: name, hashOutput: state, logger },
      );
    const x = path.join(dir, "x.txt");
    const y = path.join(dir, "y.txt");
    await writeFile(x, "x1");
    await writeFile(y, "y1");
    const build = () => {
      const [sx, sy] = [make("sx", x), make("sy", y)];
      return {
        pipeline: new Pipeline(
          [
            ["start", sx],
            ["start", sy],
          ],
          { concurrency: 2 },
        ),
        sx,
        sy,
      };
    };
    await build().pipeline.run();
    expect(await readKeys(state, "sx")).toEqual([`read:${x}`]);
    expect(await readKeys(state, "sy")).toEqual([`read:${y}`]);
    runs.length = 0;
    await writeFile(y, "y2");
    const second = build();
    expect(await second.pipeline.run()).toEqual({ sx: "x1", sy: "y2" });
    expect(runs).toEqual(["sy"]);
    expect(second.sy.lastDecision?.reason).toMatchObject({
      kind: "input-changed",
      name: `read:${y}`,
    });
  });

  it("tracks nothing with trackReads: false, and rejects a non-boolean", async () => {
    const dir = await tempDir();
    const state = path.join(dir, "state");
    const file = path.join(dir, "cfg");
    await writeFile(file, "1");
    const stage = new Stage(() => readFileSync(file, "utf8"), {
      name: "untracked",
      hashOutput: state,
      logger,
      trackReads: false,
    });
    await stage.run();
    expect(await readKeys(state, "untracked")).toEqual([]);
    expect(() => new Stage(() => 1, { name: "s", trackReads: "yes" as never })).toThrow(
      /trackReads/,
    );
  });

  // From an adversarial review: each of these was a stale result.
  it("counts a file looked for and not found: its appearing re-runs the stage", async () => {
    const dir = await tempDir();
    const f = (name: string) => path.join(dir, name);
    writeFileSync(f("default.txt"), "default");
    const stage = new Stage(
      function pick(x: number) {
        try {
          return readFileSync(f("override.txt"), "utf8") + x;
        } catch {
          return readFileSync(f("default.txt"), "utf8") + x;
        }
      },
      { hashOutput: path.join(dir, "state"), logger },
    );
    expect(await stage.run(1)).toEqual({ output: "default1" });
    expect((await stage.run(1), stage.lastDecision?.action)).toBe("skip");
    writeFileSync(f("override.txt"), "override");
    expect(await stage.run(1)).toEqual({ output: "override1" });
    expect(stage.lastDecision?.reason).toMatchObject({ kind: "input-changed" });
  });

  it("records a file read through a link as the link: re-pointing it re-runs the stage", async () => {
    const dir = await tempDir();
    const f = (name: string) => path.join(dir, name);
    const { mkdirSync, symlinkSync, rmSync } = await import("node:fs");
    mkdirSync(f("set1"));
    mkdirSync(f("set2"));
    writeFileSync(f("set1/x.txt"), "one");
    writeFileSync(f("set2/x.txt"), "two");
    symlinkSync("set1", f("data"));
    const stage = new Stage(() => readFileSync(f("data/x.txt"), "utf8"), {
      name: "linked",
      hashOutput: path.join(dir, "state"),
      logger,
    });
    expect(await stage.run()).toEqual({ output: "one" });
    rmSync(f("data"));
    symlinkSync("set2", f("data"));
    expect(await stage.run()).toEqual({ output: "two" });
  });

  it("counts openAsBlob, and where a link points (readlink, realpath): re-pointing it re-runs", async () => {
    const dir = await tempDir();
    const f = (name: string) => path.join(dir, name);
    const fs = await import("node:fs");
    writeFileSync(f("r1.txt"), "run one");
    writeFileSync(f("r2.txt"), "run two");
    writeFileSync(f("blob.txt"), "blob one");
    fs.symlinkSync("r1.txt", f("current"));
    fs.symlinkSync("r1.txt", f("latest"));
    let runs = 0;
    const stage = new Stage(
      async function where() {
        runs++;
        const blob = await (await fs.openAsBlob(f("blob.txt"))).text();
        const target = fs.readlinkSync(f("current"));
        const real = path.basename(await fs.promises.realpath(f("latest")));
        return `${blob} ${target} ${real}`;
      },
      { hashOutput: path.join(dir, "state"), logger },
    );
    expect(await stage.run()).toEqual({ output: "blob one r1.txt r1.txt" });
    expect(await readKeys(path.join(dir, "state"), "where")).toEqual([
      `read:${f("blob.txt")}`,
      `read:${f("current")}`,
      `read:${f("latest")}`,
    ]);
    await stage.run();
    expect(runs).toBe(1);
    writeFileSync(f("blob.txt"), "blob two");
    expect(await stage.run()).toEqual({ output: "blob two r1.txt r1.txt" });
    fs.rmSync(f("current"));
    fs.symlinkSync("r2.txt", f("current"));
    expect(await stage.run()).toEqual({ output: "blob two r2.txt r1.txt" });
    fs.rmSync(f("latest"));
    fs.symlinkSync("r2.txt", f("latest"));
    expect(await stage.run()).toEqual({ output: "blob two r2.txt r2.txt" });
    expect(runs).toBe(4);
  });

  it("warns at import when fs-extra was loaded before memori (its reads are not seen)", async () => {
    const dir = await tempDir();
    const config = path.join(dir, "config.txt");
    const run = async (order: string) => {
      writeFileSync(config, "original");
      const state = path.join(dir, `state-${order}`);
      const child = await runChild("fs-extra-first-child.mjs", [order, state, config]);
      expect(child.status, child.stderr).toBe(0);
      return { ...(JSON.parse(child.stdout) as { cached: boolean }), stderr: child.stderr };
    };
    const first = await run("first");
    expect(first.stderr).toMatch(/graceful-fs \(fs-extra\) was loaded before memori/);
    expect(first.cached).toBe(true); // what the warning is about: the change went unseen
    const after = await run("after");
    expect(after.stderr).toBe("");
    expect(after).toMatchObject({ second: { output: "changed" }, cached: false });
  });

  it("does not take a log several stages append to for anyone's output", async () => {
    const dir = await tempDir();
    const log = path.join(dir, "pipeline.log");
    const { appendFileSync } = await import("node:fs");
    const note = (m: string) => appendFileSync(log, `${m}\n`);
    const a = new Stage((x: number) => (note("A"), x + 1), {
      name: "a",
      outputs: "y",
      hashOutput: path.join(dir, "state"),
      logger,
    });
    const b = new Stage((y: number) => (note("B"), y * 2), {
      name: "b",
      outputs: "z",
      hashOutput: path.join(dir, "state"),
      logger,
    });
    const pipeline = new Pipeline([
      ["start", a],
      [a, b],
    ]);
    await pipeline.run(1);
    await pipeline.run(1);
    expect(pipeline.decisions.map((d) => d.action)).toEqual(["skip", "skip"]);
  });

  it("counts looking a file up (exists, stat, access): its appearing re-runs the stage", async () => {
    const dir = await tempDir();
    const f = (name: string) => path.join(dir, name);
    const { existsSync, statSync, accessSync } = await import("node:fs");
    const probes: [string, (file: string) => boolean][] = [
      ["exists", (file) => existsSync(file)],
      ["stat", (file) => statSync(file, { throwIfNoEntry: false }) !== undefined],
      [
        "access",
        (file) => {
          try {
            accessSync(file);
            return true;
          } catch {
            return false;
          }
        },
      ],
    ];
    for (const [name, probe] of probes) {
      const stage = new Stage(() => (probe(f(`${name}.flag`)) ? "yes" : "no"), {
        name,
        hashOutput: path.join(dir, "state"),
        logger,
      });
      expect(await stage.run()).toEqual({ output: "no" });
      writeFileSync(f(`${name}.flag`), "");
      expect(await stage.run()).toEqual({ output: "yes" });
    }
  });

  // (process.chdir: not in the mutation runner's worker threads; `npm test` runs it)
  it.skipIf(!canChdir)(
    "records a relative path the code reads after changing directory where it points",
    async () => {
      const dir = await tempDir();
      const { mkdirSync } = await import("node:fs");
      mkdirSync(path.join(dir, "sub"));
      writeFileSync(path.join(dir, "cfg.txt"), "top");
      writeFileSync(path.join(dir, "sub", "cfg.txt"), "sub1");
      const previous = process.cwd();
      process.chdir(dir);
      try {
        const stage = new Stage(
          function inSub() {
            process.chdir("sub");
            try {
              return readFileSync("cfg.txt", "utf8");
            } finally {
              process.chdir("..");
            }
          },
          { hashOutput: "state", logger },
        );
        expect(await stage.run()).toEqual({ output: "sub1" });
        expect(await readKeys("state", "inSub")).toEqual(["read:sub/cfg.txt"]);
        writeFileSync("cfg.txt", "top2"); // not what it reads
        await stage.run();
        expect(stage.lastDecision?.action).toBe("skip");
        writeFileSync(path.join("sub", "cfg.txt"), "sub2");
        expect(await stage.run()).toEqual({ output: "sub2" });
      } finally {
        process.chdir(previous);
      }
    },
  );

  // A stage that lists a folder to find its subjects: adding, removing or renaming one
  // re-runs it (the listing is an input by names); a cached re-run stays cached.
  it("counts a directory listed (readdir, opendir, promises): a new entry re-runs the stage", async () => {
    const { readdirSync, opendirSync } = await import("node:fs");
    const { readdir, opendir } = await import("node:fs/promises");
    const listers: [string, (dir: string) => Promise<string[]> | string[]][] = [
      ["readdirSync", (dir) => readdirSync(dir)],
      ["readdir", (dir) => readdir(dir)],
      [
        "opendirSync",
        (dir) => {
          const handle = opendirSync(dir);
          const names: string[] = [];
          for (let entry = handle.readSync(); entry !== null; entry = handle.readSync())
            names.push(entry.name);
          handle.closeSync();
          return names;
        },
      ],
      [
        "opendir",
        async (dir) => {
          const names: string[] = [];
          for await (const entry of await opendir(dir)) names.push(entry.name);
          return names;
        },
      ],
    ];
    for (const [name, list] of listers) {
      const dir = await tempDir();
      const inbox = path.join(dir, "inbox");
      await mkdir(inbox);
      writeFileSync(path.join(inbox, "sub-01.txt"), "1");
      const log = recordingLogger();
      const stage = new Stage(
        async function subjects() {
          return [...(await list(inbox))].sort().join(",");
        },
        { name, hashOutput: path.join(dir, "state"), logger: log.logger },
      );
      expect(await stage.run()).toEqual({ output: "sub-01.txt" });
      expect(await stage.run()).toEqual({ output: "sub-01.txt" });
      expect(stage.fromCache, name).toBe(true);
      writeFileSync(path.join(inbox, "sub-02.txt"), "2");
      expect(await stage.run(), name).toEqual({ output: "sub-01.txt,sub-02.txt" });
      expect(stage.lastDecision?.reason).toMatchObject({
        kind: "input-changed",
        name: `list:${inbox}`,
      });
      await rm(path.join(inbox, "sub-01.txt"));
      expect(await stage.run(), name).toEqual({ output: "sub-02.txt" });
      await rm(inbox, { recursive: true });
      await expect(stage.run()).rejects.toThrow(); // listing a folder that is gone fails the call
    }
  });

  // A BIDS dataset searched with `recursive: true`: the runtime walks the tree itself (not
  // through the wrappers), so the listing recorded is the whole tree's: a run added deep in it
  // re-runs the stage; the stage's own state inside the tree never does.
  it("counts a recursive listing (readdirSync, readdir): an entry added deep inside re-runs the stage", async () => {
    const { readdirSync } = await import("node:fs");
    const { readdir } = await import("node:fs/promises");
    const listers: [string, (dir: string) => Promise<string[]> | string[]][] = [
      ["readdirSync", (dir) => readdirSync(dir, { recursive: true }) as string[]],
      ["readdir", (dir) => readdir(dir, { recursive: true })],
    ];
    for (const [name, list] of listers) {
      const bids = await tempDir();
      const anat = path.join(bids, "sub-01", "anat");
      await mkdir(anat, { recursive: true });
      writeFileSync(path.join(anat, "sub-01_T1w.nii"), "t1");
      const stage = new Stage(
        async function runs() {
          return (await list(bids)).filter((f) => f.endsWith("_T1w.nii")).sort();
        },
        // the state inside the dataset, as `derivatives/` often is
        { name, hashOutput: path.join(bids, "derivatives", ".memori") },
      );
      expect(await stage.run()).toEqual({ output: ["sub-01/anat/sub-01_T1w.nii"] });
      expect(await stage.run()).toEqual({ output: ["sub-01/anat/sub-01_T1w.nii"] });
      expect(stage.fromCache, name).toBe(true);
      expect(stage.lastDecision?.reason.kind).toBe("cached");
      await mkdir(path.join(bids, "sub-02", "anat"), { recursive: true });
      writeFileSync(path.join(bids, "sub-02", "anat", "sub-02_T1w.nii"), "t1");
      expect(await stage.run(), name).toEqual({
        output: ["sub-01/anat/sub-01_T1w.nii", "sub-02/anat/sub-02_T1w.nii"],
      });
      expect(stage.lastDecision?.reason).toMatchObject({
        kind: "input-changed",
        name: `list:${bids}/**`,
      });
      // a rename deep inside, too
      await rename(
        path.join(bids, "sub-02", "anat", "sub-02_T1w.nii"),
        path.join(bids, "sub-02", "anat", "sub-02_run-1_T1w.nii"),
      );
      expect(await stage.run(), name).toEqual({
        output: ["sub-01/anat/sub-01_T1w.nii", "sub-02/anat/sub-02_run-1_T1w.nii"],
      });
      expect(stage.fromCache).toBe(false);
      expect(await stage.run(), name).toBeDefined();
      expect(stage.fromCache, `${name}: its own state inside the tree`).toBe(true);
    }
  });

  // Data files named like state files (`subjects.files`, `qc.stage`) are the call's reads;
  // another memori's state (its `.inputs` beside its `.stage`) is not.
  it("counts a data file named like a state file, not another memori's state", async () => {
    const dir = await tempDir();
    const data = path.join(dir, "data");
    await mkdir(data);
    for (const name of ["subjects.files", "qc.stage", "run.lock"]) {
      writeFileSync(path.join(data, name), "sub-01\n");
    }
    const other = path.join(dir, "other-state");
    await new Stage((x: number) => x, { name: "other", hashOutput: other }).run(1);
    const stage = new Stage(
      function count(name: string) {
        readFileSync(path.join(other, "other.inputs")); // another memori's state
        return readFileSync(path.join(data, name), "utf8").trim().split("\n").length;
      },
      { name: "count", hashOutput: path.join(dir, "state") },
    );
    for (const name of ["subjects.files", "qc.stage", "run.lock"]) {
      expect(await stage.run(name)).toEqual({ output: 1 });
      const inputs = JSON.parse(readFileSync(path.join(dir, "state", "count.inputs"), "utf8"));
      const keys = Object.keys(inputs.inputs);
      expect(keys, name).toContain(`read:${path.join(data, name)}`);
      expect(
        keys.some((k) => k.includes("other-state")),
        name,
      ).toBe(false);
      writeFileSync(path.join(data, name), "sub-01\nsub-02\n");
      expect(await stage.run(name), name).toEqual({ output: 2 });
      expect(stage.lastDecision?.reason, name).toMatchObject({ kind: "input-changed" });
    }
  });

  // A process started other than by runProcess (execSync, promisify(execFile)) reads files
  // memori cannot see: the stage says so as a warning, once, whatever the verbosity.
  it("warns that a stage starting processes itself is not traced, promisified ones too", async () => {
    const { execSync, execFile } = await import("node:child_process");
    const { promisify } = await import("node:util");
    const dir = await tempDir();
    writeFileSync(path.join(dir, "e.txt"), "e");
    const starters: [string, () => Promise<string> | string][] = [
      ["execSync", () => execSync(`cat ${path.join(dir, "e.txt")}`, { encoding: "utf8" })],
      [
        "execFileAsync",
        async () => (await promisify(execFile)("cat", [path.join(dir, "e.txt")])).stdout,
      ],
    ];
    for (const [name, start] of starters) {
      const log = recordingLogger();
      const stage = new Stage(async () => start(), {
        name,
        hashOutput: path.join(dir, "state"),
        logger: log.logger,
      });
      expect(await stage.run()).toEqual({ output: "e" });
      expect(log.warn.join("\n"), name).toMatch(/its processes read are not traced/);
    }
  });
});
