/**
 * The memori command's usage errors (one line, the right status, nothing written), the
 * messages for a script named without ./, and --help.
 */
import { chmod, mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { countingScript, run, runsLogged } from "../util/cli.js";
import { tempDir } from "../util/tmp.js";

describe("errors: one line, non-zero, nothing written", () => {
  const cases: [string, string[], number, RegExp][] = [
    [
      "command not found",
      ["-d", "cache", "no-such-command-xyz"],
      127,
      /command not found: no-such-command-xyz/,
    ],
    [
      "missing dependent",
      ["-d", "cache", "-c", "missing-dep.sh", "--", "echo"],
      1,
      /dependent script not found: missing-dep\.sh/,
    ],
    ["unknown option", ["-d", "cache", "--frobnicate", "echo"], 2, /unknown option --frobnicate/],
    ["-p without --argK", ["-d", "cache", "-p", "2", "echo"], 2, /needs at least one --arg0/],
    ["bad -p", ["-d", "cache", "-p", "zero", "echo"], 2, /whole number of processes/],
    ["no command", ["-d", "cache"], 2, /no command given/],
    [
      "name escaping the directory",
      ["-d", "cache", "-n", "../../etc/x", "echo"],
      2,
      /-n takes a plain file name/,
    ],
  ];
  for (const [label, args, status, message] of cases) {
    it(label, async () => {
      const dir = await tempDir();
      const result = await run("memori", args, dir);
      expect(result.status).toBe(status);
      expect(result.stderr).toMatch(message);
      expect(result.stderr.trim().split("\n")).toHaveLength(1);
      expect(result.stdout).toBe("");
      expect(await readdir(dir)).toEqual([]);
    });
  }

  // A bare name is looked up on PATH only, as a shell does; the message says what is here.
  it("a script here named without ./: says to write ./script.sh, or that it is not executable", async () => {
    const dir = await tempDir();
    const work = await countingScript(dir, "script.sh", 'cat "$1" > "$2"');
    await writeFile(path.join(dir, "lib.sh"), "X=1\n");
    await writeFile(path.join(dir, "in.nii"), "data\n");
    const readme = (command: string) =>
      run(
        "memori",
        ["-d", "cache", "-c", "lib.sh", "-o", "out.nii", "--", command, "in.nii", "out.nii"],
        dir,
      );
    const contents = ["in.nii", "lib.sh", "script.sh"];
    const bare = await readme("script.sh");
    expect(bare).toMatchObject({ status: 127, stdout: "" });
    expect(bare.stderr).toBe(
      "memori: command not found: script.sh is not on PATH; ./script.sh is here: write ./script.sh\n",
    );
    expect((await readdir(dir)).sort()).toEqual(contents);

    await chmod(work, 0o644);
    const plain = await readme("script.sh");
    expect(plain.status).toBe(127);
    expect(plain.stderr).toBe(
      "memori: command not found: script.sh is not on PATH; ./script.sh is here but not executable: chmod +x script.sh, or write sh script.sh\n",
    );
    const dotted = await readme("./script.sh");
    expect(dotted.status).toBe(127);
    expect(dotted.stderr).toBe(
      "memori: command not found: ./script.sh is not executable: chmod +x ./script.sh, or write sh ./script.sh\n",
    );
    expect((await readme("./nope.sh")).stderr).toBe(
      "memori: command not found: ./nope.sh (no such file)\n",
    );
    expect((await readdir(dir)).sort()).toEqual(contents);

    // what the messages suggest works: the README's example as written now, run then skipped
    await chmod(work, 0o755);
    expect(await readme("./script.sh")).toMatchObject({ status: 0, stderr: "" });
    expect(await readme("./script.sh")).toMatchObject({ status: 0, stderr: "" });
    expect(await runsLogged(dir)).toBe(1);
    expect(await readFile(path.join(dir, "out.nii"), "utf8")).toBe("data\n");
  });

  it("unwritable -d directory", async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, "file"), "x");
    const result = await run("memori", ["-d", path.join(dir, "file", "cache"), "echo", "hi"], dir);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/cannot write state files to .*file\/cache/);
    expect(result.stdout).toBe("");
    expect(await readdir(dir)).toEqual(["file"]);
  });
});

it("--help shows usage with examples, as in the README", async () => {
  const dir = await tempDir();
  await mkdir(dir, { recursive: true });
  const help = await run("memori", ["--help"], dir);
  expect(help.status).toBe(0);
  expect(help.stdout).toMatch(/^usage: memori \[options\] command \[args\.\.\.\]/);
  const readme = await readFile(path.resolve(import.meta.dirname, "..", "..", "README.md"), "utf8");
  expect(readme).toContain(help.stdout.trim());
  const version = await run("memori", ["--version"], dir);
  const manifest = JSON.parse(
    await readFile(path.resolve(import.meta.dirname, "..", "..", "package.json"), "utf8"),
  ) as { version: string };
  expect([version.status, version.stdout]).toEqual([0, `memori ${manifest.version}\n`]);
});
