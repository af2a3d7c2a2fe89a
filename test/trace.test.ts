// The files a process tree opens, from strace's log: parsed from logs as strace writes them,
// and seen through a real strace around real commands (scripts/strace.sh installs it; CI must
// have it).
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { FileAccess, withCallContext } from "../src/call-signal.js";
import { runProcess } from "../src/process.js";
import { canTrace, parseTrace } from "../src/trace.js";
import { tempDir } from "./util/tmp.js";

describe("parseTrace", () => {
  it("reads opens, creations, renames and programs, resolving relative paths per process", () => {
    const log = [
      `100 execve("/bin/sh", ["sh", "-c", "..."], 0x7ff /* 3 vars */) = 0`,
      `100 openat(AT_FDCWD, "in.txt", O_RDONLY) = 3</work/in.txt>`,
      `100 openat(AT_FDCWD, "out.txt", O_WRONLY|O_CREAT|O_TRUNC, 0666) = 3</work/out.txt>`,
      `100 openat(AT_FDCWD, "log.txt", O_WRONLY|O_CREAT|O_APPEND, 0666) = 3</work/log.txt>`,
      `100 openat(AT_FDCWD, "both", O_RDWR|O_CREAT, 0666) = 4</work/both>`,
      `100 openat(AT_FDCWD, "missing", O_RDONLY) = -1 ENOENT (No such file or directory)`,
      `100 openat(AT_FDCWD, "sub", O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_DIRECTORY) = 3</work/sub>`,
      `100 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|SIGCHLD) = 101`,
      `101 chdir("sub") = 0`,
      `101 rename("tmp.part", "result.nii") = 0`,
      `100 openat(AT_FDCWD, "a \\"quoted\\"\\nname\\303\\251", O_RDONLY <unfinished ...>`,
      `101 creat("made.txt", 0644) = 5</work/sub/made.txt>`,
      `100 <... openat resumed>) = 6</work/a \\"quoted\\"\\nname\\303\\251>`,
      `101 fchdir(3</work/other>) = 0`,
      `101 renameat2(AT_FDCWD, "x", 7</work/elsewhere>, "y", RENAME_NOREPLACE) = 0`,
      `101 rename("z.part", "z") = 0`,
      `101 +++ exited with 0 +++`,
    ].join("\n");
    const traced = parseTrace(log, "/work", "/work");
    // As named: relative to the working directory, through links (not their targets).
    expect([...traced.reads].sort()).toEqual([
      "/bin/sh",
      'a "quoted"\nnameé',
      "both",
      "in.txt",
      "missing",
    ]);
    expect([...traced.writes].sort()).toEqual([
      "/work/elsewhere/y",
      "both",
      "other/z",
      "out.txt",
      "sub/made.txt",
      "sub/result.nii",
    ]);
  });
});

/** Whether this machine can trace; in CI it must. */
function tracing(): boolean {
  if (canTrace()) return true;
  if (process.env.CI === "true")
    throw new Error("strace cannot trace here, and CI needs it: run scripts/strace.sh");
  console.warn("skipping: strace is not available here (scripts/strace.sh installs it)");
  return false;
}

describe("runProcess inside a call whose files are tracked", () => {
  it("records what the whole process tree read and wrote", async (context) => {
    if (!tracing()) return context.skip();
    const dir = await tempDir();
    await mkdir(path.join(dir, "sub"));
    await writeFile(path.join(dir, "in.txt"), "b\na\n");
    await writeFile(path.join(dir, "sub", "template.txt"), "t");
    const access = new FileAccess();
    const status = await withCallContext({ access }, () =>
      runProcess("sort in.txt > out.txt && (cd sub && cat template.txt > copy.txt)", {
        cwd: dir,
      }),
    );
    expect(status).toBe(0);
    expect(await readFile(path.join(dir, "out.txt"), "utf8")).toBe("a\nb\n");
    expect(access.untraced).toBe(false);
    const named = (file: string) => path.relative(".", path.join(dir, file));
    expect(access.reads).toContain(named("in.txt"));
    expect(access.reads).toContain(named("sub/template.txt"));
    expect(access.writes).toContain(named("out.txt"));
    expect(access.writes).toContain(named("sub/copy.txt"));
  });

  it("keeps the exit status, and says a missing program is missing", async (context) => {
    if (!tracing()) return context.skip();
    const access = new FileAccess();
    const inCall = <T>(body: () => T) => withCallContext({ access }, body);
    expect(await inCall(() => runProcess("exit 3", { reject: false }))).toBe(3);
    // strace passes the status on, and says nothing on stderr of its own
    await expect(
      inCall(() => runProcess("echo oops >&2; exit 3", { capture: true })),
    ).rejects.toMatchObject({ reason: "process-failed", exitCode: 3, stderrTail: "oops\n" });
    await expect(inCall(() => runProcess(["no-such-program-memori"]))).rejects.toMatchObject({
      reason: "not-found",
    });
  });

  it("counts what a command looked for and did not find, and not memori's own log", async (context) => {
    if (!tracing()) return context.skip();
    const dir = await tempDir();
    const { Stage } = await import("../src/index.js");
    const bin = path.join(dir, "bin");
    await mkdir(bin);
    const stage = new Stage(
      async function probe(tag: string) {
        await runProcess(`[ -e flag ] && echo yes > out-${tag}.txt || echo no > out-${tag}.txt`, {
          cwd: dir,
        });
        const status = await runProcess(["sh", "-c", "mytool > /dev/null 2>&1"], {
          cwd: dir,
          reject: false,
          env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` },
        });
        return `${await readFile(path.join(dir, `out-${tag}.txt`), "utf8")}${status}`;
      },
      { hashOutput: path.join(dir, "state"), logger: { info() {}, warn() {} } },
    );
    expect(await stage.run("a")).toEqual({ output: "no\n127" });
    const inputs = await readFile(path.join(dir, "state", "probe.inputs"), "utf8");
    expect(inputs).not.toMatch(/memori-trace-/);
    await writeFile(path.join(dir, "flag"), "");
    expect(await stage.run("a")).toEqual({ output: "yes\n127" });
    await writeFile(path.join(bin, "mytool"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    expect(await stage.run("a")).toEqual({ output: "yes\n0" });
  });

  // `ls inbox`, a shell's `*`, `find`: what a process found in a folder is an input by names.
  it("counts a directory a process listed: a new entry re-runs the stage", async (context) => {
    if (!tracing()) return context.skip();
    const dir = await tempDir();
    const inbox = path.join(dir, "inbox");
    await mkdir(inbox);
    await writeFile(path.join(inbox, "sub-01.nii"), "1");
    const { Stage } = await import("../src/index.js");
    const stage = new Stage(
      async function subjects(folder: string) {
        const { stdout } = (await runProcess(["ls", "-1", folder], {
          capture: true,
        })) as unknown as {
          stdout: string;
        };
        return stdout.trim().split("\n").join(",");
      },
      { hashOutput: path.join(dir, "state"), byName: ["folder"], logger: { info() {}, warn() {} } },
    );
    expect(await stage.run(inbox)).toEqual({ output: "sub-01.nii" });
    await stage.run(inbox);
    expect(stage.fromCache).toBe(true);
    await writeFile(path.join(inbox, "sub-02.nii"), "2");
    expect(await stage.run(inbox)).toEqual({ output: "sub-01.nii,sub-02.nii" });
    expect(stage.lastDecision?.reason).toMatchObject({
      kind: "input-changed",
      name: `list:${inbox}`,
    });
    await stage.run(inbox);
    expect(stage.fromCache).toBe(true);
  });

  it("reads the directories getdents listed from its log", () => {
    const log = [
      '7 openat(AT_FDCWD</w>, "inbox", O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_DIRECTORY) = 3</w/inbox>',
      "7 getdents64(3</w/inbox>, 0x55 /* 4 entries */, 32768) = 112",
      "7 getdents64(3</w/inbox>, 0x55 /* 0 entries */, 32768) = 0",
      "7 getdents64(4</w/a\\>b>, 0x55 /* 3 entries */, 32768) = 80",
    ].join("\n");
    const found = parseTrace(log, "/w", "/w");
    expect([...found.lists]).toEqual(["/w/inbox", "/w/a>b"]);
    expect([...found.reads]).toEqual([]); // a directory opened is not a file read
  });
});
