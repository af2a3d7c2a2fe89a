import { spawnSync } from "node:child_process";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { mkdir, readFile, readdir, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { describeReason } from "../../src/decision.js";
import { MappedStage, Stage } from "../../src/index.js";
import { recordText } from "../../src/state/record.js";
import { bin, run } from "../util/cli.js";
import { recordingLogger, tempDir } from "../util/tmp.js";

/** A state directory with two command stages and an SDK stage. */
async function populate(dir: string): Promise<{ state: string; out: string; input: string }> {
  const state = path.join(dir, "state");
  const input = path.join(dir, "in.txt");
  const out = path.join(dir, "out.txt");
  await writeFile(input, "data\n");
  const memori = (...words: string[]) => run("memori", ["-d", state, ...words], dir);
  expect((await memori("-n", "cp", "-o", out, "--", "cp", input, out)).status).toBe(0);
  expect((await memori("-n", "echo", "echo", "hi")).status).toBe(0);
  await new Stage((x: number) => x * 2, {
    name: "double",
    hashOutput: state,
    logger: recordingLogger().logger,
  }).run(4);
  return { state, out, input };
}

describe("memori cache", () => {
  it("ls shows each stage's name, last run, size of tracked outputs and status", async () => {
    const dir = await tempDir();
    const { state, out } = await populate(dir);
    await writeFile(out, "tampered, and longer\n");
    const ls = await run("memori", ["cache", "ls", state], dir);
    expect(ls.status).toBe(0);
    const lines = ls.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^NAME\s+LAST RUN\s+OUTPUTS\s+STATUS\s+CALL$/);
    expect(lines.find((l) => l.startsWith("double"))).toMatch(
      /^double\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+0 B\s+valid\s*$/,
    );
    expect(lines.find((l) => l.startsWith("echo"))).toMatch(/valid\s+echo hi$/);
    expect(lines.find((l) => l.startsWith("cp"))).toMatch(
      /\s21 B\s+output modified: .*out\.txt\s+cp .*in\.txt /,
    );
    const empty = path.join(dir, "empty");
    await mkdir(empty);
    expect((await run("memori", ["cache", "ls", empty], dir)).stdout).toMatch(
      /^no memori state in/,
    );
  });

  it("a folder that is not there (a typo) is an error, for every command", async () => {
    const dir = await tempDir();
    const typo = path.join(dir, "stat");
    for (const words of [
      ["ls"],
      ["show", "x"],
      ["why", "x"],
      ["gc", "--older-than", "1d"],
      ["clear"],
    ]) {
      const [command, ...rest] = words;
      const result = await run("memori", ["cache", command!, typo, ...rest], dir);
      expect(result.status, words.join(" ")).toBe(1);
      expect(result.stderr).toBe(`memori cache: no folder ${typo}\n`);
      expect(result.stdout).toBe("");
    }
    await writeFile(typo, "a file");
    const file = await run("memori", ["cache", "ls", typo], dir);
    expect([file.status, file.stderr]).toEqual([1, `memori cache: ${typo} is not a folder\n`]);
    const through = await run("memori", ["cache", "ls", path.join(typo, "x")], dir);
    expect([through.status, through.stderr]).toEqual([
      1,
      `memori cache: no folder ${path.join(typo, "x")}\n`,
    ]);
    const empty = await run("memori", ["cache", "ls", ""], dir);
    expect([empty.status, empty.stderr]).toEqual([
      2,
      "memori cache: ls needs a state directory (see memori cache --help)\n",
    ]);
  });

  it("show prints the recorded inputs, outputs and code identity", async () => {
    const dir = await tempDir();
    const { state } = await populate(dir);
    const show = await run("memori", ["cache", "show", state, "echo"], dir);
    expect(show.status).toBe(0);
    expect(show.stdout).toMatch(/^echo {2}\(valid\)/);
    expect(show.stdout).toMatch(/code hash: [0-9a-f]{64}/);
    expect(show.stdout).toMatch(/script:\/.*echo: [0-9a-f]{64}/);
    expect(show.stdout).toContain('"hi"');
    const missing = await run("memori", ["cache", "show", state, "nope"], dir);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/no stage "nope" in .*state/);
  });

  it("why says what would make a stage run again", async () => {
    const dir = await tempDir();
    const { state, out, input } = await populate(dir);
    expect((await run("memori", ["cache", "why", state, "cp"], dir)).stdout).toMatch(
      /^cp: up to date as far as its files show/,
    );
    await writeFile(input, "new data\n");
    await writeFile(out, "edited\n");
    const why = await run("memori", ["cache", "why", state, "cp"], dir);
    expect(why.stdout).toMatch(/^cp would run again:/);
    expect(why.stdout).toMatch(
      /- input changed: args\[0\] \(.*in\.txt@[0-9a-f]{12} -> .*in\.txt@[0-9a-f]{12}\)/,
    );
    expect(why.stdout).toMatch(/- output modified: .*out\.txt/);
  });

  // A directory the call writes into is a place to write, not an input by content: why asks
  // the lookup, so it says what a run and a dry run say (H8's finding 2).
  it("why agrees with a run for a stage that writes into a directory argument", async () => {
    const dir = await tempDir();
    const source = path.join(dir, "in.txt");
    const outDir = path.join(dir, "out");
    await writeFile(source, "one\n");
    await mkdir(outDir);
    const write = (state = path.join(dir, ".memori")) =>
      new Stage(
        function write(text: string, outDir: string) {
          const file = path.join(outDir, `${path.basename(text, ".txt")}-a.txt`);
          writeFileSync(file, readFileSync(text, "utf8").toUpperCase());
          return file;
        },
        { hashOutput: state, logger: recordingLogger().logger },
      );
    const runs = async (stage: Stage) => {
      await stage.run(source, outDir);
      return stage.lastDecision?.reason.kind;
    };
    const why = async (state = ".memori") =>
      (await run("memori", ["cache", "why", state, "write"], dir)).stdout;
    expect(await runs(write())).toBe("first-run");
    expect(await runs(write())).toBe("cached");
    expect(await why()).toMatch(/^write: up to date as far as its files show/);
    expect((await write().explain(source, outDir)).action).toBe("skip");

    // a real input change: why says what the dry run says, and the run runs
    await writeFile(source, "changed\n");
    const explained = await write().explain(source, outDir);
    expect(explained).toMatchObject({
      action: "run",
      reason: { kind: "input-changed", name: "text" },
    });
    expect(await why()).toBe(`write would run again:\n  - ${describeReason(explained.reason)}\n`);
    expect(await runs(write())).toBe("input-changed");
    expect(await why()).toMatch(/^write: up to date/);
    // an output edited by hand: said as a run says it
    await writeFile(path.join(outDir, "in-a.txt"), "edited\n");
    expect(await why()).toMatch(/^write would run again:\n {2}- output modified: .*in-a\.txt\n$/);

    // a map's elements share the directory: each one's file is in what the others wrote into
    const other = path.join(dir, "other.txt");
    await writeFile(other, "two\n");
    const mapped = path.join(dir, "mapped");
    const map = () => write(mapped).map({ text: [source, other] }, { args: { outDir } });
    await map();
    await map();
    expect((await why(mapped)).trim().split("\n")).toEqual([
      expect.stringMatching(/^write\[.+\]: up to date/),
      expect.stringMatching(/^write\[.+\]: up to date/),
    ]);
  });

  it("a folder it cannot read is an error, not an empty listing (run as nobody when root)", async () => {
    const dir = await tempDir();
    const locked = path.join(dir, "locked");
    await mkdir(locked);
    await writeFile(path.join(locked, "x.stage"), "{}");
    chmodSync(dir, 0o755);
    chmodSync(locked, 0o000);
    try {
      const asRoot = process.getuid?.() === 0;
      const result = spawnSync(process.execPath, [bin("memori"), "cache", "ls", locked], {
        encoding: "utf8",
        ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
      });
      expect([result.status, result.stderr]).toEqual([
        1,
        `memori cache: cannot read ${locked} (permission denied)\n`,
      ]);
    } finally {
      chmodSync(locked, 0o755);
    }
  });

  it("names a map's elements by their labels, and finds one by its label", async () => {
    const dir = await tempDir();
    const state = path.join(dir, "state");
    const clean = new MappedStage(
      new Stage((subject: string) => `${subject} cleaned`, {
        name: "clean",
        hashOutput: state,
        logger: recordingLogger().logger,
      }),
      ["subject"],
      { label: (v) => String(v.subject) },
    );
    await clean.run({ subject: ["sub-01", "sub-02", "sub-03"] });
    const ls = await run("memori", ["cache", "ls", state], dir);
    const names = ls.stdout
      .trim()
      .split("\n")
      .slice(1)
      .map((l) => l.split(/\s+/)[0]);
    expect(names.sort()).toEqual(["clean[sub-01]", "clean[sub-02]", "clean[sub-03]"]);
    const show = await run("memori", ["cache", "show", state, "clean[sub-02]"], dir);
    expect(show.status).toBe(0);
    expect(show.stdout).toMatch(/^clean\[sub-02\] {2}\(valid\)/);
    expect(show.stdout).toContain('"sub-02 cleaned"');
    expect(show.stdout).not.toContain("sub-01");
    const why = await run("memori", ["cache", "why", state, "clean"], dir); // the map: all three
    expect(why.stdout.trim().split("\n")).toHaveLength(3);
    // Accepting an element rewrites its state with its label.
    const accept = await run("memori", ["cache", "accept", state, "clean[sub-01]"], dir);
    expect(accept.stdout).toBe("clean[sub-01]: outputs unchanged; state rewritten\n");
    expect((await run("memori", ["cache", "ls", state], dir)).stdout).toContain("clean[sub-01]");
    const clear = await run("memori", ["cache", "clear", state, "clean[sub-02]"], dir);
    expect(clear.stdout).toBe("removed clean[sub-02]\nclear: removed 1 state\n");
    expect(
      (await readdir(path.join(state, "clean.map"))).filter((f) => f.endsWith(".stage")),
    ).toHaveLength(2);
    // The element ran again, the others are cached: the label is not part of any decision.
    await clean.run({ subject: ["sub-01", "sub-02", "sub-03"] });
    expect(clean.elementDecisions.map((d) => d.action)).toEqual(["skip", "run", "skip"]);
  });

  it("accept records the current outputs as valid, so the next call is skipped", async () => {
    const dir = await tempDir();
    const { state, out, input } = await populate(dir);
    await writeFile(out, "fixed by hand\n");
    const accept = await run("memori", ["cache", "accept", state, "cp"], dir);
    expect(accept.stdout).toMatch(/cp: accepted the current .*out\.txt/);
    const next = await run(
      "memori",
      ["--verbose", "-d", state, "-n", "cp", "-o", out, "--", "cp", input, out],
      dir,
    );
    expect(next.stderr).toMatch(/skipped \(cached\)/);
    expect(await readFile(out, "utf8")).toBe("fixed by hand\n");
    await writeFile(out, "");
    const { rm } = await import("node:fs/promises");
    await rm(out);
    const cannot = await run("memori", ["cache", "accept", state, "cp"], dir);
    expect(cannot.status).toBe(1);
    expect(cannot.stderr).toMatch(/cannot accept cp: .*out\.txt is missing/);
  });

  it("gc removes the state of stages last run before a duration ago, and says what it removed", async () => {
    const dir = await tempDir();
    const { state } = await populate(dir);
    // age one stage's record: rewrite its time field, with the check line made again
    const { check: _, ...stage } = JSON.parse(
      await readFile(path.join(state, "echo.stage"), "utf8"),
    );
    stage.time = new Date(Date.now() - 40 * 86400e3).toISOString();
    await writeFile(path.join(state, "echo.stage"), recordText(stage));
    // a leftover temporary file of a killed run
    const temp = path.join(state, ".cp.inputs.host.123.1.abcd.tmp");
    await writeFile(temp, "partial");
    const old = new Date(Date.now() - 2 * 3600e3);
    await utimes(temp, old, old);
    const gc = await run("memori", ["cache", "gc", state, "--older-than", "30d"], dir);
    expect(gc.status).toBe(0);
    expect(gc.stdout).toMatch(/removed echo \(last run/); // judged by the record's time
    expect(gc.stdout).toMatch(/removed temporary file .*\.tmp/);
    expect(gc.stdout).toMatch(/gc: removed 1 state last run more than 30d ago/);
    // (cp.files: the hash of /usr/bin/cp, the command's content, known by its stat identity;
    // .memori-runs: the run records, history rather than state, bounded by their own retention)
    expect((await readdir(state)).sort()).toEqual([
      ".memori-runs",
      "cp.files",
      "cp.inputs",
      "cp.outputs",
      "cp.stage",
      "double.inputs",
      "double.outputs",
      "double.stage",
    ]);
    expect((await run("memori", ["cache", "gc", state, "--older-than", "soon"], dir)).status).toBe(
      2,
    );
  });

  it("clear removes one stage's state or all, never the outputs", async () => {
    const dir = await tempDir();
    const { state, out } = await populate(dir);
    const one = await run("memori", ["cache", "clear", state, "echo"], dir);
    expect(one.stdout).toMatch(/removed echo\nclear: removed 1 state\n/);
    expect((await readdir(state)).some((f) => f.startsWith("echo."))).toBe(false);
    const all = await run("memori", ["cache", "clear", state], dir);
    expect(all.stdout).toMatch(/clear: removed 2 states\n/);
    // The run records (memori log) are history, not state: kept.
    expect(await readdir(state)).toEqual([".memori-runs"]);
    expect(await readFile(out, "utf8")).toBe("data\n");
  });

  it("rejects unknown commands with usage", async () => {
    const dir = await tempDir();
    const bad = await run("memori", ["cache", "frob", dir], dir);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/unknown command "frob"/);
    const why = await run("memori", ["cache", "why", dir], dir);
    expect(why.status).toBe(2);
    // One pointer to where to look, not two.
    expect(why.stderr).toBe(`memori cache: why needs a stage name (see memori cache ls ${dir})\n`);
    const help = await run("memori", ["cache", "--help"], dir);
    expect(help.stdout).toMatch(/^usage: memori cache COMMAND DIR/);
  });
});
