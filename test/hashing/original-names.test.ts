// Parameter names as written, whatever compiled the code: esbuild (tsx, vitest) renames a
// parameter that shadows a top-level name (`outDir` becomes `outDir2`); memori maps it back
// through the source map. Each compiler runs in its own process, as users run them.
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { Stage } from "../../src/index.js";
import { tempDir } from "../util/tmp.js";

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "..", "..");
const tsx = path.join(root, "node_modules", ".bin", "tsx");

/** A module whose stage parameters shadow top-level names, in the shapes users write. */
const source = (memori: string) => `
import { Stage } from ${JSON.stringify(memori)};
const outDir = "/top";
const fwhm = 3;
function make(inFile: string, outDir: string) {
  return inFile + outDir;
}
class Tool {
  run(outDir: string, fwhm: number) {
    return outDir + fwhm;
  }
}
const stages = [
  new Stage(make, { name: "declared" }),
  new Stage(
    async (
      inFile: string,
      outDir: string,
      fwhm = 6,
    ) => \`\${inFile}|\${outDir}|\${fwhm}\`,
    { name: "arrow" },
  ),
  new Stage(new Tool().run, { name: "method" }),
];
const values: Record<string, unknown> = { inFile: "i", outDir: "o", fwhm: 1 };
const results = [];
for (const stage of stages) {
  const named = Object.fromEntries(stage.inputs.map((name) => [name, values[name]]));
  results.push({ inputs: stage.inputs, run: await stage.runNamed(named) });
}
process.stdout.write(JSON.stringify({ results, top: [outDir, fwhm] }));
`;

const expected = {
  results: [
    { inputs: ["inFile", "outDir"], run: { output: "io" } },
    { inputs: ["inFile", "outDir", "fwhm"], run: { output: "i|o|1" } },
    { inputs: ["outDir", "fwhm"], run: { output: "o1" } },
  ],
  top: ["/top", 3],
};

describe("parameter names as written (original-names.ts)", () => {
  it("under tsx (esbuild renames shadowing parameters)", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "stages.mts");
    await writeFile(file, source(path.join(root, "src", "index.ts")));
    const { stdout } = await run(tsx, [file], { cwd: dir });
    expect(JSON.parse(stdout)).toEqual(expected);
  }, 30_000);

  it("under tsc (nothing renamed, no source map needed)", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "stages.mjs");
    const js = ts.transpileModule(source(path.join(root, "dist", "index.js")), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    await writeFile(file, js);
    const { stdout } = await run(process.execPath, [file], { cwd: dir });
    expect(JSON.parse(stdout)).toEqual(expected);
  }, 30_000);

  it("the same code identity under tsc and tsx: switching compilers re-runs nothing", async () => {
    const dir = await tempDir();
    const memoized = (memori: string) =>
      source(memori)
        .replaceAll('{ name: "declared" }', '{ name: "declared", hashOutput: "state" }')
        .replace('{ name: "arrow" }', '{ name: "arrow", hashOutput: "state" }')
        .replace('{ name: "method" }', '{ name: "method", hashOutput: "state" }')
        .replace(
          "process.stdout.write(JSON.stringify({ results, top: [outDir, fwhm] }));",
          "process.stdout.write(JSON.stringify(stages.map((s) => s.lastDecision?.action)));",
        );
    await writeFile(path.join(dir, "stages.mts"), memoized(path.join(root, "dist", "index.js")));
    const js = ts.transpileModule(memoized(path.join(root, "dist", "index.js")), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    await writeFile(path.join(dir, "stages.mjs"), js);
    const underTsc = async () =>
      JSON.parse((await run(process.execPath, ["stages.mjs"], { cwd: dir })).stdout) as string[];
    const underTsx = async () =>
      JSON.parse((await run(tsx, ["stages.mts"], { cwd: dir })).stdout) as string[];
    expect(await underTsc()).toEqual(["run", "run", "run"]);
    expect(await underTsx()).toEqual(["skip", "skip", "skip"]);
    expect(await underTsc()).toEqual(["skip", "skip", "skip"]);
  }, 60_000);

  it("under vitest, in this process", async () => {
    const outDir = "/top";
    const stage = new Stage(function make(inFile: string, outDir: string) {
      return inFile + outDir;
    });
    expect(stage.inputs).toEqual(["inFile", "outDir"]);
    expect(await stage.runNamed({ inFile: "i", outDir: "o" })).toEqual({ output: "io" });
    expect(outDir).toBe("/top");
  });
});
