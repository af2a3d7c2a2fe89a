/**
 * The package as users get it: `npm pack` in a fresh copy of the repository (what a clone
 * holds: no dist/, so `prepare` must build it), the tarball installed into a new project with
 * `"type": "module"`, and from there a pipeline through the API, a TypeScript pipeline module
 * through `memori run`, and both programs from node_modules/.bin. Real npm, real processes,
 * offline-friendly: the install uses npm's own cache (`--prefer-offline`), which `npm ci`
 * filled with every dependency. About 20 s on an idle machine, most of it the build.
 */
import { execFile, execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "..", "..");
const exec = promisify(execFile);

/** npm's cache: the one `npm ci` filled (installing from it needs no network). */
const npmCache =
  process.env.npm_config_cache ??
  execFileSync("npm", ["config", "get", "cache"], { encoding: "utf8" }).trim();

async function npm(args: string[], cwd: string): Promise<string> {
  const { stdout } = await exec("npm", [...args, "--cache", npmCache], {
    cwd,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

/** Run a program of the project, or Node, with the output of both streams. */
async function inProject(
  program: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ stdout: string; stderr: string }> {
  return exec(program, args, { cwd, encoding: "utf8", env: { ...process.env, ...env } });
}

/** A copy of the repository as a clone has it: the files git knows, no dist/, no node_modules. */
async function freshCopy(to: string): Promise<void> {
  const listed = execFileSync(
    "git",
    ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    { cwd: root, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
  );
  for (const file of listed.split("\0").filter(Boolean)) {
    const from = path.join(root, file);
    if (!existsSync(from)) continue; // deleted in the work tree, not yet in a commit
    await mkdir(path.dirname(path.join(to, file)), { recursive: true });
    await copyFile(from, path.join(to, file));
  }
  // The development dependencies the build needs, as `npm ci` would install them.
  await symlink(path.join(root, "node_modules"), path.join(to, "node_modules"));
}

/** The consumer's pipeline, through the API: a map over subjects, processes, captured output. */
const PIPELINE_JS = `
import { writeFile } from "node:fs/promises";
import { MappedStage, Pipeline, ProcessFailedError, Stage, runProcess } from "memori";

const hashOutput = ".memori";
const subjects = ["sub-01", "sub-02", "sub-03"];
for (const subject of subjects) await writeFile(\`\${subject}_T1w.txt\`, \`\${subject} voxels\\n\`);

const list = new Stage(
  function listInputs(subjects) {
    return subjects.map((subject) => \`\${subject}_T1w.txt\`);
  },
  { outputs: "t1w", hashOutput },
);
const upper = new MappedStage(
  new Stage(
    async function brainExtract(t1w) {
      const brain = t1w.replace("_T1w", "_brain");
      await runProcess(\`echo ran >> runs.log; tr a-z A-Z < \${t1w} > \${brain}\`);
      return brain;
    },
    { outputs: "brain", hashOutput },
  ),
  ["t1w"],
);
const count = new Stage(
  async function countBytes(brain) {
    const { stdout } = await runProcess(["cat", ...brain], { capture: true });
    return stdout.length;
  },
  { outputs: "bytes", hashOutput },
);
const pipeline = new Pipeline([
  ["start", list],
  [list, upper],
  [upper, count],
]);
const results = await pipeline.run(subjects);
const failed = await runProcess("exit 3").catch((error) => error);
console.log(
  JSON.stringify({
    bytes: results.bytes,
    actions: pipeline.decisions.map((d) => \`\${d.stage}:\${d.action}\`),
    failed: failed instanceof ProcessFailedError ? failed.exitCode : "resolved",
  }),
);
`;

/** A pipeline module for `memori run`, in TypeScript (loaded by the package's tsx). */
const PIPELINE_TS = `
import { writeFile } from "node:fs/promises";
import { Pipeline, Stage, definePipeline } from "memori";

export default definePipeline({
  params: { greeting: { type: "string", default: "hello" } },
  pipeline: () => {
    const greet = new Stage(
      async function greet(greeting: string): Promise<string> {
        await writeFile("greeting.txt", \`\${greeting.toUpperCase()}\\n\`);
        return "greeting.txt";
      },
      { outputs: "file", hashOutput: ".memori-run" },
    );
    return new Pipeline([["start", greet]]);
  },
});
`;

let work: string;
let project: string;
let packSeconds: number;
let installSeconds: number;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), "memori-package-"));
  const clone = path.join(work, "clone");
  project = path.join(work, "project");
  await mkdir(project);
  await freshCopy(clone);
  let started = Date.now();
  const [{ filename }] = JSON.parse(
    await npm(["pack", "--json", "--pack-destination", work], clone),
  ) as [{ filename: string }];
  packSeconds = (Date.now() - started) / 1000;
  await writeFile(
    path.join(project, "package.json"),
    JSON.stringify({ name: "user-project", private: true, type: "module" }),
  );
  started = Date.now();
  await npm(
    ["install", "--prefer-offline", "--no-audit", "--no-fund", path.join(work, filename)],
    project,
  );
  installSeconds = (Date.now() - started) / 1000;
}, 300_000);

afterAll(async () => {
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

describe("the package, packed from a fresh clone and installed into a new project", () => {
  it("was built by npm pack: the tarball holds dist/ (and no source maps)", async () => {
    const installed = path.join(project, "node_modules", "memori");
    expect(existsSync(path.join(installed, "dist", "index.js"))).toBe(true);
    expect(existsSync(path.join(installed, "dist", "index.d.ts"))).toBe(true);
    expect(existsSync(path.join(installed, "dist", "cli", "memori.bundle.cache"))).toBe(true);
    expect(existsSync(path.join(installed, "dist", "index.js.map"))).toBe(false);
    expect(existsSync(path.join(installed, "src"))).toBe(false);
    // Said on the test's output: how long packing (the build) and installing took.
    console.log(`npm pack (with the build) ${packSeconds} s, npm install ${installSeconds} s`);
  });

  it("runs a pipeline through the API, then again from its state", async () => {
    await writeFile(path.join(project, "pipeline.js"), PIPELINE_JS);
    const first = JSON.parse((await inProject(process.execPath, ["pipeline.js"], project)).stdout);
    expect(first).toEqual({
      bytes: 42,
      actions: ["listInputs:run", "brainExtract:run", "countBytes:run"],
      failed: 3,
    });
    expect(await readFile(path.join(project, "sub-02_brain.txt"), "utf8")).toBe("SUB-02 VOXELS\n");
    const second = JSON.parse((await inProject(process.execPath, ["pipeline.js"], project)).stdout);
    expect(second).toEqual({
      bytes: 42,
      actions: ["listInputs:skip", "brainExtract:skip", "countBytes:skip"],
      failed: 3,
    });
    expect(await readFile(path.join(project, "runs.log"), "utf8")).toBe("ran\nran\nran\n");
  });

  it("runs a TypeScript pipeline module with `memori run` from node_modules/.bin", async () => {
    await writeFile(path.join(project, "pipeline.ts"), PIPELINE_TS);
    const memori = path.join(project, "node_modules", ".bin", "memori");
    const run = ["run", "pipeline.ts", "--param", "greeting=hi"];
    const first = await inProject(memori, run, project);
    expect(first.stderr).toMatch(/greeting +hi +--param/);
    expect(first.stderr).toContain("1 ran, 0 cached, 0 failed");
    expect(await readFile(path.join(project, "greeting.txt"), "utf8")).toBe("HI\n");
    const second = await inProject(memori, run, project);
    expect(second.stderr).toContain("0 ran, 1 cached, 0 failed");
  });

  // Through npx, the script that called memori is npx's caller, not npx: -k kills the script.
  it("memori -k through npx kills the calling script, not npx", async () => {
    const script = "npx --no-install memori -k -- false; echo script-survived";
    const killed = await inProject("bash", ["-c", script], project).catch(
      (error: unknown) => error,
    );
    const result = killed as { signal?: string | null; stdout?: string };
    expect(result.signal).toBe("SIGKILL");
    expect(result.stdout ?? "").not.toMatch(/script-survived/);
    const fine = await inProject(
      "bash",
      ["-c", "npx --no-install memori -k -- true; echo ok"],
      project,
    );
    expect(fine.stdout).toMatch(/ok/);
  });

  it("provides both programs in node_modules/.bin, each run from its code cache", async () => {
    const bin = (name: string) => path.join(project, "node_modules", ".bin", name);
    const debug = { MEMORI_CODE_CACHE_DEBUG: "1" };
    const first = await inProject(
      bin("memori"),
      ["-d", "cache", "echo", "installed"],
      project,
      debug,
    );
    expect(first.stdout).toBe("installed\n");
    // The shipped cache names the clone it was built in: the project's first start of memori
    // (a test above) compiled the program and wrote a cache for this place, which later starts
    // take (test/cli/launch.test.ts); pathman's first start is the one below.
    expect(first.stderr).toContain("memori: code cache accepted\n");
    const cache = path.join(
      project,
      "node_modules",
      "memori",
      "dist",
      "cli",
      "memori.bundle.cache",
    );
    const header = (await readFile(cache, "latin1")).split("\n", 1)[0]!;
    expect(header).toContain(JSON.stringify(path.join(path.dirname(cache), "memori.bundle.cjs")));
    const second = await inProject(
      bin("memori"),
      ["-d", "cache", "echo", "installed"],
      project,
      debug,
    );
    expect(second).toEqual({ stdout: "", stderr: "memori: code cache accepted\n" }); // skipped
    const pathman = () =>
      inProject(
        bin("pathman"),
        ["/d/sub-01_T1w.nii.gz", "get_prefix", "append_suffix", "_brain"],
        project,
        debug,
      );
    for (const state of ["foreign", "accepted"]) {
      expect(await pathman()).toEqual({
        stdout: "sub-01_T1w_brain\n",
        stderr: `memori: code cache ${state}\n`,
      });
    }
  });

  it("loads from CommonJS: require() where Node can require an ES module, import() anywhere", async () => {
    // Node 20.19 and later (22.12 and later) require ES modules; earlier ones only import them.
    const canRequire = (process.features as { require_module?: boolean }).require_module === true;
    const script = canRequire
      ? `
      const required = require("memori");
      import("memori").then((imported) =>
        console.log(typeof required.Stage, imported.Stage === required.Stage),
      );
    `
      : `import("memori").then((imported) => console.log(typeof imported.Stage, true));`;
    await writeFile(path.join(project, "common.cjs"), script);
    const { stdout } = await inProject(process.execPath, ["common.cjs"], project);
    expect(stdout).toBe("function true\n");
  });

  it("gives stack traces that point at files the package holds, source maps enabled or not", async () => {
    const script = `
      import { Stage } from "memori";
      try { new Stage(() => 1); } catch (error) { console.log(error.stack); }
    `;
    await writeFile(path.join(project, "stack.js"), script);
    for (const flags of [[], ["--enable-source-maps"]]) {
      // From the code cache the project's first import of memori wrote (the tarball's names the
      // clone it was built in, where V8 would have the frames point).
      const debug = { MEMORI_CODE_CACHE_DEBUG: "1" };
      const { stdout, stderr } = await inProject(
        process.execPath,
        [...flags, "stack.js"],
        project,
        debug,
      );
      expect(stderr).toBe("memori library: code cache accepted\n");
      const files = [...stdout.matchAll(/\((?:file:\/\/)?([^():]+):\d+:\d+\)/g)].map((m) => m[1]!);
      // Frames in memori's own code among them; each file named exists (not src/*.ts).
      expect(files.some((file) => file.includes(path.join("node_modules", "memori")))).toBe(true);
      for (const file of files) expect(existsSync(file), file).toBe(true);
    }
  });
});
