// The list file of a group or array job: written whole, read back as the job files an element
// (or a group) runs, and what is wrong with one that is not memori's.
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { elementFiles, groupFiles, writeJobList } from "../../src/slurm/job-list.js";
import { tempDir } from "../util/tmp.js";

describe("job lists", () => {
  it("gives an array element its job file, or its group's, and a group job all of its list", async () => {
    const dir = await tempDir();
    const [a, b, c] = ["a", "b", "c"].map((name) => path.join(dir, name, "job.json"));
    const list = path.join(dir, "list.json");
    await writeJobList(list, [a!, [b!, c!]]);
    expect(await elementFiles(list, "0")).toEqual({ files: [a] });
    expect(await elementFiles(list, "1")).toEqual({ files: [b, c] });
    expect(await elementFiles(list, "2")).toBe(`the array's list ${list} has no job file at 2`);
    expect(await elementFiles(list, "x")).toBe(
      `--array ${list}: SLURM_ARRAY_TASK_ID is "x", not an array element's index`,
    );
    expect(await elementFiles(list, undefined)).toMatch(/SLURM_ARRAY_TASK_ID is undefined/);

    const group = path.join(dir, "group.json");
    await writeJobList(group, [a!, b!]);
    expect(await groupFiles(group)).toEqual({ files: [a, b] });
    // A group job's list holds job files only, absolute ones.
    expect(await groupFiles(list)).toBe(
      `the list ${list} is not a list of job files (absolute paths)`,
    );
    await writeFile(group, JSON.stringify(["relative/job.json"]));
    expect(await groupFiles(group)).toMatch(/is not a list of job files/);
    await writeFile(group, "[]");
    expect(await groupFiles(group)).toMatch(/is not a list of job files/);
    await writeFile(group, "{}");
    expect(await groupFiles(group)).toBe(`the list ${group} is not a JSON array`);
    expect(await groupFiles(path.join(dir, "none.json"))).toMatch(
      /^the list .*none\.json cannot be read: .*ENOENT/,
    );
  });
});
