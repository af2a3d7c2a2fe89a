// Directories as a stage sees them: a directory it returns is its output by content; a
// directory argument it writes into is a place to write (the files it wrote there are its
// outputs, the rest is not its input); `byName` and `ignore` opt out.
import { mkdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Stage } from "../../src/index.js";
import { recordingLogger, tempDir, writeTree } from "../util/tmp.js";

const quiet = recordingLogger().logger;

describe("a directory a stage returns", () => {
  it("is its output by content: a file deleted, edited or added inside re-runs it", async () => {
    const dir = await tempDir();
    let runs = 0;
    const make = new Stage(
      async function makeDir(outDir: string) {
        runs++;
        await mkdir(path.join(outDir, "sub"), { recursive: true });
        await writeFile(path.join(outDir, "sub", "a.txt"), "a");
        await writeFile(path.join(outDir, "b.txt"), "b");
        return outDir;
      },
      { outputs: "made", hashOutput: path.join(dir, "state"), logger: quiet },
    );
    const out = path.join(dir, "out");
    await make.run(out);
    await make.run(out);
    expect(runs).toBe(1);

    const changes: [() => Promise<unknown>, string][] = [
      [() => rm(path.join(out, "b.txt")), "b.txt removed"],
      [() => writeFile(path.join(out, "sub", "a.txt"), "A"), "sub/a.txt changed"],
      [() => writeFile(path.join(out, "extra.txt"), "x"), "extra.txt added"],
    ];
    for (const [change, inside] of changes) {
      await change();
      await make.run(out);
      expect(make.lastDecision?.reason).toEqual({
        kind: "output-modified",
        path: out,
        inside: [inside],
      });
      await make.run(out);
      expect(make.lastDecision?.reason).toEqual({ kind: "cached" });
    }
  });

  it("counts by name with byName: other stages may write there", async () => {
    const dir = await tempDir();
    const out = path.join(dir, "derivatives");
    let runs = 0;
    const make = new Stage(
      async function derivatives(root: string) {
        runs++;
        await mkdir(root, { recursive: true });
        return root;
      },
      {
        outputs: "root",
        hashOutput: path.join(dir, "state"),
        byName: ["root"],
        logger: quiet,
      },
    );
    await make.run(out);
    await writeFile(path.join(out, "sub-01.txt"), "written by another stage");
    await make.run(out);
    expect(runs).toBe(1);
  });
});

describe("a directory argument the stage writes into", () => {
  it("is a place to write: elements sharing it re-run only for their own files", async () => {
    const dir = await tempDir();
    const out = path.join(dir, "out");
    await mkdir(out);
    const inputs = ["s1", "s2", "s3", "s4"].map((s) => path.join(dir, `${s}.txt`));
    for (const file of inputs) await writeFile(file, path.basename(file));
    const ran: string[] = [];
    const log = recordingLogger();
    const stage = new Stage(
      async function subject(inFile: string, outDir: string) {
        ran.push(path.basename(inFile));
        const text = await readFile(inFile, "utf8");
        // Not the same bytes twice (like a gzip header's time stamp).
        await writeFile(
          path.join(outDir, `${path.basename(inFile)}.out`),
          `${text} ${Math.random()}`,
        );
        return "done";
      },
      { outputs: "status", hashOutput: path.join(dir, "state"), logger: log.logger },
    );
    const mapped = {
      run: (values: { inFile: string[]; outDir: string }) =>
        stage.map({ inFile: values.inFile }, { args: { outDir: values.outDir }, concurrency: 4 }),
    };
    await mapped.run({ inFile: inputs, outDir: out });
    expect(ran.sort()).toEqual(["s1.txt", "s2.txt", "s3.txt", "s4.txt"]);

    ran.length = 0;
    await mapped.run({ inFile: inputs, outDir: out });
    expect(ran, log.info.join("\n")).toEqual([]);

    // One subject's output deleted: that subject runs, and no other after it.
    await rm(path.join(out, "s3.txt.out"));
    await mapped.run({ inFile: inputs, outDir: out });
    expect(ran).toEqual(["s3.txt"]);
    ran.length = 0;
    await mapped.run({ inFile: inputs, outDir: out });
    expect(ran).toEqual([]);
  });

  it("still counts the files it did not write there: one edited by hand re-runs it", async () => {
    const dir = await tempDir();
    const work = path.join(dir, "subject");
    await writeTree(work, { "mri/orig.mgz": "raw scan" });
    let runs = 0;
    const stage = new Stage(
      async function recon(subjectDir: string) {
        runs++;
        const raw = await readFile(path.join(subjectDir, "mri/orig.mgz"), "utf8");
        await writeFile(path.join(subjectDir, "mri/brain.mgz"), `brain of ${raw}`);
        return "ok";
      },
      { outputs: "status", hashOutput: path.join(dir, "state"), logger: quiet },
    );
    await stage.run(work);
    await stage.run(work);
    expect(runs).toBe(1);
    await writeFile(path.join(work, "mri/orig.mgz"), "another scan");
    await stage.run(work);
    expect(runs).toBe(2);
    expect(await readFile(path.join(work, "mri/brain.mgz"), "utf8")).toBe("brain of another scan");
  });
});

describe("a directory argument the stage writes into, as the adversarial review tried it", () => {
  it("stays an input by content when the writes are not seen (a child process)", async () => {
    const dir = await tempDir();
    const work = path.join(dir, "sp");
    await writeTree(work, { "in.txt": "one" });
    const { execFileSync } = await import("node:child_process");
    const stage = new Stage(
      function prefix(spDir: string) {
        // Not through runProcess: memori sees neither the reads nor the writes.
        execFileSync("sh", ["-c", `sed s/^/sp:/ ${spDir}/in.txt > ${spDir}/out.txt`]);
        return "ok";
      },
      { outputs: "status", hashOutput: path.join(dir, "state"), logger: quiet },
    );
    await stage.run(work);
    await stage.run(work);
    expect(stage.lastDecision?.action).toBe("skip");
    await writeFile(path.join(work, "in.txt"), "two");
    await stage.run(work);
    expect(stage.lastDecision?.action).toBe("run");
    expect(await readFile(path.join(work, "out.txt"), "utf8")).toBe("sp:two");
  });

  it("is the same directory however its path is spelled (./out)", async () => {
    const dir = await tempDir();
    await mkdir(path.join(dir, "out"));
    // Relative to the working directory, as a user spells it: "./…/out", not normalized.
    const spelled = `./${path.relative(process.cwd(), path.join(dir, "out"))}`;
    const stage = new Stage(
      async function stamp(outDir: string) {
        await writeFile(path.join(outDir, "result.txt"), "42");
        await writeFile(path.join(outDir, "provenance.json"), String(Math.random()));
        return "ok";
      },
      { outputs: "status", hashOutput: path.join(dir, "state"), logger: quiet },
    );
    for (let i = 0; i < 3; i++) await stage.run(spelled);
    expect(stage.lastDecision?.action).toBe("skip");
  });

  it("is an input by content again once the code stops writing there", async () => {
    const dir = await tempDir();
    const data = path.join(dir, "data");
    await writeTree(data, { "a.txt": "a" });
    const { readdirSync, writeFileSync } = await import("node:fs");
    const options = { outputs: "n", hashOutput: path.join(dir, "state"), logger: quiet };
    const v1 = new Stage(function count(dataDir: string) {
      writeFileSync(path.join(dataDir, "summary.txt"), "made");
      return readdirSync(dataDir).length;
    }, options);
    await v1.run(data);
    const v2 = new Stage(function count(dataDir: string) {
      return readdirSync(dataDir).filter((f) => f !== "summary.txt").length;
    }, options);
    await v2.run(data); // the code changed
    await writeFile(path.join(data, "b.txt"), "b");
    expect(await v2.run(data)).toEqual({ n: 2 });
  });

  it("does not track a file its ignore globs match as its output", async () => {
    const dir = await tempDir();
    const subject = path.join(dir, "subj");
    await mkdir(subject);
    const { writeFileSync } = await import("node:fs");
    const step = (name: string) =>
      new Stage(
        function write(subjDir: string) {
          writeFileSync(path.join(subjDir, "recon.log"), `${name} ran`);
          writeFileSync(path.join(subjDir, `${name}.out`), name);
          return name;
        },
        {
          name,
          outputs: name,
          hashOutput: path.join(dir, "state"),
          ignore: ["**/*.log"],
          logger: quiet,
        },
      );
    const [a, b] = [step("a"), step("b")];
    for (let i = 0; i < 2; i++) {
      await a.run(subject);
      await b.run(subject);
    }
    expect([a.lastDecision?.action, b.lastDecision?.action]).toEqual(["skip", "skip"]);
  });
});

describe("a directory input", () => {
  it("leaves out what the stage's ignore globs match", async () => {
    const dir = await tempDir();
    const data = path.join(dir, "data");
    await writeTree(data, { "a.nii": "a", "logs/x.log": "1" });
    let runs = 0;
    const stage = new Stage(
      function count(dataDir: string) {
        runs++;
        return dataDir.length;
      },
      {
        outputs: "n",
        hashOutput: path.join(dir, "state"),
        ignore: ["**/*.log"],
        logger: quiet,
      },
    );
    await stage.run(data);
    await writeFile(path.join(data, "logs/x.log"), "2");
    await writeFile(path.join(data, "logs/y.log"), "3");
    await stage.run(data);
    expect(runs).toBe(1);
    await writeFile(path.join(data, "b.nii"), "b");
    await stage.run(data);
    expect(runs).toBe(2);
    expect(stage.lastDecision?.reason).toMatchObject({
      kind: "input-changed",
      name: "dataDir",
      inside: ["b.nii added"],
    });
  });

  // A project directory passed as an argument often holds the stage's own state: its state
  // files (rewritten by every run) never count, also through a link to the directory.
  it("leaves out the stage's own state inside it, also reached through a link", async () => {
    const dir = await tempDir();
    const project = path.join(dir, "project");
    await writeTree(project, { "a.nii": "a" });
    await symlink(project, path.join(dir, "link"));
    for (const hashOutput of [path.join(project, "memori"), path.join(dir, "link", "memori")]) {
      let runs = 0;
      const stage = new Stage(
        function survey(projectDir: string) {
          runs++;
          return projectDir.length;
        },
        { outputs: "n", hashOutput, logger: quiet },
      );
      await stage.run(project);
      await stage.run(project);
      await stage.run(project);
      expect([runs, stage.fromCache], hashOutput).toEqual([1, true]);
      await rm(path.join(project, "memori"), { recursive: true });
    }
  });

  // A value compared by name must still be one a state file can hold, named where it is.
  it("names a byName argument that cannot be stored", async () => {
    const dir = await tempDir();
    const stage = new Stage(
      function label(tag: unknown) {
        return String(tag);
      },
      { outputs: "s", hashOutput: dir, byName: ["tag"], logger: quiet },
    );
    await expect(stage.run(new WeakMap())).rejects.toThrow(/^stage "label": inputs\.tag is /);
  });

  it("rejects a byName that names neither a parameter nor an output", () => {
    expect(
      () =>
        new Stage(
          function copy(inDir: string) {
            return inDir;
          },
          { outputs: "out", byName: ["outDir"] },
        ),
    ).toThrow(
      /byName names "outDir", which is neither a parameter \("inDir"\) nor an output \(out\)/,
    );
  });

  it("rejects ignore and byName that are not lists of names", () => {
    for (const options of [{ ignore: "**/*.log" }, { byName: [""] }]) {
      expect(() => new Stage((x: string) => x, { outputs: "y", ...(options as object) })).toThrow(
        /to be an array of non-empty strings/,
      );
    }
  });
});
