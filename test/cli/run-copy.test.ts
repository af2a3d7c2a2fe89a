/**
 * A project copied whole (`cp -a`, its state with it) and run with `memori run` from a
 * directory above both copies (H10, finding F4): what its code found (`list:`, `link:`,
 * `read:`) is recorded relative to the project (`MEMORI_ROOT`, which `memori run` sets), so
 * the copy lists its own folder, resolves its own link and reads its own file, never the
 * original's. Real processes, real files.
 */
import { execFileSync } from "node:child_process";
import { appendFile, mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { run, type Ran } from "../util/cli.js";
import { tempDir } from "../util/tmp.js";

const root = path.resolve(import.meta.dirname, "..", "..");

/** Three stages, each finding something of the project's own (no argument names it). */
const PIPELINE = `import fs from "node:fs";
import path from "node:path";
import { Pipeline, Stage, definePipeline } from "memori";
// import.meta.dirname, not a constant of the module: the project's path is in no identity.
function subjects(tag) {
  const here = import.meta.dirname;
  return tag + ":" + fs.readdirSync(path.join(here, "data")).sort().join(",");
}
function current(tag) {
  const here = import.meta.dirname;
  const real = fs.realpathSync(path.join(here, "current"));
  return tag + ":" + path.relative(here, real) + ":" + fs.readFileSync(real, "utf8").trim();
}
function notes(tag) {
  const here = import.meta.dirname;
  return tag + ":" + fs.readFileSync(path.join(here, "notes.txt"), "utf8").trim();
}
function sized(tag, file) {
  return tag + ":" + fs.statSync(file).size;
}
const hashOutput = path.join(import.meta.dirname, ".memori");
// A file given as an argument, by the path the module finds itself at (its real path).
const args = { file: path.join(import.meta.dirname, "notes.txt") };
export default definePipeline({
  params: { tag: { type: "string", default: "t" } },
  pipeline: () =>
    new Pipeline([
      ["start", new Stage(subjects, { outputs: "subjects", hashOutput })],
      ["start", new Stage(current, { outputs: "current", hashOutput })],
      ["start", new Stage(notes, { outputs: "notes", hashOutput })],
      ["start", new Stage(sized, { outputs: "sized", hashOutput, args })],
    ]),
});
`;

/** `<tmp>/study`: a package with the pipeline, data/ (a, b), current -> v1.txt, notes.txt. */
async function study(): Promise<{ top: string; original: string; copy: string }> {
  const top = await tempDir();
  await mkdir(path.join(top, "node_modules"));
  await symlink(root, path.join(top, "node_modules", "memori"));
  const original = path.join(top, "study");
  await mkdir(path.join(original, "data"), { recursive: true });
  await writeFile(path.join(original, "package.json"), '{ "type": "module" }\n');
  await writeFile(path.join(original, "pipe.mjs"), PIPELINE);
  await writeFile(path.join(original, "data", "a.txt"), "1\n");
  await writeFile(path.join(original, "data", "b.txt"), "2\n");
  await writeFile(path.join(original, "v1.txt"), "same\n");
  await writeFile(path.join(original, "v2.txt"), "same\n");
  await symlink("v1.txt", path.join(original, "current"));
  await writeFile(path.join(original, "notes.txt"), "notes\n");
  return { top, original, copy: path.join(top, "study2") };
}

/** `memori run <project>/pipe.mjs` from `cwd` (above the project), saying why each stage ran. */
function memoriRun(cwd: string, project: string, ...args: string[]): Promise<Ran> {
  return run("memori", ["run", path.join(project, "pipe.mjs"), ...args], cwd, {
    MEMORI_ROOT: "",
    MEMORI_VERBOSE: "1",
  });
}

/** What each stage did: `running (<reason>)`, `skipped (cached)`. */
function actions(ran: Ran): Record<string, string> {
  expect(ran.status, ran.stderr).toBe(0);
  const out: Record<string, string> = {};
  for (const [, name, action] of ran.stderr.matchAll(/^memori: stage "(\w+)": (.*)$/gm))
    out[name!] = action!;
  return out;
}

/** A stage's result, as its state holds it. */
async function result(project: string, stage: string): Promise<string> {
  const text = await readFile(path.join(project, ".memori", `${stage}.outputs`), "utf8");
  return (JSON.parse(text) as { outputs: Record<string, string> }).outputs[stage]!;
}

const cached = "skipped (cached)";

describe("a copy of a project, run from a directory above it (H10 F4)", () => {
  it("lists its own folder: a subject added to the copy runs the stage there", async () => {
    const { top, original, copy } = await study();
    expect(Object.values(actions(await memoriRun(top, original)))).toEqual([
      "running (first run)",
      "running (first run)",
      "running (first run)",
      "running (first run)",
    ]);
    execFileSync("cp", ["-a", original, copy]);
    await writeFile(path.join(copy, "data", "c.txt"), "4\n");

    const there = actions(await memoriRun(top, copy));
    expect(there.subjects).toMatch(
      new RegExp(`^running \\(input changed: list:${copy}/data \\("listing:`),
    );
    // Its link and file are the copy's, as they were the original's: nothing else runs.
    expect(there).toMatchObject({ current: cached, notes: cached, sized: cached });
    expect(await result(copy, "subjects")).toBe("t:a.txt,b.txt,c.txt");
    expect(await result(copy, "current")).toBe("t:v1.txt:same");
    // The copy's state names its paths relative to its project, none of the original's.
    const inputs = await readFile(path.join(copy, ".memori", "subjects.inputs"), "utf8");
    expect(inputs).toContain('"list:\\u0000root/data"');
    expect(inputs).not.toContain(original + path.sep);

    // Each copy hits its own state, with its own result.
    expect(actions(await memoriRun(top, copy))).toEqual({
      subjects: cached,
      current: cached,
      notes: cached,
      sized: cached,
    });
    expect(actions(await memoriRun(top, original))).toEqual({
      subjects: cached,
      current: cached,
      notes: cached,
      sized: cached,
    });
    expect(await result(original, "subjects")).toBe("t:a.txt,b.txt");
  }, 60_000);

  it("resolves its own link and reads its own file", async () => {
    const { top, original, copy } = await study();
    actions(await memoriRun(top, original));
    execFileSync("cp", ["-a", original, copy]);
    // Re-pointed at a file with the same bytes, in the copy only; the copy's notes edited.
    execFileSync("ln", ["-sfn", "v2.txt", path.join(copy, "current")]);
    await appendFile(path.join(copy, "notes.txt"), "more\n");

    // A dry run says what the run then does, with the copy's paths.
    const dry = await memoriRun(top, copy, "--dry-run");
    expect(dry.status, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/subjects\s+skip/);
    expect(dry.stdout).toContain(`input changed: link:${copy}/current ("${copy}/v1.txt" -> "`);
    expect(dry.stdout).toContain(`input changed: read:${copy}/notes.txt`);

    const there = actions(await memoriRun(top, copy));
    expect(there).toMatchObject({ subjects: cached });
    expect(there.current).toBe(
      `running (input changed: link:${copy}/current ("${copy}/v1.txt" -> "${copy}/v2.txt"))`,
    );
    expect(there.notes).toMatch(new RegExp(`^running \\(input changed: read:${copy}/notes.txt`));
    expect(await result(copy, "current")).toBe("t:v2.txt:same");
    expect(await result(copy, "notes")).toBe("t:notes\nmore");
    expect(await result(original, "current")).toBe("t:v1.txt:same");
    expect(actions(await memoriRun(top, original))).toMatchObject({
      current: cached,
      notes: cached,
      sized: cached,
    });
  }, 60_000);

  // R11 F3: `memori cache` sets no root; accepting a state wrote it back with absolute paths.
  it("stays portable when `memori cache accept` (no root) rewrote the state", async () => {
    const { top, original, copy } = await study();
    actions(await memoriRun(top, original));
    const accept = await run(
      "memori",
      ["cache", "accept", path.join(original, ".memori"), "subjects"],
      top,
      { MEMORI_ROOT: "" },
    );
    expect(accept.status, accept.stderr).toBe(0);
    const inputs = await readFile(path.join(original, ".memori", "subjects.inputs"), "utf8");
    expect(inputs).toContain('"list:\\u0000root/data"');
    execFileSync("cp", ["-a", original, copy]);
    await writeFile(path.join(copy, "data", "c.txt"), "4\n");
    expect(actions(await memoriRun(top, copy)).subjects).toMatch(/^running \(input changed: list:/);
    expect(await result(copy, "subjects")).toBe("t:a.txt,b.txt,c.txt");
  }, 60_000);

  // R11 F4: a project reached through a link (`/lab/study -> /gpfs/...`): the code finds real
  // paths, which are inside the root all the same.
  it("is run through a link to the folder that holds it, with no stale result and no needless run", async () => {
    const { top, original } = await study();
    const linked = path.join(top, "linked");
    await mkdir(linked);
    await symlink(top, path.join(linked, "lab"));
    const via = (project: string) => path.join(linked, "lab", path.basename(project));
    actions(await memoriRun(top, via(original)));
    expect(actions(await memoriRun(top, via(original)))).toEqual({
      subjects: cached,
      current: cached,
      notes: cached,
      sized: cached,
    });
    const copy = path.join(top, "study3");
    execFileSync("cp", ["-a", original, copy]);
    await writeFile(path.join(copy, "data", "c.txt"), "4\n");
    const there = actions(await memoriRun(top, via(copy)));
    expect(there.subjects).toMatch(/^running \(input changed: list:/);
    expect(there).toMatchObject({ current: cached, notes: cached });
    // An argument given by its real path is outside the root as given: stored as it is, so the
    // copy's is another path (a run, never the original's result).
    expect(there.sized).toMatch(/^running \(input changed: file /);
    expect(await result(copy, "subjects")).toBe("t:a.txt,b.txt,c.txt");
    expect(actions(await memoriRun(top, via(copy)))).toEqual({
      subjects: cached,
      current: cached,
      notes: cached,
      sized: cached,
    });
  }, 60_000);

  it("`memori cache why` with the copy's root names the copy's folder", async () => {
    const { top, original, copy } = await study();
    actions(await memoriRun(top, original));
    execFileSync("cp", ["-a", original, copy]);
    await writeFile(path.join(copy, "data", "c.txt"), "4\n");
    const why = await run("memori", ["cache", "why", path.join(copy, ".memori"), "subjects"], top, {
      MEMORI_ROOT: copy,
    });
    expect(why.status, why.stderr).toBe(0);
    expect(why.stdout).toContain(`input changed: list:${copy}/data`);
  }, 60_000);
});
