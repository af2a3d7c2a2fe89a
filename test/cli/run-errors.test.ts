/**
 * `memori run` given bad input: each error names what is wrong and where, with exit status 2
 * for the command line's mistakes (options, parameters, the config file, the module's path or
 * export) and 1 for a module that cannot be evaluated or makes no pipeline. And its help.
 */
import { cp, mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { run, type Ran } from "../util/cli.js";
import { tempDir } from "../util/tmp.js";

const root = path.resolve(import.meta.dirname, "..", "..");

/** An ES module project with memori installed, the smooth.js fixture, and `files`. */
async function project(files: Record<string, string> = {}): Promise<string> {
  const dir = await tempDir();
  await mkdir(path.join(dir, "node_modules"));
  await symlink(root, path.join(dir, "node_modules", "memori"));
  const project = path.join(dir, "project");
  await mkdir(path.join(project, "bids", "sub-01"), { recursive: true });
  await writeFile(path.join(project, "package.json"), '{ "type": "module" }\n');
  await cp(
    path.join(root, "test", "fixtures", "run", "smooth.js"),
    path.join(project, "smooth.js"),
  );
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(project, name), text);
  return project;
}

const memoriRun = (dir: string, ...args: string[]): Promise<Ran> =>
  run("memori", ["run", ...args], dir);

const MODULES = {
  "named.js":
    'import { Pipeline, Stage } from "memori";\nexport const a = new Pipeline([["start", new Stage((x = 1) => x, { name: "id" })]]);\nexport const b = 2;\n',
  "stage.js":
    'import { Stage } from "memori";\nexport default new Stage((x) => x, { name: "id" });\n',
  "fn.js": "export default (params) => params;\n",
  "number.js": "export default 42;\n",
  "null.js": "export default null;\n",
  "throws.js":
    "const broken = undefined;\nexport default broken.pipeline; // TypeError at import\n",
  "missing-dep.js": 'import "no-such-package-anywhere";\nexport default 1;\n',
  "bad-builder.js":
    'import { definePipeline } from "memori";\nexport default definePipeline({ pipeline: () => { throw new Error("the dataset is offline"); } });\n',
  "returns-stage.js":
    'import { Stage, definePipeline } from "memori";\nexport default definePipeline({ pipeline: () => new Stage((x) => x, { name: "id" }) });\n',
  "required.js":
    'import { Pipeline, Stage, definePipeline } from "memori";\nexport default definePipeline({ params: { site: { type: "string" }, n: { type: "number", default: 1 } }, pipeline: new Pipeline([["start", new Stage((site, n) => site + n, { name: "id" })]]) });\n',
  "bad-declaration.js":
    'import { Pipeline, definePipeline } from "memori";\nexport default definePipeline({ params: { fwhm: { type: "number", default: "6" } }, pipeline: () => undefined });\n',
  "pipeline.py": "print('not JavaScript')\n",
  "old.js": "export default { runNamed() {}, explainNamed() {} };\n",
  "future.js": 'export default { [Symbol.for("memori.pipeline-module")]: 2 };\n',
};

describe("memori run, bad input", () => {
  it.each([
    [
      [],
      "no module given: memori run MODULE [options], e.g. memori run pipeline.ts (see memori run --help)",
    ],
    [
      ["smooth.js", "extra"],
      'unexpected argument "extra": memori run takes one module ("smooth.js" is the module); give parameters with --param NAME=VALUE (see memori run --help)',
    ],
    [["smooth.js", "--fast"], "unknown option --fast (see memori run --help)"],
    [
      ["smooth.js", "--param", "fwhm"],
      '--param "fwhm": expected NAME=VALUE (e.g. --param fwhm=6) (see memori run --help)',
    ],
    [
      ["smooth.js", "--param", "=6"],
      '--param "=6": expected NAME=VALUE (e.g. --param fwhm=6) (see memori run --help)',
    ],
    [
      ["smooth.js", "--param", "fwhm=6", "--param", "fwhm=8"],
      "--param fwhm is given twice (fwhm=6 and fwhm=8); give it once (a list: --param fwhm=a,b) (see memori run --help)",
    ],
    [
      ["smooth.js", "--concurrency", "0"],
      '--concurrency takes a whole number >= 1, got "0" (see memori run --help)',
    ],
    [
      ["smooth.js", "--executor", "cloud"],
      '--executor "cloud": no such executor; the executors are: local, slurm (see memori run --help)',
    ],
    [
      ["smooth.js", "--slurm-partition", "short"],
      "--slurm-partition is for --executor slurm (see memori run --help)",
    ],
    [
      ["smooth.js", "--executor", "slurm", "--latency-wait", "-1"],
      '--latency-wait takes a number of seconds from 0 to 86400, got "-1" (see memori run --help)',
    ],
    [
      ["smooth.js", "--executor", "slurm", "--slurm-partition", "a b"],
      '--slurm-partition takes a partition name (letters, digits, _ . -; commas between several), got "a b" (see memori run --help)',
    ],
    [["smooth.js", "--dry-run=yes"], "--dry-run takes no value (see memori run --help)"],
    [["smooth.js", "--config"], "--config needs a value (see memori run --help)"],
  ])("a bad command line: %j", async (args, message) => {
    const dir = await project();
    const result = await memoriRun(dir, ...args);
    expect(result.stderr).toBe(`memori run: ${message}\n`);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe("");
  });

  it.each([
    [
      ["nope.js"],
      (dir: string) => `no such module: nope.js (looked for ${path.join(dir, "nope.js")})`,
    ],
    [["bids"], () => "bids is a directory: give the module's file"],
    [["pipeline.py"], () => "pipeline.py: memori run loads modules ending in .js, .mjs, .ts, .mts"],
    [
      ["named.js"],
      () =>
        "named.js has no default export (its exports: a, b): export default a pipeline, or choose an export with --export NAME",
    ],
    [["named.js", "--export", "c"], () => 'named.js has no export "c" (its exports: a, b)'],
    [
      ["named.js", "--export", "b"],
      () =>
        'named.js: its export "b" is not a pipeline: it is 2 (number): export a Pipeline, or definePipeline({ params, pipeline })',
    ],
    [
      ["stage.js"],
      () =>
        'stage.js: its default export is not a pipeline: it is a stage, not a pipeline: export new Pipeline([["start", stage]])',
    ],
    [
      ["fn.js"],
      () =>
        "fn.js: its default export is not a pipeline: it is a function: declare the pipeline with definePipeline({ params, pipeline: yourFunction }) to make it of parameters",
    ],
    [
      ["number.js"],
      () =>
        "number.js: its default export is not a pipeline: it is 42 (number): export a Pipeline, or definePipeline({ params, pipeline })",
    ],
    [
      ["null.js"],
      () =>
        "null.js: its default export is not a pipeline: it is null: export a Pipeline, or definePipeline({ params, pipeline })",
    ],
    [
      ["old.js"],
      () =>
        "old.js: its default export is not a pipeline: it is a Pipeline of a memori without `memori run` (no withOptions, upTo): update the memori the module imports",
    ],
    [
      ["future.js"],
      () =>
        "future.js: its default export is not a pipeline: it comes from definePipeline() of a memori whose pipeline modules this memori cannot run (version 2, this one runs 1): use the memori the module imports",
    ],
  ])("a module that is not there or exports no pipeline: %j", async (args, message) => {
    const dir = await project(MODULES);
    const result = await memoriRun(dir, ...args);
    expect(result.stderr).toBe(`memori run: ${message(dir)}\n`);
    expect(result.status).toBe(2);
  });

  it("runs a named export", async () => {
    const dir = await project(MODULES);
    const result = await memoriRun(dir, "named.js", "--export", "a");
    expect(result.status).toBe(0);
    expect(result.stderr).toMatch(/1 ran, 0 cached, 0 failed/);
  });

  it.each([
    [
      ["smooth.js", "--param", "subjets=sub-01"],
      ["--param subjets=sub-01: no parameter `subjets` (known: bids, subjects, fwhm, out)"],
    ],
    [["smooth.js", "--param", "fwhm=six"], ['--param fwhm=six: expected a number, got "six"']],
    [
      ["smooth.js", "--param", "bids=nowhere"],
      (dir: string) => [
        `--param bids=nowhere: ${path.join(dir, "nowhere")}: no such file or directory`,
      ],
    ],
    [
      ["required.js"],
      [
        "parameter `site` has no default and is not given: give it with --param site=VALUE or in a --config file",
      ],
    ],
    [
      ["named.js", "--export", "a", "--param", "x=1"],
      ["--param x=1: no parameter `x` (the pipeline declares none)"],
    ],
    [
      ["smooth.js", "--param", "subjets=a", "--param", "fwhm=", "--config", "missing.json"],
      [
        "config missing.json: cannot read it: ENOENT: no such file or directory, open 'missing.json'",
        "--param subjets=a: no parameter `subjets` (known: bids, subjects, fwhm, out)",
        '--param fwhm=: expected a number, got ""',
      ],
    ],
  ])("bad parameters, all named with where they came from: %j", async (args, messages) => {
    const dir = await project(MODULES);
    const result = await memoriRun(dir, ...args);
    const expected = typeof messages === "function" ? messages(dir) : messages;
    const heading =
      expected.length === 1 ? "" : `${expected.length} problems with the parameters:\n  `;
    expect(result.stderr).toBe(`memori run: ${heading}${expected.join("\n  ")}\n`);
    expect(result.status).toBe(2);
  });

  it("a config file that is not JSON (named with its line and column), not an object, or wrong inside", async () => {
    const dir = await project({
      "broken.json": '{\n  "fwhm": 8,\n  "subjects": ["sub-01",]\n}\n',
      "list.json": "[1, 2]\n",
      "wrong.json": '{ "fwhm": "8", "subjets": [], "subjects": "sub-01" }\n',
      "good.json": '{ "fwhm": 8 }\n',
    });
    const broken = await memoriRun(dir, "smooth.js", "--config", "broken.json");
    expect(broken.status).toBe(2);
    expect(broken.stderr).toMatch(
      /^memori run: config broken\.json: not valid JSON at line 3, column 25 \(.+\)\n$/,
    );
    const list = await memoriRun(dir, "smooth.js", "--config", "list.json");
    expect(list.stderr).toBe(
      'memori run: config list.json: expected a JSON object of parameter values ({"name": value, ...}), got an array\n',
    );
    const wrong = await memoriRun(dir, "smooth.js", "--config", "wrong.json");
    expect(wrong.stderr).toBe(
      [
        "memori run: 3 problems with the parameters:",
        '  config wrong.json, "subjets": no parameter `subjets` (known: bids, subjects, fwhm, out)',
        '  config wrong.json, "subjects": expected a list of strings, got "sub-01" (string)',
        '  config wrong.json, "fwhm": expected a number, got "8" (string)',
        "",
      ].join("\n"),
    );
    // A bad value in the config is no problem when the command line gives the one used.
    const overridden = await memoriRun(
      dir,
      "smooth.js",
      "--config",
      "good.json",
      "--param",
      "fwhm=2",
      "--dry-run",
    );
    expect(overridden.status).toBe(0);
  });

  it("exits 1 when the module cannot be evaluated or makes no pipeline", async () => {
    const dir = await project(MODULES);
    const throws = await memoriRun(dir, "throws.js");
    expect(throws.status).toBe(1);
    expect(throws.stderr).toMatch(
      /^memori run: cannot load throws\.js: TypeError: Cannot read properties of undefined \(reading 'pipeline'\)\n\s+at .*throws\.js:2/,
    );
    const missing = await memoriRun(dir, "missing-dep.js");
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(
      /^memori run: cannot load missing-dep\.js: Cannot find package 'no-such-package-anywhere' imported from .*missing-dep\.js\n$/,
    );
    const builder = await memoriRun(dir, "bad-builder.js");
    expect(builder.status).toBe(1);
    expect(builder.stderr).toMatch(
      /^memori run: making the pipeline of bad-builder\.js failed: Error: the dataset is offline\n\s+at /,
    );
    const stage = await memoriRun(dir, "returns-stage.js");
    expect(stage.status).toBe(1);
    expect(stage.stderr).toBe(
      'memori run: the pipeline function of returns-stage.js returned no pipeline: it is a stage, not a pipeline: export new Pipeline([["start", stage]])\n',
    );
    const declaration = await memoriRun(dir, "bad-declaration.js");
    expect(declaration.status).toBe(1);
    expect(declaration.stderr).toBe(
      'memori run: cannot load bad-declaration.js: parameter `fwhm`: its `default`: expected a number, got "6" (string)\n',
    );
  });
});

describe("memori run --help", () => {
  it("says how to run a module, as in the README, and with a module lists its parameters", async () => {
    const dir = await project(MODULES);
    const help = await memoriRun(dir, "--help");
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^usage: memori run MODULE \[options\]\n/);
    const readme = await readFile(path.join(root, "README.md"), "utf8");
    expect(readme).toContain(help.stdout.trim());
    const withModule = await memoriRun(dir, "smooth.js", "-h");
    expect(withModule.status).toBe(0);
    const after = withModule.stdout.slice(help.stdout.length);
    expect(after).toBe(
      [
        "",
        "smooth.js: smooth each subject's T1w, then average them",
        "",
        "parameters:",
        "NAME      TYPE            DEFAULT       HELP",
        "bids      path            bids          the dataset",
        "subjects  list of string  (empty list)  subjects to include (empty: all)",
        "fwhm      number          6             kernel width",
        "out       path            derivatives",
        "",
      ].join("\n"),
    );
    const required = await memoriRun(dir, "required.js", "--help");
    expect(required.stdout).toMatch(/\nsite {2}string {2}\(required\)\nn {5}number {2}1\n$/);
    expect((await run("memori", ["--help"], dir)).stdout).toMatch(/\n {2}memori run MODULE /);
  });
});
