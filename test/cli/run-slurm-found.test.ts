/**
 * What a SLURM job's code found, recorded as the job saw it, and the environment a job runs
 * with: on the real one-node cluster (scripts/slurm-local.sh; skipped without one, failing in
 * CI), by the built program. A call run as a job must be recorded as a call run here would be:
 * a folder it listed as it listed it (not as it is when the submitter commits), where the paths
 * it resolved led, and the environment variables its state names, with the values it ran with.
 */
import { mkdir, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { collect, run, start } from "../util/cli.js";
import { hasSlurm } from "../util/slurm.js";
import { memoriProject } from "../util/tmp.js";

/** A project holding `pipe.mjs` (with `body` after memori's imports), memori installed. */
async function project(body: string): Promise<string> {
  const project = await memoriProject();
  await writeFile(
    path.join(project, "pipe.mjs"),
    `import fs from "node:fs";
import path from "node:path";
import { Pipeline, Stage, definePipeline } from "memori";
const hashOutput = path.join(import.meta.dirname, ".memori");
${body}`,
  );
  return project;
}

/** Whether a job log (`*.err`) under `jobs` holds `text`. */
async function jobSaid(jobs: string, text: string): Promise<boolean> {
  const names = await readdir(jobs, { recursive: true }).catch(() => [] as string[]);
  for (const name of names.filter((n) => n.endsWith(".err"))) {
    const log = await readFile(path.join(jobs, name), "utf8").catch(() => "");
    if (log.includes(text)) return true;
  }
  return false;
}

async function until(what: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await what())) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Decisions on stderr (the stage's logger). */
const VERBOSE = { MEMORI_VERBOSE: "1" };

/** The line `memori run` printed for the stage's decision. */
const decided = (text: string, stage: string) =>
  text.split("\n").find((line) => line.includes(`stage "${stage}"`)) ?? text;

describe.runIf(hasSlurm())("what a SLURM job found, recorded as it found it", () => {
  it("a folder the job listed is recorded as the job listed it: a file added while it ran runs it again", async () => {
    // The stage lists data/ (a folder it is not given), says so on stderr (the job's log), and
    // works on for 4 s, while the test adds a file there.
    const dir = await project(`
function total(tag) {
  const names = fs.readdirSync("data").sort();
  console.error("listed");
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 4000);
  return tag + ":" + names.join(",");
}
export default definePipeline({
  params: { tag: { type: "string", default: "t" } },
  pipeline: () => new Pipeline([["start", new Stage(total, { outputs: "total", hashOutput })]]),
});
`);
    await mkdir(path.join(dir, "data"));
    await writeFile(path.join(dir, "data", "a.txt"), "1\n");
    await writeFile(path.join(dir, "data", "b.txt"), "2\n");
    const first = start("memori", ["run", "pipe.mjs", "--executor", "slurm"], dir);
    const ended = collect(first);
    await until(() => jobSaid(path.join(dir, ".memori", ".memori-jobs"), "listed"));
    await writeFile(path.join(dir, "data", "c.txt"), "4\n"); // after the job listed data/
    const ran = await ended;
    expect(ran.status, ran.stderr).toBe(0);
    const stored = await readFile(path.join(dir, ".memori", "total.outputs"), "utf8");
    expect(stored).toContain('"t:a.txt,b.txt"');

    // data/ holds c.txt, which the result was not made from: the call runs again.
    const again = await run("memori", ["run", "pipe.mjs", "--executor", "slurm"], dir, VERBOSE);
    expect(again.status, again.stderr).toBe(0);
    expect(decided(again.stderr, "total")).toMatch(/running \(input changed: list:data/);
    expect(await readFile(path.join(dir, ".memori", "total.outputs"), "utf8")).toContain(
      '"t:a.txt,b.txt,c.txt"',
    );
    const third = await run("memori", ["run", "pipe.mjs", "--executor", "slurm"], dir, VERBOSE);
    expect(decided(third.stderr, "total")).toMatch(/skipped \(cached\)/);
  }, 180_000);

  it("where a path the job resolved led is recorded: a link re-pointed at a copy runs it again", async () => {
    const dir = await project(`
function resolveCurrent(tag) {
  const real = fs.realpathSync("current");
  return tag + ":" + path.basename(real) + ":" + fs.readFileSync(real, "utf8").trim();
}
export default definePipeline({
  params: { tag: { type: "string", default: "t" } },
  pipeline: () => new Pipeline([["start", new Stage(resolveCurrent, { outputs: "out", hashOutput })]]),
});
`);
    await writeFile(path.join(dir, "v1.txt"), "same\n");
    await writeFile(path.join(dir, "v2.txt"), "same\n");
    await symlink("v1.txt", path.join(dir, "current"));
    const first = await run("memori", ["run", "pipe.mjs", "--executor", "slurm"], dir);
    expect(first.status, first.stderr).toBe(0);
    const inputs = await readFile(path.join(dir, ".memori", "resolveCurrent.inputs"), "utf8");
    expect(inputs).toContain('"link:current"');
    expect(await readFile(path.join(dir, ".memori", "resolveCurrent.outputs"), "utf8")).toContain(
      '"t:v1.txt:same"',
    );

    await rm(path.join(dir, "current"));
    await symlink("v2.txt", path.join(dir, "current")); // the same bytes, another file
    const again = await run("memori", ["run", "pipe.mjs", "--executor", "slurm"], dir, VERBOSE);
    expect(again.status, again.stderr).toBe(0);
    expect(decided(again.stderr, "resolveCurrent")).toMatch(/input changed: link:current/);
    expect(await readFile(path.join(dir, ".memori", "resolveCurrent.outputs"), "utf8")).toContain(
      '"t:v2.txt:same"',
    );
  }, 180_000);

  it("a job runs with the environment variables its state records, whatever sbatch exports", async () => {
    // --export=NONE: the job's environment would not hold OUTTYPE.
    const dir = await project(`
function convert(name) {
  const config = process.env.CONFIG;
  const setting = config === undefined ? "" : "+" + fs.readFileSync(config, "utf8").trim();
  return name + "." + (process.env.OUTTYPE ?? "(unset)") + setting;
}
export default definePipeline({
  params: { name: { type: "string", default: "img" } },
  resources: { default: { sbatchArgs: ["--export=NONE"] } },
  pipeline: () => new Pipeline([["start", new Stage(convert, { outputs: "out", env: ["OUTTYPE", "CONFIG"], hashOutput })]]),
});
`);
    // A variable that names a file (FSLDIR, a config file) reaches the job as the path.
    const config = path.join(dir, "setting.cfg");
    await writeFile(config, "fast\n");
    const env = { OUTTYPE: "NIFTI_GZ", CONFIG: config };
    const first = await run("memori", ["run", "pipe.mjs", "--executor", "slurm"], dir, env);
    expect(first.status, first.stderr).toBe(0);
    const outputs = () => readFile(path.join(dir, ".memori", "convert.outputs"), "utf8");
    const inputs = await readFile(path.join(dir, ".memori", "convert.inputs"), "utf8");
    expect(inputs).toContain('"env:OUTTYPE": "NIFTI_GZ"');
    expect(await outputs()).toContain('"img.NIFTI_GZ+fast"');

    // Unset here: recorded unset, and the job runs without it.
    const unset = await run("memori", ["run", "pipe.mjs", "--executor", "slurm"], dir, {
      OUTTYPE: undefined,
      CONFIG: undefined,
    });
    expect(unset.status, unset.stderr).toBe(0);
    expect(await outputs()).toContain('"img.(unset)"');
    // And a local run with the variable set is not served the job's value.
    const local = await run("memori", ["run", "pipe.mjs"], dir, { ...env, ...VERBOSE });
    expect(decided(local.stderr, "convert")).toMatch(/input changed: env:/);
    expect(await outputs()).toContain('"img.NIFTI_GZ+fast"');
  }, 180_000);
});
