/** The package as users get it: packed, installed into a fresh project, run through npx. */
import { execFileSync } from "node:child_process";
import { readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../util/tmp.js";

const root = path.resolve(import.meta.dirname, "..", "..");
const npm = (args: string[], cwd: string) =>
  execFileSync("npm", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

describe("the installed package", () => {
  it("provides `npx memori`, `npx pathman` and the module after `npm install`", async () => {
    const dir = await tempDir();
    npm(["pack", "--pack-destination", dir], root);
    const tarball = (await readdir(dir)).find((f) => f.endsWith(".tgz"))!;
    await writeFile(
      path.join(dir, "package.json"),
      JSON.stringify({ name: "user-project", private: true }),
    );
    npm(["install", "--prefer-offline", "--no-audit", "--no-fund", path.join(dir, tarball)], dir);
    expect(npm(["exec", "--", "memori", "-d", "cache", "echo", "installed"], dir)).toBe(
      "installed\n",
    );
    expect(npm(["exec", "--", "memori", "-d", "cache", "echo", "installed"], dir)).toBe("");
    expect(npm(["exec", "--", "pathman", "/d/sub-01_T1w.nii.gz", "get_prefix"], dir)).toBe(
      "sub-01_T1w\n",
    );
    const exported = execFileSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        'import("memori").then((m) => console.log(typeof m.Stage, typeof m.Pipeline))',
      ],
      {
        cwd: dir,
        encoding: "utf8",
      },
    );
    expect(exported).toBe("function function\n");
  });
});
