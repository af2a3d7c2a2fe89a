// The index of commit records (state-index.ts): a run-scoped cache keyed by each `.stage`
// file's stamp. What it may never do: give a record for a file that is not the one it learned
// (rewritten in place, replaced by another commit, damaged index), write where a run must not
// write (a dry run, a read-only cache), or hide a corrupt record.
import { readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Pipeline, Stage, type PipelineOptions, type PipelineSource } from "../../src/index.js";
import { DirectoryIndex, INDEX_FILE, LOAD_AFTER, parseIndex } from "../../src/state/state-index.js";
import { recordStampOf } from "../../src/state/stamp.js";
import type { Decision } from "../../src/decision.js";
import { FORMAT_VERSION, type StageRecord } from "../../src/state/record.js";
import { tempDir } from "../util/tmp.js";

const N = LOAD_AFTER + 8;

/** A linear pipeline of N stages `s0`..: each adds `step` to what it is given. */
function chain(dir: string, step = 1, options: PipelineOptions = {}) {
  const add = (x: number) => x + step;
  const stages = Array.from(
    { length: N },
    (_, i) => new Stage(add, { name: `s${i}`, outputs: "x", hashOutput: dir }),
  );
  const definition: [PipelineSource, Stage<typeof add, "x">][] = [["start", stages[0]!]];
  for (let i = 1; i < N; i++) definition.push([stages[i - 1]!, stages[i]!]);
  return new Pipeline(definition, { keepRuns: 0, ...options });
}

const ran = (p: { decisions: readonly Decision[] }) =>
  p.decisions.filter((d) => d.action === "run").map((d) => d.stage);

function indexOfDir(dir: string) {
  const entries = parseIndex(readFileSync(path.join(dir, INDEX_FILE), "utf8"));
  if (entries === undefined) throw new Error("the index is not a whole one");
  return entries;
}

/** Rewrite the index's entries with `edit`, as a well-formed index with its check. */
function forge(dir: string, edit: (body: string) => string) {
  const file = path.join(dir, INDEX_FILE);
  const text = readFileSync(file, "utf8");
  const index = new DirectoryIndex(dir);
  for (const line of edit(text.slice(text.indexOf("\n") + 1))
    .split("\n")
    .filter(Boolean)) {
    const [name, stamp, json] = line.split("\t");
    index.learn(JSON.parse(name!) as string, stamp!, JSON.parse(json!) as StageRecord);
  }
  writeFileSync(file, index.bytes());
}

describe("the index of commit records", () => {
  it("is written by a run of many stages, keyed by each .stage as it is, and serves the next run", async () => {
    const dir = await tempDir();
    const first = chain(dir);
    expect((await first.run(0)).x).toBe(N);
    const entries = indexOfDir(dir);
    expect(entries.size).toBe(N);
    for (let i = 0; i < N; i++) {
      const stats = statSync(path.join(dir, `s${i}.stage`));
      expect(entries.get(`s${i}`)?.stamp).toBe(recordStampOf(stats));
      const record = JSON.parse(entries.get(`s${i}`)!.json) as StageRecord;
      expect(record).toMatchObject({ name: `s${i}`, memori: FORMAT_VERSION });
      expect(record.values?.outputs).toEqual({ x: i + 1 });
    }
    const before = readFileSync(path.join(dir, INDEX_FILE), "utf8");
    const again = chain(dir);
    expect((await again.run(0)).x).toBe(N);
    expect(ran(again)).toEqual([]);
    // Nothing new learned: not written again.
    expect(readFileSync(path.join(dir, INDEX_FILE), "utf8")).toBe(before);

    // The records do come from it: one it holds for the file there now is the one used.
    // (A forged index, well formed and checked, is the only way to tell the two apart.)
    forge(dir, (body) => body.replace(`"outputs":{"x":${N}}`, `"outputs":{"x":${N + 1000}}`));
    const served = chain(dir);
    expect((await served.run(0)).x).toBe(N + 1000);
    expect(ran(served)).toEqual([]);
  });

  it("reads a .stage rewritten in place right after its commit, same size, and finds it corrupt", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "s5.stage");
    // Rewritten as soon as it is committed (within the clock tick of the commit, most often):
    // the same bytes but one digit of the check line, so the same size.
    let flipped = false;
    const p = chain(dir, 1, {
      onEvent: (event) => {
        if (event.type !== "stage:done" || event.stage !== "s5") return;
        const text = readFileSync(file, "utf8");
        const changed = text.replace(
          /"check": "(.)/,
          (_, c: string) => `"check": "${c === "0" ? "1" : "0"}`,
        );
        expect(changed.length).toBe(text.length);
        writeFileSync(file, changed);
        flipped = true;
      },
    });
    await p.run(0);
    expect(flipped).toBe(true);
    // A write within the clock tick of the commit could keep the times of a file written then
    // (kernels before Linux 6.13 keep coarse times; this one gives a fine time to a write after
    // a `stat`, so this run would pass without it): a committed record's modification time is
    // set seconds back, as the files it stamps are, so that any write changes it.
    const committed = statSync(path.join(dir, "s6.stage"));
    expect(committed.mtimeMs).toBeLessThan(Date.now() - 5000);
    expect(indexOfDir(dir).has("s5")).toBe(true); // learned at its commit, before the rewrite
    const again = chain(dir);
    expect((await again.run(0)).x).toBe(N);
    expect(ran(again)).toEqual(["s5"]);
    expect(again.decisions.find((d) => d.stage === "s5")?.reason.kind).toBe("state-unreadable");
  });

  it("reads a .stage another run committed since, and never serves the record it replaced", async () => {
    const dir = await tempDir();
    await chain(dir).run(0);
    const indexed = indexOfDir(dir).get("s7")!.stamp;
    // Another run (here: the same stages, another start) commits every stage again; its index
    // is written too, so put the old one back: it now knows files that are gone.
    const saved = readFileSync(path.join(dir, INDEX_FILE), "utf8");
    const other = chain(dir);
    expect((await other.run(100)).x).toBe(100 + N);
    expect(indexOfDir(dir).get("s7")!.stamp).not.toBe(indexed);
    writeFileSync(path.join(dir, INDEX_FILE), saved);
    const back = chain(dir);
    expect((await back.run(0)).x).toBe(N);
    expect(ran(back)).toHaveLength(N); // every record there is the other run's: all ran
  });

  it("ignores a damaged index and writes a whole one", async () => {
    const dir = await tempDir();
    await chain(dir).run(0);
    const file = path.join(dir, INDEX_FILE);
    const text = readFileSync(file, "utf8");
    writeFileSync(file, text.replace('"x":3', '"x":4')); // an edit: the check fails
    expect(parseIndex(readFileSync(file, "utf8"))).toBeUndefined();
    const again = chain(dir);
    expect((await again.run(0)).x).toBe(N);
    expect(ran(again)).toEqual([]);
    expect(indexOfDir(dir).size).toBe(N);
    writeFileSync(file, "not an index at all\n");
    const third = chain(dir);
    expect((await third.run(0)).x).toBe(N);
    expect(ran(third)).toEqual([]);
    expect(indexOfDir(dir).size).toBe(N);
  });

  it("is not written by a dry run, by a run of few stages, or into a read-only cache", async () => {
    const few = await tempDir();
    const stage = new Stage((x: number) => x * 2, { name: "one", outputs: "y", hashOutput: few });
    await stage.run(1);
    await stage.run(1);
    expect(readdirSync(few)).not.toContain(INDEX_FILE);

    const dir = await tempDir();
    await chain(dir).explain(0);
    expect(readdirSync(dir)).not.toContain(INDEX_FILE);

    const cache = await tempDir();
    await chain(cache).run(0);
    const index = path.join(cache, INDEX_FILE);
    const cacheIndex = readFileSync(index, "utf8");
    writeFileSync(index, "left as it was\n");
    const mine = await tempDir();
    const borrowing = chain(mine, 1, { readonlyCaches: [cache] });
    expect((await borrowing.run(0)).x).toBe(N);
    expect(ran(borrowing)).toEqual([]);
    expect(readFileSync(index, "utf8")).toBe("left as it was\n");
    expect(cacheIndex).not.toBe("left as it was\n");
  });

  it("is not written for a dry run's directory when a run in the same process overlaps it", async () => {
    const explained = await tempDir();
    await chain(explained).run(0);
    rmSync(path.join(explained, INDEX_FILE));
    const running = await tempDir();
    await Promise.all([chain(running).run(0), chain(explained).explain(0)]);
    expect(readdirSync(explained)).not.toContain(INDEX_FILE);
    expect(indexOfDir(running).size).toBe(N); // the run's own, which committed there, is written
  });

  it("keeps names of any kind, and drops a stage whose state is gone", () => {
    const index = new DirectoryIndex("/nowhere");
    const record = (name: string) =>
      ({ name, memori: FORMAT_VERSION, run: "r", time: "t" }) as unknown as StageRecord;
    const names = [
      "plain",
      "also plain",
      'quo"te',
      "tab\there",
      "line\nbreak",
      "ünï",
      "back\\slash",
    ];
    const stats = (i: number) => ({ dev: 1, ino: i, size: 2, mtimeMs: 3, ctimeMs: 4.5 });
    names.forEach((name, i) => index.learn(name, recordStampOf(stats(i)), record(name)));
    index.forget("plain");
    const entries = parseIndex(index.bytes())!;
    expect([...entries.keys()].sort()).toEqual(names.slice(1).sort());
    for (const [name, entry] of entries) {
      const i = names.indexOf(name);
      expect(index.recordText(name, stats(i))).toBe(entry.json);
      expect(index.recordText(name, { ...stats(i), ctimeMs: 4.25 })).toBeUndefined();
      expect(JSON.parse(entry.json)).toMatchObject({ name });
    }
    expect(parseIndex(index.bytes().toString("utf8").replace("ünï", "uni"))).toBeUndefined();
  });
});
