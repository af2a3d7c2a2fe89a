// The job file and the result file between the SLURM executor and `memori run-stage`: written
// whole, read back checked field by field, a result taken only for the job file it answers,
// and the files a returned value names found with their sizes.
import { mkdir, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { encodePlainValue, type Json } from "../../src/hashing/values.js";
import {
  jobFiles,
  namedFiles,
  readJobResult,
  readJobSpec,
  writeJobJson,
  type JobSpec,
} from "../../src/slurm/job-file.js";
import { tempDir } from "../util/tmp.js";

function spec(dir: string, changes: Partial<Record<keyof JobSpec, unknown>> = {}): JobSpec {
  const identity = {
    hash: "a".repeat(64),
    self: "b".repeat(64),
    callees: {},
    wrappers: [],
    extras: {},
  };
  return {
    format: 1,
    token: "t-1",
    module: path.join(dir, "pipeline.js"),
    exportName: null,
    params: { fwhm: 6 },
    stage: "smooth",
    element: "sub-01",
    attempt: 1,
    inputs: { t1w: "/data/sub-01.nii" },
    code: { policy: "stage", identity },
    result: jobFiles(dir).result,
    submitter: { host: "h", pid: 1, cwd: dir },
    ...changes,
  } as JobSpec;
}

describe("job files", () => {
  it("writes a job file whole (no temporary file left) and reads it back", async () => {
    const dir = await tempDir();
    const { job } = jobFiles(dir);
    await writeJobJson(job, spec(dir));
    expect(await readdir(dir)).toEqual(["job.json"]);
    expect(await readJobSpec(job)).toEqual({ ok: true, value: spec(dir) });
  });

  it.each([
    ["token", ""],
    ["module", "relative.js"],
    ["exportName", ""],
    ["params", []],
    ["element", 3],
    ["attempt", 0],
    ["inputs", null],
    ["code", { policy: "stage", identity: {} }],
    ["result", "result.json"],
  ] as const)("refuses a job file whose %s is %j", async (field, value) => {
    const dir = await tempDir();
    const { job } = jobFiles(dir);
    await writeJobJson(job, spec(dir, { [field]: value }));
    const read = await readJobSpec(job);
    expect(read.ok).toBe(false);
    expect(!read.ok && read.message).toContain(`has no valid \`${field}\``);
  });

  it("says why a job file cannot be read: missing, not JSON, another format", async () => {
    const dir = await tempDir();
    const { job } = jobFiles(dir);
    expect(await readJobSpec(job)).toEqual({
      ok: false,
      missing: true,
      message: `the job file ${job} cannot be read: it does not exist`,
    });
    await writeFile(job, "{");
    expect(await readJobSpec(job)).toMatchObject({ ok: false, missing: false });
    await writeFile(job, JSON.stringify({ format: 2 }));
    expect(await readJobSpec(job)).toMatchObject({
      ok: false,
      message: `the job file ${job} has format 2 (number); this memori reads format 1`,
    });
  });

  it("takes a result only for the job file it answers, and checks its shape", async () => {
    const dir = await tempDir();
    const { result } = jobFiles(dir);
    const answer = {
      format: 1,
      token: "t-1",
      host: "node7",
      ok: true,
      returned: { a: 1 },
      files: [{ path: "/x", size: 3 }],
      access: { cwd: "/lab", reads: ["t.nii"], writes: [], untraced: false },
      ms: 5,
    } as const;
    await writeJobJson(result, answer);
    expect(await readJobResult(result, "t-1")).toEqual({ ok: true, value: answer });
    expect(await readJobResult(result, "t-2")).toMatchObject({
      ok: false,
      message: expect.stringContaining("answers another job file") as string,
    });
    await writeJobJson(result, { ...answer, files: [{ path: "/x", size: -1 }] });
    expect(await readJobResult(result, "t-1")).toMatchObject({ ok: false, missing: false });
    const noAccess = { ...answer, access: { ...answer.access, reads: [3] } };
    await writeJobJson(result, noAccess as unknown as typeof answer);
    expect(await readJobResult(result, "t-1")).toMatchObject({ ok: false, missing: false });
    const failed = {
      format: 1,
      token: "t-1",
      host: "node7",
      ok: false,
      reason: "refused",
      message: "no",
    } as const;
    await writeJobJson(result, failed);
    expect(await readJobResult(result, "t-1")).toEqual({ ok: true, value: failed });
    await writeJobJson(result, { ...failed, reason: "bored" as "refused" });
    expect(await readJobResult(result, "t-1")).toMatchObject({ ok: false });
  });

  it("finds the files and directories a returned value names, and those it wrote, with their sizes, each once", async () => {
    const dir = await tempDir();
    await mkdir(path.join(dir, "out"));
    await writeFile(path.join(dir, "out", "a.nii"), "12345");
    await writeFile(path.join(dir, "b.txt"), "");
    const returned: Json = encodePlainValue(
      {
        volume: path.join(dir, "out", "a.nii"),
        relative: "b.txt",
        folder: path.join(dir, "out"),
        again: [path.join(dir, "out", "a.nii")],
        missing: path.join(dir, "gone.nii"),
        number: 3,
        set: new Set([path.join(dir, "b.txt")]),
      },
      "returned",
      "s",
    );
    expect(await namedFiles(returned, dir)).toEqual([
      { path: path.join(dir, "out", "a.nii"), size: 5 },
      { path: path.join(dir, "b.txt"), size: 0 },
      { path: path.join(dir, "out"), size: null },
    ]);
    await writeFile(path.join(dir, "log.txt"), "written");
    expect(await namedFiles("b.txt", dir, ["log.txt", "b.txt", "gone.txt"])).toEqual([
      { path: path.join(dir, "b.txt"), size: 0 },
      { path: path.join(dir, "log.txt"), size: 7 },
    ]);
  });
});
