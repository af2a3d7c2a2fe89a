/**
 * `memori run`: pipeline modules (JavaScript and TypeScript) in a project of their own, run by
 * the built program as users run it (real processes, real files). The project finds memori as
 * an installed package would (node_modules/memori, a link to this repository).
 */
import { cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { readHistory } from "../util/run-records.js";
import { run, type Ran } from "../util/cli.js";
import { snapshotTree, memoriProject } from "../util/tmp.js";

const root = path.resolve(import.meta.dirname, "..", "..");
const fixtures = path.join(root, "test", "fixtures", "run");

/**
 * A project (`<tmp>/project`, an ES module package) holding the fixture modules named and a
 * dataset of three subjects; memori is installed one level up.
 */
async function project(...modules: string[]): Promise<string> {
  const project = await memoriProject();
  for (const module of modules) await cp(path.join(fixtures, module), path.join(project, module));
  for (const [subject, values] of [
    ["sub-01", "1 2 3"],
    ["sub-02", "4 5 6"],
    ["sub-03", "7 8 9"],
  ] as const) {
    await mkdir(path.join(project, "bids", subject), { recursive: true });
    await writeFile(path.join(project, "bids", subject, `${subject}_T1w.txt`), `${values}\n`);
  }
  return project;
}

const memoriRun = (dir: string, ...args: string[]): Promise<Ran> =>
  run("memori", ["run", ...args], dir);

/** The calls that ran so far (the modules log each one), and forget them. */
async function ran(dir: string): Promise<string[]> {
  const log = path.join(dir, "runs.log");
  let text: string;
  try {
    text = await readFile(log, "utf8");
  } catch {
    return [];
  }
  await writeFile(log, "");
  return text.split("\n").filter(Boolean).sort();
}

/** The parameter table's row for `name` on stderr (a run) or stdout (a dry run). */
function row(text: string, name: string): string[] | undefined {
  const line = text.split("\n").find((l) => l.trim().startsWith(`${name} `));
  return line?.trim().split(/\s{2,}/);
}

describe("memori run", () => {
  it("runs a JavaScript module's pipeline with its defaults, then finds it all cached", async () => {
    const dir = await project("smooth.js");
    const first = await memoriRun(dir, "smooth.js");
    expect(first.stderr).not.toMatch(/FAILED|warning/);
    expect(first.status).toBe(0);
    expect(first.stdout).toBe("");
    expect(await ran(dir)).toEqual([
      "average",
      "findT1w",
      "smooth sub-01",
      "smooth sub-02",
      "smooth sub-03",
    ]);
    expect(await readFile(path.join(dir, "derivatives", "sub-02_fwhm-6.txt"), "utf8")).toBe(
      "24 30 36\n",
    );
    expect(await readFile(path.join(dir, "derivatives", "average.txt"), "utf8")).toBe("90\n");
    expect(row(first.stderr, "bids")).toEqual(["bids", path.join(dir, "bids"), "default"]);
    expect(row(first.stderr, "subjects")).toEqual(["subjects", "(empty list)", "default"]);
    expect(first.stderr).toMatch(/pipeline done in .*: 5 ran, 0 cached, 0 failed/);

    const again = await memoriRun(dir, "smooth.js");
    expect(again.status).toBe(0);
    expect(await ran(dir)).toEqual([]);
    expect(again.stderr).toMatch(/pipeline done in .*: 0 ran, 5 cached, 0 failed/);
  });

  it("records each run: memori run, the module, its parameters and where each came from", async () => {
    const dir = await project("smooth.js");
    expect((await memoriRun(dir, "smooth.js", "--param", "fwhm=8")).status).toBe(0);
    const { records } = readHistory(path.join(dir, "derivatives", ".memori"));
    expect(records).toHaveLength(1);
    expect(records[0]!.command).toMatchObject({
      via: "run",
      module: path.join(dir, "smooth.js"),
      params: expect.arrayContaining([
        { name: "fwhm", value: "8", from: "--param" },
        { name: "subjects", value: "(empty list)", from: "default" },
      ]) as unknown,
    });
    expect(records[0]!.tasks.map((t) => `${t.stage}${t.element ? `[${t.element}]` : ""}`)).toEqual([
      "findT1w",
      "smooth[sub-01]",
      "smooth[sub-02]",
      "smooth[sub-03]",
      "average",
    ]);
    // memori log finds it from the project (derivatives/.memori, two levels down).
    const log = await run("memori", ["log"], dir);
    expect(log).toMatchObject({ status: 0, stderr: "" });
    expect(log.stdout).toMatch(/ ok +5 ran, 0 cached +memori run .*smooth\.js \(.*fwhm=8/);
  });

  // Paths inside the project (the nearest package.json above the module) are stored relative
  // to it (state/portable.ts), so a node that mounts the project elsewhere reads the same state.
  it("stores paths inside the project relative to it", async () => {
    const dir = await project("smooth.js");
    expect((await memoriRun(dir, "smooth.js")).status).toBe(0);
    const inputs = await readFile(
      path.join(dir, "derivatives", ".memori", "average.inputs"),
      "utf8",
    );
    expect(inputs).toContain('"file": "\\u0000root/derivatives/sub-01_fwhm-6.txt"');
    expect(inputs).not.toContain(dir);
  });

  it("takes parameters from defaults < a config file < --param, and says where each came from", async () => {
    const dir = await project("smooth.js");
    await mkdir(path.join(dir, "conf"));
    // A config's paths are relative to the config file.
    await writeFile(
      path.join(dir, "conf", "params.json"),
      JSON.stringify({ fwhm: 2, subjects: ["sub-01", "sub-03"], out: "../results" }),
    );
    const result = await memoriRun(
      dir,
      "smooth.js",
      "--config",
      "conf/params.json",
      "--param",
      "fwhm=10",
    );
    expect(result.stderr).not.toMatch(/FAILED/);
    expect(result.status).toBe(0);
    expect(row(result.stderr, "fwhm")).toEqual(["fwhm", "10", "--param"]);
    expect(row(result.stderr, "subjects")).toEqual([
      "subjects",
      "sub-01,sub-03",
      "config conf/params.json",
    ]);
    expect(row(result.stderr, "out")).toEqual([
      "out",
      path.join(dir, "results"),
      "config conf/params.json",
    ]);
    expect(row(result.stderr, "bids")).toEqual(["bids", path.join(dir, "bids"), "default"]);
    expect(await ran(dir)).toEqual(["average", "findT1w", "smooth sub-01", "smooth sub-03"]);
    expect(await readFile(path.join(dir, "results", "sub-03_fwhm-10.txt"), "utf8")).toBe(
      "70 80 90\n",
    );
    // --param paths are relative to the working directory; lists are comma-separated.
    await mkdir(path.join(dir, "elsewhere"));
    const fromSub = await run(
      "memori",
      ["run", "../smooth.js", "--param", "out=out2", "--param", "subjects=sub-02"],
      path.join(dir, "elsewhere"),
    );
    expect(fromSub.status).toBe(0);
    expect(row(fromSub.stderr, "out")).toEqual([
      "out",
      path.join(dir, "elsewhere", "out2"),
      "--param",
    ]);
    expect(row(fromSub.stderr, "bids")).toEqual(["bids", path.join(dir, "bids"), "default"]);
    expect(await readFile(path.join(dir, "elsewhere", "out2", "sub-02_fwhm-6.txt"), "utf8")).toBe(
      "24 30 36\n",
    );
  });

  it("runs a TypeScript module's named export, its parameters reaching the stage fed by start", async () => {
    const dir = await project("greet.ts");
    const first = await memoriRun(
      dir,
      "greet.ts",
      "--export",
      "greeting",
      "--param",
      "name=ts",
      "--param",
      "times=2",
      "--param",
      "loud=yes",
    );
    expect(first.stderr).not.toMatch(/FAILED/);
    expect(first.status).toBe(0);
    expect(await readFile(path.join(dir, "ts.txt"), "utf8")).toBe("HELLO TS\nHELLO TS\n");
    expect(row(first.stderr, "loud")).toEqual(["loud", "true", "--param"]);
    expect(row(first.stderr, "times")).toEqual(["times", "2", "--param"]);
    const again = await memoriRun(
      dir,
      "greet.ts",
      "--export=greeting",
      "--param=name=ts",
      "--param",
      "times=2",
      "--param",
      "loud=on",
    );
    expect(again.status).toBe(0);
    expect(await ran(dir)).toEqual(["greet ts"]);
    const changed = await memoriRun(dir, "greet.ts", "--export", "greeting", "--param", "name=ts");
    expect(changed.stderr).toMatch(/greet: running \(input changed: (times|loud)/);
    expect(await readFile(path.join(dir, "ts.txt"), "utf8")).toBe("hello ts\n");
  });

  it("says why a .ts module outside an ES module package cannot be loaded", async () => {
    const dir = await project("greet.ts");
    await writeFile(path.join(dir, "package.json"), '{ "name": "lab" }\n');
    const result = await memoriRun(dir, "greet.ts", "--export", "greeting");
    expect(result.status).toBe(2);
    expect(result.stderr).toBe(
      `memori run: greet.ts would load as CommonJS: its package, ${path.join(dir, "package.json")}, has no "type": "module", and memori is an ES module, which CommonJS cannot require. Add "type": "module" to the package.json, or name the module greet.mts\n`,
    );
    await cp(path.join(dir, "greet.ts"), path.join(dir, "greet.mts"));
    expect((await memoriRun(dir, "greet.mts", "--export", "greeting")).status).toBe(0);
    expect(await ran(dir)).toEqual(["greet world"]);
  });

  it("--dry-run prints the parameters and what would run, and writes nothing", async () => {
    const dir = await project("smooth.js");
    const before = await snapshotTree(dir);
    const dry = await memoriRun(dir, "smooth.js", "--dry-run", "--param", "fwhm=3");
    expect(dry.stderr).toBe("");
    expect(dry.status).toBe(0);
    // The cheap listing was called (it logs that), and nothing else ran or was written.
    expect(await ran(dir)).toEqual(["findT1w"]);
    await rm(path.join(dir, "runs.log"));
    expect(await snapshotTree(dir)).toBe(before);
    expect(row(dry.stdout, "fwhm")).toEqual(["fwhm", "3", "--param"]);
    const table = dry.stdout.slice(dry.stdout.indexOf("STAGE"));
    expect(table.split("\n").map((l) => l.trim().split(/\s{2,}/))).toEqual([
      ["STAGE", "ACTION", "REASON"],
      ["findT1w", "run", "first run"],
      ["smooth", "run", "first run"],
      ["smooth[sub-01]", "run", "first run"],
      ["smooth[sub-02]", "run", "first run"],
      ["smooth[sub-03]", "run", "first run"],
      // No state yet: it runs whatever smooth gives it.
      ["average", "run", "first run"],
      [""],
    ]);
    expect((await memoriRun(dir, "smooth.js", "--param", "fwhm=3")).status).toBe(0);
    await writeFile(path.join(dir, "bids", "sub-02", "sub-02_T1w.txt"), "0 0 0\n");
    const after = await memoriRun(
      dir,
      "smooth.js",
      "--dry-run",
      "--param",
      "fwhm=3",
      "--only",
      "sub-02",
    );
    expect(after.status).toBe(0);
    const lines = after.stdout.slice(after.stdout.indexOf("STAGE")).split("\n");
    expect(lines.map((l) => l.trim().split(/\s{2,}/)[0])).toEqual([
      "STAGE",
      "findT1w",
      "smooth (1 of 3 elements)",
      "smooth[sub-02]",
      "average",
      "",
    ]);
    expect(lines[3]).toMatch(/run\s+input changed: t1w \(.*sub-02_T1w\.txt@/);
    // The listing returns the file, so it counts as the listing's output (by content).
    expect(lines[1]).toMatch(/findT1w\s+run\s+output modified: .*sub-02_T1w\.txt$/);
  });

  it("--target runs only what the stage needs; a later full run finds that part cached", async () => {
    const dir = await project("smooth.js");
    const target = await memoriRun(dir, "smooth.js", "--target", "findT1w");
    expect(target.status).toBe(0);
    expect(await ran(dir)).toEqual(["findT1w"]);
    expect(target.stderr).toMatch(/pipeline done in .*: 1 ran, 0 cached, 0 failed/);
    const full = await memoriRun(dir, "smooth.js");
    expect(full.status).toBe(0);
    expect(await ran(dir)).toEqual(["average", "smooth sub-01", "smooth sub-02", "smooth sub-03"]);
    const unknown = await memoriRun(dir, "smooth.js", "--target", "smoth");
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toBe(
      'memori run: --target: pipeline: no stage named "smoth"; its stages are "findT1w", "smooth", "average".\n',
    );
  });

  it("--only chooses map elements in a dry run and in a run; what needs all of them is left out", async () => {
    const dir = await project("smooth.js");
    const dry = await memoriRun(
      dir,
      "smooth.js",
      "--dry-run",
      "--only",
      "sub-03",
      "--only",
      "sub-01",
    );
    expect(dry.status).toBe(0);
    expect(dry.stdout).toMatch(
      /smooth \(2 of 3 elements\)\s+run\s+first run\n\s+smooth\[sub-01\]\s+run\s+first run\n\s+smooth\[sub-03\]/,
    );
    expect(dry.stdout).not.toMatch(/sub-02\]/);
    // The average needs every element: the run leaves it out, so the dry run does not say
    // it runs (it has no state; without --only it would).
    expect(dry.stdout).toMatch(/\naverage\s+run-if-upstream-changes\s+/);
    const typo = await memoriRun(dir, "smooth.js", "--dry-run", "--only", "sub-3");
    expect(typo.status).toBe(2);
    expect(typo.stderr).toBe(
      "memori run: --only sub-3: no element the dry run knows has this label; the labels are sub-01, sub-02, sub-03\n",
    );
    expect(await ran(dir)).toEqual(["findT1w", "findT1w"]); // each dry run called the listing
    // A run of one subject: its element runs; the group average, which needs all, is left out.
    const real = await memoriRun(dir, "smooth.js", "--only", "sub-01");
    expect(real.status, real.stderr).toBe(0);
    expect(await ran(dir)).toEqual(["findT1w", "smooth sub-01"]);
    expect(real.stderr).toMatch(/pipeline done in .*: 2 ran, 0 cached, 0 failed, 3 left out/);
    await expect(readFile(path.join(dir, "derivatives", "average.txt"))).rejects.toThrow();
    // The full run finds that subject cached, and runs the rest.
    const full = await memoriRun(dir, "smooth.js");
    expect(full.status).toBe(0);
    expect(await ran(dir)).toEqual(["average", "smooth sub-02", "smooth sub-03"]);
    const again = await memoriRun(dir, "smooth.js", "--only", "sub-02");
    expect(again.stderr).toMatch(/: 0 ran, 2 cached, 0 failed, 3 left out/);
    // A label no element has ran nothing for it: a usage error.
    const none = await memoriRun(dir, "smooth.js", "--only", "sub-9");
    expect(none.status).toBe(2);
    expect(none.stderr).toContain(
      "memori run: --only sub-9: no map element had this label; nothing ran for it\n",
    );
  });

  it("exits 1 naming what failed; with --keep-going the rest runs; a re-run resumes", async () => {
    const dir = await project("smooth.js");
    const bad = path.join(dir, "bids", "sub-02", "sub-02_T1w.txt");
    await writeFile(bad, "corrupt\n");
    const failed = await memoriRun(dir, "smooth.js", "--concurrency", "1");
    expect(failed.status).toBe(1);
    expect(failed.stderr).toMatch(
      /\nmemori run: pipeline: stage "smooth" element sub-02 failed with inputs \{.*\}: sub-02_T1w\.txt is corrupt\./,
    );
    expect(await ran(dir)).toEqual(["findT1w", "smooth sub-01", "smooth sub-02"]);

    const going = await memoriRun(dir, "smooth.js", "--keep-going");
    expect(going.status).toBe(1);
    expect(going.stderr).toMatch(
      /memori run: pipeline: 1 stage failed \("smooth\[sub-02\]"\); not run because they depend on them: "average":\n {2}- pipeline: stage "smooth" element sub-02 failed/,
    );
    expect(await ran(dir)).toEqual(["smooth sub-02", "smooth sub-03"]);

    await writeFile(bad, "4 5 6\n");
    const fixed = await memoriRun(dir, "smooth.js");
    expect(fixed.status).toBe(0);
    expect(await ran(dir)).toEqual(["average", "findT1w", "smooth sub-02"]);
  });

  it("--concurrency bounds how many calls run at once", async () => {
    const dir = await project();
    await writeFile(
      path.join(dir, "overlap.js"),
      `import { appendFileSync } from "node:fs";
import { MappedStage, Pipeline, Stage } from "memori";
const log = new URL("./events.log", import.meta.url);
const work = new MappedStage(
  new Stage(async function work(i) {
    appendFileSync(log, "start\\n");
    await new Promise((done) => setTimeout(done, 200));
    appendFileSync(log, "end\\n");
    return i;
  }),
  ["i"],
);
const list = new Stage(() => [1, 2, 3], { name: "list", outputs: "i" });
// The module's own listener hears the run, beside memori run's reporter.
// It fails on the other events, synchronously or not: that must not break the run.
const onEvent = (event) => {
  if (event.type === "pipeline:done") appendFileSync(log, "done\\n");
  else if (event.type === "stage:start") throw new Error("listener broke");
  else return Promise.reject(new Error("listener rejected"));
};
export default new Pipeline([["start", list], [list, work]], { onEvent });
`,
    );
    const events = async () => {
      const text = await readFile(path.join(dir, "events.log"), "utf8");
      await writeFile(path.join(dir, "events.log"), "");
      return text.trim().split("\n");
    };
    const one = await memoriRun(dir, "overlap.js", "--concurrency", "1", "--executor", "local");
    expect(one.status).toBe(0);
    expect(one.stderr).toMatch(/pipeline done in .*: 4 ran, 0 cached, 0 failed/);
    expect(await events()).toEqual(["start", "end", "start", "end", "start", "end", "done"]);
    expect((await memoriRun(dir, "overlap.js", "--concurrency", "3")).status).toBe(0);
    expect(await events()).toEqual(["start", "start", "start", "end", "end", "end", "done"]);
  });
});
