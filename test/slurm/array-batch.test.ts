// A map's elements as one array job (`arrayMin`), on the real cluster (scripts/slurm-local.sh;
// skipped without it, failing in CI): one `sbatch --array` for the elements that arrive
// together, each element a job of its own to SLURM (`123_4`), polled and reported alone; fewer
// elements than `arrayMin` go as jobs of their own.
import { spawn } from "node:child_process";
import { mkdir, readFile, readdir, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { evenChunks } from "../../src/slurm/array-batch.js";
import { collect, run } from "../util/cli.js";
import { record } from "../util/cohort.js";
import { hasSlurm } from "../util/slurm.js";
import { tempDir } from "../util/tmp.js";

const root = path.resolve(import.meta.dirname, "..", "..");

/** A project whose module maps a stage over numbers, each element a job (arrays from 4). */
async function project(): Promise<string> {
  const dir = await tempDir();
  await mkdir(path.join(dir, "node_modules"));
  await symlink(root, path.join(dir, "node_modules", "memori"));
  await writeFile(path.join(dir, "package.json"), '{ "type": "module" }\n');
  await writeFile(
    path.join(dir, "square.js"),
    [
      'import { MappedStage, Stage, slurmExecutor } from "memori";',
      "export const squares = new MappedStage(",
      "  new Stage(",
      "    function square(x) {",
      "      return { square: x * x, job: process.env.SLURM_JOB_ID, task: process.env.SLURM_ARRAY_TASK_ID };",
      "    },",
      "    {",
      '      hashOutput: "state",',
      "      executor: slurmExecutor({",
      '        module: import.meta.filename, exportName: "squares", arrayMin: 4,',
      "        resources: { default: { memory: 100, time: 5 } },",
      "      }),",
      "    },",
      "  ),",
      '  ["x"],',
      "  { concurrency: 16 }, // run alone, a map runs as many elements at once as there are CPUs",
      ");",
      "",
    ].join("\n"),
  );
  await writeFile(
    path.join(dir, "main.js"),
    [
      'import { squares } from "./square.js";',
      "const { output } = await squares.run({ x: JSON.parse(process.argv[2]) });",
      "const actions = squares.elementDecisions.map((d) => d.action);",
      "console.log(JSON.stringify({ output, actions }));",
      "",
    ].join("\n"),
  );
  return dir;
}

interface Ran {
  output: { square: number; job: string; task: string | undefined }[];
  actions: string[];
}

async function runMain(dir: string, xs: number[]): Promise<Ran> {
  const child = spawn(process.execPath, ["main.js", JSON.stringify(xs)], { cwd: dir });
  const ran = await collect(child);
  expect(ran.stderr).toBe("");
  expect(ran.status).toBe(0);
  return JSON.parse(ran.stdout) as Ran;
}

describe.runIf(hasSlurm())("a map's elements as one array job", () => {
  it("submits the elements that arrive together as one array, each polled as its own job", async () => {
    const dir = await project();
    const first = await runMain(dir, [1, 2, 3, 4, 5, 6]);
    expect(first.output.map((o) => o.square)).toEqual([1, 4, 9, 16, 25, 36]);
    expect(first.actions).toEqual(Array(6).fill("run"));
    // One array: its elements are jobs of their own (SLURM_JOB_ID), of one array job.
    const tasks = first.output.map((o) => Number(o.task)).sort();
    expect(tasks).toEqual([0, 1, 2, 3, 4, 5]);
    const arrays = new Set<string>();
    for (const { job } of first.output) {
      const fields = await record(job);
      expect(fields.get("JobState")).toBe("COMPLETED");
      arrays.add(fields.get("ArrayJobId") ?? "none");
    }
    expect(arrays.size).toBe(1);
    const arraysDir = path.join(dir, "state", ".memori-jobs", "square", ".arrays");
    const [array] = await readdir(arraysDir);
    const list = JSON.parse(await readFile(path.join(arraysDir, array!, "list.json"), "utf8"));
    expect(list).toHaveLength(6);
    expect(
      (await readdir(path.join(arraysDir, array!))).filter((f) => f.endsWith(".out")),
    ).toHaveLength(6);

    // Cached: nothing submitted. Two new elements (fewer than 4): a job each.
    const again = await runMain(dir, [1, 2, 3, 4, 5, 6, 7, 8]);
    expect(again.actions).toEqual([...Array(6).fill("skip"), "run", "run"]);
    const added = again.output.slice(6);
    expect(added.map((o) => o.task)).toEqual([undefined, undefined]);
    expect(added.map((o) => o.square)).toEqual([49, 64]);
    expect(await readdir(arraysDir)).toEqual([array]);
  }, 120_000);
});

describe("memori run-stage --array", () => {
  it("runs the job file at SLURM_ARRAY_TASK_ID in the list; says what is wrong otherwise", async () => {
    const dir = await tempDir();
    const list = path.join(dir, "list.json");
    await writeFile(list, JSON.stringify([path.join(dir, "a.json")]));
    const noIndex = await run("memori", ["run-stage", "--array", list], dir, {
      SLURM_ARRAY_TASK_ID: "",
    });
    expect(noIndex.status).toBe(2);
    expect(noIndex.stderr).toBe(
      `memori run-stage: --array ${list}: SLURM_ARRAY_TASK_ID is "", not an array element's index\n`,
    );
    const past = await run("memori", ["run-stage", "--array", list], dir, {
      SLURM_ARRAY_TASK_ID: "3",
    });
    expect(past.stderr).toBe(`memori run-stage: the array's list ${list} has no job file at 3\n`);
    const first = await run("memori", ["run-stage", "--array", list], dir, {
      SLURM_ARRAY_TASK_ID: "0",
    });
    expect(first.status).toBe(2);
    expect(first.stderr).toContain(`the job file ${path.join(dir, "a.json")} cannot be read`);
  });
});

describe("memori run-stage --group", () => {
  it("runs the job files of its list in turn; skips one that is gone; says what is wrong otherwise", async () => {
    const dir = await tempDir();
    const list = path.join(dir, "list.json");
    const gone = path.join(dir, "gone", "job.json");
    await writeFile(list, JSON.stringify([gone, gone]));
    // Job files removed by the submitter (their calls cancelled): skipped, nothing wrong.
    const skipped = await run("memori", ["run-stage", "--group", list], dir);
    expect(skipped.status).toBe(0);
    expect(skipped.stdout).toBe(
      `memori run-stage: ${gone}: skipped: its job file is gone (the call was cancelled)\n`.repeat(
        2,
      ),
    );
    // A job file that is there but not memori's: that call cannot run (status 2), the rest do.
    const bad = path.join(dir, "bad.json");
    await writeFile(bad, "{}");
    await writeFile(list, JSON.stringify([bad, gone]));
    const mixed = await run("memori", ["run-stage", "--group", list], dir);
    expect(mixed.status).toBe(2);
    expect(mixed.stderr).toMatch(/the job file .*bad\.json has format undefined/);
    expect(mixed.stdout).toMatch(/gone\/job\.json: skipped/);
    await writeFile(list, "[]");
    const empty = await run("memori", ["run-stage", "--group", list], dir);
    expect(empty.status).toBe(2);
    expect(empty.stderr).toBe(
      `memori run-stage: the list ${list} is not a list of job files (absolute paths)\n`,
    );
  });
});

describe("evenChunks", () => {
  it("cuts calls into the fewest runs of at most `size`, as even as can be, in order", () => {
    const items = Array.from({ length: 17 }, (_, i) => i);
    expect(evenChunks(items, 8).map((chunk) => chunk.length)).toEqual([6, 6, 5]);
    expect(evenChunks(items, 8).flat()).toEqual(items);
    expect(evenChunks(items.slice(0, 16), 8).map((chunk) => chunk.length)).toEqual([8, 8]);
    expect(evenChunks(items.slice(0, 3), 1)).toEqual([[0], [1], [2]]);
    expect(evenChunks(items.slice(0, 3), 10)).toEqual([[0, 1, 2]]);
    expect(evenChunks([], 4)).toEqual([]);
  });
});
