// memori's bookkeeping (run records, the index of commit records, the code caches beside its
// bundles) is left out of any directory taken as an input or listed: it changes with runs and
// says nothing of the data. Without that, a stage taking a project folder that holds a pipeline's state ran
// again after every run.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Pipeline, Stage, type PipelineSource } from "../../src/index.js";
import type { Decision } from "../../src/decision.js";
import { BOOKKEEPING, CODE_CACHE } from "../../src/hashing/bookkeeping.js";
import { listingHash } from "../../src/hashing/listing.js";
import { INDEX_FILE, LOAD_AFTER } from "../../src/state/state-index.js";
import { RUNS_FOLDER } from "../../src/records/run-record.js";
import { tempDir } from "../util/tmp.js";

const N = LOAD_AFTER + 4;

/** N stages keeping their state in `<project>/state`, then one taking the project folder. */
function pipeline(project: string, elsewhere: string) {
  const add = (x: number) => x + 1;
  const stages = Array.from(
    { length: N },
    (_, i) => new Stage(add, { name: `s${i}`, outputs: "x", hashOutput: `${project}/state` }),
  );
  const summary = new Stage((x: number, folder: string) => `${folder}: ${x}`, {
    name: "summary",
    outputs: "y",
    hashOutput: elsewhere,
    args: { folder: project },
  });
  const definition: [PipelineSource | Stage<typeof add, "x">, Stage<typeof add, "x">][] = [
    ["start", stages[0]!],
  ];
  for (let i = 1; i < N; i++) definition.push([stages[i - 1]!, stages[i]!]);
  // The last edge feeds another kind of stage: typed loosely, as a definition built in a loop.
  const all = [...definition, [stages[N - 1]!, summary]] as unknown as typeof definition;
  return new Pipeline(all) as unknown as {
    run(start: number): Promise<{ y: string }>;
    decisions: readonly Decision[];
  };
}

const ran = (p: { decisions: readonly Decision[] }) =>
  p.decisions.filter((d) => d.action === "run").map((d) => d.stage);

describe("memori's bookkeeping in a folder taken as an input", () => {
  it("names the run records, the index and the code caches", () => {
    const caches = ["memori.bundle.cache", "pathman.bundle.cache"];
    expect([...BOOKKEEPING].sort()).toEqual([INDEX_FILE, RUNS_FOLDER, ...caches].sort());
    for (const name of caches) {
      expect(CODE_CACHE.test(`/opt/memori/dist/lib/${name}`)).toBe(true);
      expect(CODE_CACHE.test(`/opt/memori/dist/lib/${name}.4242.k3x9q1.tmp`)).toBe(true);
      expect(CODE_CACHE.test(`C:\\memori\\dist\\lib\\${name}`)).toBe(true);
      expect(CODE_CACHE.test(`/data/sub-01/${name}.txt`)).toBe(false);
      expect(CODE_CACHE.test(`/data/sub-01/my-${name}`)).toBe(false);
    }
  });

  it("leaves a code cache out of a folder's content: one written again is no change", async () => {
    const folder = await tempDir();
    writeFileSync(path.join(folder, "data.txt"), "data");
    writeFileSync(path.join(folder, "memori.bundle.cache"), "one");
    const stage = () =>
      new Stage((dir: string) => dir.length, { name: "size", hashOutput: path.join(folder, "st") });
    const first = stage();
    await first.run(folder);
    writeFileSync(path.join(folder, "memori.bundle.cache"), "another, longer");
    const second = stage();
    await second.run(folder);
    expect(second.fromCache).toBe(true);
    writeFileSync(path.join(folder, "data.txt"), "other data");
    const third = stage();
    await third.run(folder);
    expect(third.fromCache).toBe(false);
  });

  it("does not make a stage taking the folder run again after each run", async () => {
    const project = await tempDir();
    const elsewhere = await tempDir();
    writeFileSync(path.join(project, "subjects.tsv"), "sub-01\n");
    /** A fresh pipeline's run with `x`: the stages it ran. */
    const runWith = async (x: number) => {
      const fresh = pipeline(project, elsewhere);
      await fresh.run(x);
      return ran(fresh);
    };
    expect(await runWith(0)).toHaveLength(N + 1);
    // The run wrote a run record and an index inside the project folder: not a change of it.
    expect(await runWith(0)).toEqual([]);
    // A change upstream re-runs the stages (their state files change), then nothing again.
    expect(await runWith(5)).toHaveLength(N + 1);
    expect(await runWith(5)).toEqual([]);
    // The folder's data still counts.
    writeFileSync(path.join(project, "subjects.tsv"), "sub-01\nsub-02\n");
    const fifth = pipeline(project, elsewhere);
    expect((await fifth.run(5)).y).toBe(`${project}: ${5 + N}`);
    expect(ran(fifth)).toEqual(["summary"]);
  });

  it("leaves them out of a listing, at the top and below", async () => {
    const dir = await tempDir();
    mkdirSync(path.join(dir, "sub"));
    writeFileSync(path.join(dir, "data.txt"), "");
    const before = [listingHash(dir), listingHash(`${dir}/**`)];
    for (const at of [dir, path.join(dir, "sub")]) {
      writeFileSync(path.join(at, INDEX_FILE), "x");
      mkdirSync(path.join(at, RUNS_FOLDER));
    }
    expect([listingHash(dir), listingHash(`${dir}/**`)]).toEqual(before);
    writeFileSync(path.join(dir, "sub", "more.txt"), "");
    expect(listingHash(`${dir}/**`)).not.toBe(before[1]);
  });
});
