// Running SLURM's commands: execFile, no shell; failures name the command and its stderr.
// These run ordinary programs, so they need no cluster.
import { describe, expect, it } from "vitest";
import { commandLine, runCommand } from "../../src/slurm/command.js";

describe("runCommand", () => {
  it("resolves to what a command printed", async () => {
    expect(await runCommand("sh", ["-c", "echo out; echo err >&2"])).toEqual({
      ok: true,
      value: { stdout: "out\n", stderr: "err\n" },
    });
  });

  it("passes arguments as they are: no shell between", async () => {
    const result = await runCommand("printf", ["%s|", "a b", "$HOME", "`x`"]);
    expect(result.ok && result.value.stdout).toBe("a b|$HOME|`x`|");
  });

  it("says a failed command failed, with its exit status and stderr", async () => {
    const result = await runCommand("sh", ["-c", "echo 'Invalid job id specified' >&2; exit 1"]);
    expect(result).toMatchObject({
      ok: false,
      error: {
        reason: "command-failed",
        exitCode: 1,
        stderr: "Invalid job id specified",
        command: `sh -c 'echo '\\''Invalid job id specified'\\'' >&2; exit 1'`,
      },
    });
    if (!result.ok) {
      expect(result.error.message).toMatch(/^`sh -c .*` failed \(exit status 1\): Invalid job id/);
    }
  });

  it("says a missing program is missing", async () => {
    const result = await runCommand("memori-no-such-sbatch", ["--parsable"]);
    expect(result).toMatchObject({
      ok: false,
      error: {
        reason: "command-not-found",
        message: expect.stringMatching(/memori-no-such-sbatch is not installed/),
      },
    });
  });

  it("stops a command past its time limit", async () => {
    const result = await runCommand("sleep", ["30"], { timeoutMs: 200 });
    expect(result).toMatchObject({
      ok: false,
      error: { reason: "command-timed-out", command: "sleep 30" },
    });
  });

  it("shortens a long command line in messages", () => {
    const ids = Array.from({ length: 200 }, (_, i) => String(1000 + i)).join(",");
    const line = commandLine("squeue", [`--jobs=${ids}`]);
    expect(line.length).toBe(300);
    expect(line.endsWith("...")).toBe(true);
  });
});
