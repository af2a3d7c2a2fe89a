import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { run } from "../util/cli.js";
import { tempDir } from "../util/tmp.js";

describe("pathman command", () => {
  it("chains operations and prints the result", async () => {
    const dir = await tempDir();
    const r = await run(
      "pathman",
      ["/data/sub-01_T1w.nii.gz", "get_prefix", "append_suffix", "_brain"],
      dir,
    );
    expect(r).toMatchObject({ status: 0, stdout: "sub-01_T1w_brain\n", stderr: "" });
    expect(
      (await run("pathman", ["/my_dir/a_b.nii", "deleteSuffix", "repath", "/out"], dir)).stdout,
    ).toBe("/out/a.nii\n");
    expect(
      (await run("pathman", ["/x/y_z.nii.gz", "replace_suffix", "_w", "get_path_and_prefix"], dir))
        .stdout,
    ).toBe("/x/y_w\n");
    // a dot inside a BIDS entity is not an extension
    expect((await run("pathman", ["/data/sub.01_T1w.nii.gz", "get_prefix"], dir)).stdout).toBe(
      "sub.01_T1w\n",
    );
  });

  it("fails clearly, printing nothing to stdout, on an unknown command or a missing argument", async () => {
    const dir = await tempDir();
    const unknown = await run("pathman", ["/x.nii", "frobnicate"], dir);
    expect(unknown).toMatchObject({ status: 2, stdout: "" });
    expect(unknown.stderr).toMatch(/unknown command "frobnicate"; the commands are get_prefix/);
    const missing = await run("pathman", ["/x.nii", "append_suffix"], dir);
    expect(missing).toMatchObject({ status: 2, stdout: "" });
    expect(missing.stderr).toMatch(/append_suffix needs SUFFIX/);
    expect((await run("pathman", [], dir)).status).toBe(2);
  });

  it("--help matches the README", async () => {
    const dir = await tempDir();
    const help = await run("pathman", ["--help"], dir);
    expect(help.status).toBe(0);
    const readme = await readFile(
      path.resolve(import.meta.dirname, "..", "..", "README.md"),
      "utf8",
    );
    expect(readme).toContain(help.stdout.trim());
    const version = await run("pathman", ["--version"], dir);
    expect([version.status, version.stdout]).toEqual([
      0,
      expect.stringMatching(/^pathman \(memori \d+\.\d+\.\d+\)\n$/),
    ]);
  });
});
