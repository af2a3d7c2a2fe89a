import { cp, mkdir, readFile, readdir, rm, symlink, unlink, writeFile } from "node:fs/promises";
import { spawn } from "node:child_process";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { readHistory } from "../util/run-records.js";
import { bin, collect, countingScript, run, runsLogged, start } from "../util/cli.js";
import { canTrace } from "../../src/trace.js";
import { tempDir } from "../util/tmp.js";

const root = path.resolve(import.meta.dirname, "..", "..");

describe("memori command", () => {
  it("runs, then skips while nothing changed, passing output through live", async () => {
    const dir = await tempDir();
    const first = await run("memori", ["-d", "cache", "-n", "echo", "echo", "1"], dir);
    expect(first).toMatchObject({ status: 0, stdout: "1\n", stderr: "" });
    const second = await run("memori", ["-d", "cache", "-n", "echo", "echo", "1"], dir);
    expect(second).toMatchObject({ status: 0, stdout: "", stderr: "" });
    const verbose = await run(
      "memori",
      ["--verbose", "-d", "cache", "-n", "echo", "echo", "1"],
      dir,
    );
    expect(verbose.stdout).toBe("");
    expect(verbose.stderr).toMatch(/stage "echo": skipped \(cached\)/);
    const changed = await run(
      "memori",
      ["--verbose", "-d", "cache", "-n", "echo", "echo", "2"],
      dir,
    );
    expect(changed.stdout).toBe("2\n");
    expect(changed.stderr).toMatch(/running \(input changed: args/);
    // echo.files: the hash of echo (the command's content), known by its stat identity;
    // .memori-runs: the run records (memori log)
    expect((await readdir(path.join(dir, "cache"))).sort()).toEqual([
      ".memori-runs",
      "echo.files",
      "echo.inputs",
      "echo.outputs",
      "echo.stage",
    ]);
    const both = await run("memori", ["-d", "c2", "sh", "-c", "echo out; echo err >&2"], dir);
    expect(both).toMatchObject({ status: 0, stdout: "out\n", stderr: "err\n" });
    const plain = await run("memori", ["echo", "no", "memo"], dir);
    expect(plain.stdout).toBe("no memo\n");
    expect((await run("memori", ["echo", "no", "memo"], dir)).stdout).toBe("no memo\n");
  });

  it("re-runs when the script, a dependent, an argument file or an expected output changes", async () => {
    const dir = await tempDir();
    const lib = path.join(dir, "lib.sh");
    await writeFile(lib, "X=1\n");
    const work = await countingScript(
      dir,
      "work.sh",
      `. "${lib}"\ncat "$1" > "$2"\necho "$X" >> "$2"`,
    );
    const input = path.join(dir, "in.txt");
    const output = path.join(dir, "out.txt");
    await writeFile(input, "data\n");
    const call = () =>
      run("memori", ["-d", "cache", "-c", lib, "-o", output, "--", work, input, output], dir);
    expect((await call()).status).toBe(0);
    expect((await call()).status).toBe(0);
    expect(await runsLogged(dir)).toBe(1);
    expect(await readFile(output, "utf8")).toBe("data\n1\n");

    await writeFile(work, (await readFile(work, "utf8")) + "# edited\n");
    await call();
    expect(await runsLogged(dir)).toBe(2);
    await writeFile(lib, "X=2\n");
    await call();
    expect(await runsLogged(dir)).toBe(3);
    await writeFile(input, "new data\n");
    await call();
    expect(await runsLogged(dir)).toBe(4);
    await writeFile(output, "tampered");
    await call();
    expect(await runsLogged(dir)).toBe(5);
    await unlink(output);
    await call();
    expect(await runsLogged(dir)).toBe(6);
    await call();
    expect(await runsLogged(dir)).toBe(6);
    expect(await readFile(output, "utf8")).toBe("new data\n2\n");
  });

  it("finds a dependent script named bare in the working directory, as the README's example does", async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, "lib.sh"), "X=1\n");
    const work = await countingScript(dir, "script.sh", `. ./lib.sh\necho "$X" > "$1"`);
    const call = () => run("memori", ["-d", "cache", "-c", "lib.sh", "--", work, "out.txt"], dir);
    expect(await call()).toMatchObject({ status: 0, stderr: "" });
    expect(await call()).toMatchObject({ status: 0, stderr: "" });
    expect(await runsLogged(dir)).toBe(1);
    await writeFile(path.join(dir, "lib.sh"), "X=2\n"); // the dependent counts
    expect((await call()).status).toBe(0);
    expect(await runsLogged(dir)).toBe(2);
    expect(await readFile(path.join(dir, "out.txt"), "utf8")).toBe("2\n");
  });

  it("sees the files a shell string reads and writes (traced with strace)", async (context) => {
    if (!canTrace()) {
      if (process.env.CI === "true") throw new Error("CI needs strace: scripts/strace.sh");
      console.warn("skipping: strace cannot trace here (scripts/strace.sh installs it)");
      return context.skip();
    }
    const dir = await tempDir();
    await writeFile(path.join(dir, "in.txt"), "b\na\n");
    const call = ["--verbose", "-d", "st", "--", "sh", "-c", "sort in.txt > out.txt"];
    const decided = async () => (await run("memori", call, dir)).stderr.trim();
    expect(await decided()).toMatch(/running \(first run\)/);
    expect(await decided()).toMatch(/skipped \(cached\)/);
    await writeFile(path.join(dir, "in.txt"), "c\nb\na\n");
    expect(await decided()).toMatch(/running \(input changed: read:in\.txt/);
    expect(await readFile(path.join(dir, "out.txt"), "utf8")).toBe("a\nb\nc\n");
    await unlink(path.join(dir, "out.txt"));
    expect(await decided()).toMatch(/running \(output missing: out\.txt\)/);
    await writeFile(path.join(dir, "out.txt"), "edited by hand");
    expect(await decided()).toMatch(/running \(output modified: out\.txt\)/);
    expect(await decided()).toMatch(/skipped \(cached\)/);
  });

  it("never takes memori's own code caches for what a call read or wrote (traced)", async (context) => {
    if (!canTrace()) {
      if (process.env.CI === "true") throw new Error("CI needs strace: scripts/strace.sh");
      console.warn("skipping: strace cannot trace here (scripts/strace.sh installs it)");
      return context.skip();
    }
    // A copy of the package elsewhere: its caches name the place they were made in, so the
    // call's own pathman and node (importing the library) write ones for the copy at exit.
    const copy = await tempDir();
    await cp(path.join(root, "dist"), path.join(copy, "dist"), { recursive: true });
    await cp(path.join(root, "package.json"), path.join(copy, "package.json"));
    await symlink(path.join(root, "node_modules"), path.join(copy, "node_modules"));
    const pathman = path.join(copy, "dist", "cli", "pathman.cjs");
    const dir = await tempDir();
    const index = pathToFileURL(path.join(copy, "dist", "index.js")).href;
    await writeFile(
      path.join(dir, "use.mjs"),
      `import { Stage } from ${JSON.stringify(index)};\nconsole.log(typeof Stage);\n`,
    );
    const command = `node ${pathman} /d/sub-01_T1w.nii.gz get_prefix > out.txt && node use.mjs >> out.txt`;
    const call = ["--verbose", "-d", "st", "-o", "out.txt", "--", "sh", "-c", command];
    const decided = async () => (await run("memori", call, dir)).stderr.trim();
    expect(await decided()).toMatch(/running \(first run\)/);
    expect(await readFile(path.join(dir, "out.txt"), "utf8")).toBe("sub-01_T1w\nfunction\n");
    expect(await decided()).toMatch(/skipped \(cached\)/);
    // The caches written again, by processes outside any call (as a reinstall would have).
    for (const cache of ["cli/pathman.bundle.cache", "lib/memori.bundle.cache"]) {
      await rm(path.join(copy, "dist", cache));
    }
    await run("memori", ["--verbose", "-d", "other", "--", "sh", "-c", command], dir);
    expect(await decided()).toMatch(/skipped \(cached\)/);
  });

  it("does not record a failure: the next call runs again", async () => {
    const dir = await tempDir();
    const fail = await countingScript(dir, "fail.sh", "exit 3");
    expect((await run("memori", ["-d", "cache", fail], dir)).status).toBe(3);
    expect((await run("memori", ["-d", "cache", fail], dir)).status).toBe(3);
    expect(await runsLogged(dir)).toBe(2);
    const noOutput = await countingScript(dir, "lazy.sh", "true");
    const missing = await run(
      "memori",
      ["-d", "cache", "-o", path.join(dir, "never.txt"), "--", noOutput],
      dir,
    );
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/did not produce .*never\.txt/);
    await run("memori", ["-d", "cache", "-o", path.join(dir, "never.txt"), "--", noOutput], dir);
    expect(await runsLogged(dir)).toBe(4);
    // said once, also with --verbose
    const verbose = await run(
      "memori",
      ["-d", "cache", "--verbose", "-o", path.join(dir, "never.txt"), "--", noOutput],
      dir,
    );
    expect(verbose.status).toBe(1);
    expect(verbose.stderr.match(/did not produce/g)).toHaveLength(1);
  });

  it("exits with the command's status, 128+N for a signal", async () => {
    const dir = await tempDir();
    expect((await run("memori", ["-d", "cache", "sh", "-c", "exit 7"], dir)).status).toBe(7);
    expect((await run("memori", ["sh", "-c", "kill -TERM $$"], dir)).status).toBe(143);
    expect((await run("memori", ["-d", "cache", "sh", "-c", "kill -KILL $$"], dir)).status).toBe(
      137,
    );
  });

  it("forwards SIGTERM to the command, records nothing and exits non-zero", async () => {
    const dir = await tempDir();
    const pidFile = path.join(dir, "child.pid");
    const slow = await countingScript(dir, "slow.sh", `echo $$ > "${pidFile}"\nexec sleep 30`);
    const child = start("memori", ["-d", "cache", slow], dir);
    const done = collect(child);
    for (let i = 0; i < 200 && !(await readFile(pidFile, "utf8").catch(() => "")); i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    const childPid = Number(await readFile(pidFile, "utf8"));
    child.kill("SIGTERM");
    const result = await done;
    expect(result.status).toBe(143);
    expect(result.stderr).toMatch(/interrupted by SIGTERM; nothing was recorded/);
    expect(() => process.kill(childPid, 0)).toThrow();
    // No state; the run's record says it was cancelled.
    expect((await readdir(path.join(dir, "cache"))).filter((f) => !f.endsWith(".lock"))).toEqual([
      ".memori-runs",
    ]);
    const { records } = readHistory(path.join(dir, "cache"));
    expect(records.map((r) => [r.outcome, r.tasks.map((t) => t.decision)])).toEqual([
      ["interrupted", ["cancelled"]],
    ]);
  });

  it("runs --argK sets in parallel, each memoized on its own", async () => {
    const dir = await tempDir();
    const work = await countingScript(dir, "p.sh", `[ "$1" = bad ] && exit 5\necho "$1" > "$2"`);
    const args = (third: string) => [
      "-d",
      "cache",
      "-p",
      "2",
      work,
      "--arg0",
      "a",
      path.join(dir, "a.txt"),
      "--arg1",
      "b",
      path.join(dir, "b.txt"),
      "--arg2",
      third,
      path.join(dir, "c.txt"),
      "--arg_output0",
      path.join(dir, "a.txt"),
    ];
    expect((await run("memori", args("c"), dir)).status).toBe(0);
    expect(await runsLogged(dir)).toBe(3);
    expect((await readdir(path.join(dir, "cache"))).sort()).toEqual([
      ".memori-runs",
      "parallel0",
      "parallel1",
      "parallel2",
    ]);
    expect(await readdir(path.join(dir, "cache", "parallel1"))).toContainEqual(
      expect.stringMatching(/^p\.sh-[0-9a-f]{8}\.stage$/),
    );
    expect((await run("memori", args("c"), dir)).status).toBe(0);
    expect(await runsLogged(dir)).toBe(3);
    await unlink(path.join(dir, "a.txt"));
    expect((await run("memori", args("c2"), dir)).status).toBe(0);
    expect(await runsLogged(dir)).toBe(5);
    const failing = await run("memori", args("bad"), dir);
    expect(failing.status).toBe(5);
    expect(failing.stderr).toMatch(/1 of 3 parallel runs failed/);
  });

  // A dataset that holds its own derivatives: each element reads the dataset, and the -d
  // directory (the other elements' state, the run records) is inside it. Nothing changed:
  // nothing runs again, however many times it is called.
  it("runs nothing again when the --argK directories hold the -d directory itself", async () => {
    const dir = await tempDir();
    for (const sub of ["sub-01", "sub-02"]) {
      await mkdir(path.join(dir, "bids", sub), { recursive: true });
      await writeFile(path.join(dir, "bids", sub, "t1.txt"), sub);
    }
    const work = await countingScript(dir, "t1.sh", `cat "$1/$2/t1.txt"`);
    const args = [
      "-d",
      "bids/derivatives/.memori",
      "-p",
      "2",
      work,
      "--arg0",
      "bids",
      "sub-01",
      "--arg1",
      "bids",
      "sub-02",
    ];
    for (let i = 0; i < 3; i++) expect((await run("memori", args, dir)).status).toBe(0);
    expect(await runsLogged(dir)).toBe(2);
    await writeFile(path.join(dir, "bids", "sub-02", "t1.txt"), "changed");
    expect((await run("memori", args, dir)).status).toBe(0);
    expect(await runsLogged(dir)).toBe(4); // a change in the dataset: both again
  });

  it("-k kills the parent process when the command fails, not when it succeeds", async () => {
    const dir = await tempDir();
    const memori = `"${process.execPath}" "${bin("memori")}"`;
    const parent = (command: string) =>
      collect(spawn("sh", ["-c", `${memori} -k ${command}; echo parent-survived`], { cwd: dir }));
    const failed = await parent("sh -c 'exit 2'");
    expect(failed.signal).toBe("SIGKILL");
    expect(failed.stdout).not.toMatch(/parent-survived/);
    const ok = await parent("true");
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/parent-survived/);
  });

  it("--always-hash is accepted and still skips an unchanged call", async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, "in.txt"), "x");
    expect(
      (await run("memori", ["--always-hash", "-d", "cache", "cat", "in.txt"], dir)).stdout,
    ).toBe("x");
    expect(
      (await run("memori", ["--always_hash", "-d", "cache", "cat", "in.txt"], dir)).stdout,
    ).toBe("");
    await writeFile(path.join(dir, "in.txt"), "y");
    expect(
      (await run("memori", ["--always-hash", "-d", "cache", "cat", "in.txt"], dir)).stdout,
    ).toBe("y");
  });

  it("--code-version stands for the script: edits do not re-run it, a new version does", async () => {
    const dir = await tempDir();
    const script = path.join(dir, "say.sh");
    await writeFile(script, "#!/bin/sh\necho one\n", { mode: 0o755 });
    const call = (version: string) =>
      run("memori", ["--code-version", version, "-d", "cache", "./say.sh"], dir);
    expect((await call("1")).stdout).toBe("one\n");
    await writeFile(script, "#!/bin/sh\necho two\n");
    expect((await call("1")).stdout).toBe(""); // skipped: the version did not change
    expect((await call("2")).stdout).toBe("two\n");
    expect((await run("memori", ["--code-version", "", "-d", "c", "true"], dir)).stderr).toMatch(
      /--code-version needs a non-empty version/,
    );
  });

  // Without -n, a call's state is named after the command and a digest of its arguments: a loop
  // over subjects, or one command over two scripts, keeps a state per call and hits each.
  it("keeps a state per call without -n, and cache ls shows which call", async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, "a.sh"), "echo A\n");
    await writeFile(path.join(dir, "b.sh"), "echo B\n");
    const call = async (...words: string[]) =>
      (await run("memori", ["-d", "st", ...words], dir)).stdout;
    expect(await call("echo", "sub-01")).toBe("sub-01\n");
    expect(await call("echo", "sub-02")).toBe("sub-02\n");
    expect(await call("sh", "a.sh")).toBe("A\n");
    expect(await call("sh", "b.sh")).toBe("B\n");
    // every call again: all served from their own state
    for (const words of [
      ["echo", "sub-01"],
      ["echo", "sub-02"],
      ["sh", "a.sh"],
      ["sh", "b.sh"],
    ]) {
      expect(await call(...words)).toBe("");
    }
    const stages = (await readdir(path.join(dir, "st"))).filter((f) => f.endsWith(".stage"));
    expect(stages).toHaveLength(4);
    for (const f of stages) expect(f).toMatch(/^(echo|sh)-[0-9a-f]{8}\.stage$/);
    const ls = (await run("memori", ["cache", "ls", "st"], dir)).stdout;
    expect(ls.split("\n")[0]).toMatch(/^NAME\s+LAST RUN\s+OUTPUTS\s+STATUS\s+CALL$/);
    for (const shown of ["echo sub-01", "echo sub-02", "sh a.sh", "sh b.sh"]) {
      expect(ls).toMatch(new RegExp(`valid\\s+${shown}\\n`));
    }
    // the command's name finds all its calls
    const why = (await run("memori", ["cache", "why", "st", "echo"], dir)).stdout;
    expect(why.trim().split("\n")).toHaveLength(2);
  });

  it("logs decisions to --log-file", async () => {
    const dir = await tempDir();
    const log = path.join(dir, "memori.log");
    await run("memori", ["-d", "cache", "--log_file", log, "echo", "x"], dir);
    await run("memori", ["-d", "cache", "--log-file", log, "echo", "x"], dir);
    const text = await readFile(log, "utf8");
    expect(text).toMatch(/INFO stage "echo-[0-9a-f]{8}": running \(first run\)/);
    expect(text).toMatch(/INFO stage "echo-[0-9a-f]{8}": skipped \(cached\)/);
  });
});
