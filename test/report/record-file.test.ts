/** Finding the record a report is made of: the newest, one named, and what goes wrong. */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { RUNS_FOLDER } from "../../src/records/run-record.js";
import { describeRecordFailure, findRecord, stateDirs } from "../../src/report/record-file.js";
import { sampleRecord } from "../util/run-records.js";
import { canChdir, tempDir } from "../util/tmp.js";

/** A state directory with a record for each id (valid), and its runs folder. */
async function stateDir(...ids: string[]): Promise<{ dir: string; runs: string }> {
  const dir = await tempDir();
  const runs = path.join(dir, RUNS_FOLDER);
  await mkdir(runs);
  for (const id of ids) {
    await writeFile(path.join(runs, `${id}.json`), JSON.stringify({ ...sampleRecord(), id }));
  }
  return { dir, runs };
}

const A = "20261126-095012345-4242-a3f1";
const B = "20261126-101500000-4300-0b0b";
const C = "20261126-101500000-4301-0c0c";

describe("the record a report is made of", () => {
  it("is the newest run's by default, or the one named by id, unique beginning or file", async () => {
    const { dir, runs } = await stateDir(A, B, C);
    await writeFile(path.join(runs, `.${C}.json.tmp`), "torn"); // a write in progress
    const newest = findRecord(dir, undefined);
    expect(newest.ok && newest.record.id).toBe(C);
    const byId = findRecord(dir, A);
    expect(byId.ok && byId.record.id).toBe(A);
    const byStart = findRecord(dir, "20261126-0950");
    expect(byStart.ok && byStart.record.id).toBe(A);
    const byFile = findRecord("/elsewhere", path.join(runs, `${B}.json`));
    expect(byFile.ok && byFile.record.id).toBe(B);
    const inFolder = findRecord(runs, undefined);
    expect(inFolder.ok && inFolder.record.id).toBe(C);
    const last = findRecord(dir, "last");
    expect(last.ok && last.record.id).toBe(C);
    const second = findRecord(dir, "-2");
    expect(second.ok && second.record.id).toBe(B);
    const beyond = findRecord(dir, "-4");
    expect(!beyond.ok && describeRecordFailure(beyond.failure)).toBe(
      `no run "-4" in ${runs} (the newest: ${C}, ${B}, ${A})`,
    );
  });

  it.runIf(canChdir)(
    "looks in the current directory, else one or two levels down, as memori log does",
    async () => {
      const { dir } = await stateDir(A);
      const cwd = process.cwd();
      try {
        process.chdir(path.dirname(dir));
        expect(stateDirs(undefined)).toContain(path.basename(dir));
        const nested = await tempDir();
        await mkdir(path.join(nested, "derivatives", ".memori", RUNS_FOLDER), { recursive: true });
        await writeFile(
          path.join(nested, "derivatives", ".memori", RUNS_FOLDER, `${B}.json`),
          JSON.stringify({ ...sampleRecord(), id: B }),
        );
        process.chdir(nested);
        expect(stateDirs(undefined)).toEqual([path.join("derivatives", ".memori")]);
        const found = findRecord(undefined, undefined);
        expect(found.ok && found.record.id).toBe(B);
        process.chdir(path.join(nested, "derivatives", ".memori", RUNS_FOLDER));
        const none = findRecord(undefined, undefined);
        expect(!none.ok && describeRecordFailure(none.failure)).toBe(
          "no runs recorded yet in the current directory, nor one or two levels down; give the state directory: memori report -d DIR",
        );
      } finally {
        process.chdir(cwd);
      }
    },
  );

  it("says there are no runs yet, naming the folder", async () => {
    const empty = await tempDir();
    const none = findRecord(empty, undefined);
    expect(!none.ok && describeRecordFailure(none.failure)).toBe(
      `no runs recorded yet: ${path.join(empty, RUNS_FOLDER)} does not exist (a pipeline run writes its record there)`,
    );
    const { dir, runs } = await stateDir();
    const noRuns = findRecord(dir, undefined);
    expect(!noRuns.ok && describeRecordFailure(noRuns.failure)).toBe(
      `no runs recorded yet in ${runs}`,
    );
  });

  it("says which runs there are when the one named is not, or is not one", async () => {
    const { dir, runs } = await stateDir(A, B, C);
    const unknown = findRecord(dir, "2025");
    expect(!unknown.ok && describeRecordFailure(unknown.failure)).toBe(
      `no run "2025" in ${runs} (the newest: ${C}, ${B}, ${A})`,
    );
    const ambiguous = findRecord(dir, "20261126-1015");
    expect(!ambiguous.ok && describeRecordFailure(ambiguous.failure)).toBe(
      `"20261126-1015" names 2 runs in ${runs} (${B}, ${C}): give more of the id`,
    );
  });

  it("names the file and what is wrong in it, never reporting another run instead", async () => {
    const { dir, runs } = await stateDir(A);
    await writeFile(path.join(runs, `${B}.json`), '{"format": 1, "id": "x"');
    const torn = findRecord(dir, undefined);
    expect(torn.ok).toBe(false);
    expect(!torn.ok && describeRecordFailure(torn.failure)).toMatch(
      new RegExp(`^cannot read the run record ${path.join(runs, B)}\\.json: not JSON \\(`),
    );
    const record = { ...sampleRecord(), id: C } as Record<string, unknown>;
    delete record.host;
    await writeFile(path.join(runs, `${C}.json`), JSON.stringify(record));
    const invalid = findRecord(dir, C);
    expect(!invalid.ok && describeRecordFailure(invalid.failure)).toBe(
      `cannot read the run record ${path.join(runs, C)}.json: host: missing`,
    );
  });
});
