/** `memori report`, run as users run it: the report written, and each error said plainly. */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { RUNS_FOLDER } from "../../src/records/run-record.js";
import { run } from "../util/cli.js";
import { sampleRecord } from "../util/run-records.js";
import { tempDir } from "../util/tmp.js";

const ID = "20261126-095012345-4242-a3f1";

async function withRecord(): Promise<{ dir: string; runs: string }> {
  const dir = await tempDir();
  const runs = path.join(dir, "state", RUNS_FOLDER);
  await mkdir(runs, { recursive: true });
  await writeFile(path.join(runs, `${ID}.json`), JSON.stringify(sampleRecord()));
  return { dir, runs };
}

describe("memori report", () => {
  it("writes the newest run's report where -o says, and says what it wrote", async () => {
    const { dir } = await withRecord();
    const ran = await run("memori", ["report", "-d", "state", "-o", "out/r.html"], dir);
    expect(ran.stderr).toMatch(/cannot write out\/r\.html: .*ENOENT/);
    expect(ran.status).toBe(1);
    await mkdir(path.join(dir, "out"));
    const again = await run("memori", ["report", "--dir=state", "--output", "out/r.html"], dir);
    expect(again.stderr).toBe("");
    expect(again.status).toBe(0);
    expect(again.stdout).toMatch(
      new RegExp(`^out/r\\.html: run ${ID} \\(failed, 3 tasks, 1\\.7 s\\), \\d+(\\.\\d)? KiB\\n$`),
    );
    const html = await readFile(path.join(dir, "out", "r.html"), "utf8");
    expect(html).toContain(`<title>memori run ${ID}</title>`);
    const byId = await run("memori", ["report", ID.slice(0, 12), "state"], dir);
    expect(byId.status).toBe(0);
    expect(await readFile(path.join(dir, "report.html"), "utf8")).toBe(html);
    const found = await run("memori", ["report", "last", "-o", "found.html"], dir); // state/ is one level down
    expect(found.stderr).toBe("");
    expect(await readFile(path.join(dir, "found.html"), "utf8")).toBe(html);
    const byDir = await run("memori", ["report", "state", "-o", "dir.html"], dir);
    expect(await readFile(path.join(dir, "dir.html"), "utf8")).toBe(html);
    expect(byDir.status).toBe(0);
  });

  it("says there are no runs, which run is unknown, and what is wrong in a record", async () => {
    const empty = await tempDir();
    const none = await run("memori", ["report"], empty);
    expect(none.status).toBe(1);
    expect(none.stderr).toBe(
      "memori report: no runs recorded yet in the current directory, nor one or two levels down; give the state directory: memori report -d DIR\n",
    );
    const noFolder = await run("memori", ["report", "-d", "nowhere"], empty);
    expect(noFolder.stderr).toBe(
      `memori report: no runs recorded yet: ${path.join("nowhere", RUNS_FOLDER)} does not exist (a pipeline run writes its record there)\n`,
    );
    const { dir, runs } = await withRecord();
    const unknown = await run("memori", ["report", "2025", "-d", "state"], dir);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toBe(
      `memori report: no run "2025" in ${path.join("state", RUNS_FOLDER)} (the newest: ${ID})\n`,
    );
    const newer = "20261126-110000000-4242-beef";
    await writeFile(
      path.join(runs, `${newer}.json`),
      JSON.stringify({ ...sampleRecord(), tasks: 3 }),
    );
    const bad = await run("memori", ["report", "-d", "state"], dir);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe(
      `memori report: cannot read the run record ${path.join("state", RUNS_FOLDER, newer)}.json: tasks: expected an array, got 3\n`,
    );
  });

  it("says what is wrong with its command line", async () => {
    const dir = await tempDir();
    const unknown = await run("memori", ["report", "--open"], dir);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toBe(
      "memori report: unknown option --open (see memori report --help)\n",
    );
    const three = await run("memori", ["report", "a", "b", "c"], dir);
    expect(three.status).toBe(2);
    expect(three.stderr).toBe(
      'memori report: too many arguments: "a" "b" "c" (one run, one directory) (see memori report --help)\n',
    );
    const noDir = await run("memori", ["report", "-d"], dir);
    expect(noDir.stderr).toBe("memori report: -d needs a directory (see memori report --help)\n");
    const help = await run("memori", ["report", "--help"], dir);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^usage: memori report \[RUN\] \[DIR\] \[-o FILE\]/);
  });
});
