// RecordListing: a run lists a state directory once after enough first looks found no record
// there, and then answers "absent" without a read; a record committed after the listing is
// still found, under the lock, and the call is not run again.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it, vi } from "vitest";
import { Pipeline, Stage, type PipelineDefinition } from "../../src/index.js";
import { RecordListing } from "../../src/state/listing.js";
import { StateStore } from "../../src/state/store.js";
import { tempDir } from "../util/tmp.js";

describe("RecordListing", () => {
  it("lists a directory after 16 misses there, and knows only names it lacks", async () => {
    const dir = await tempDir();
    writeFileSync(path.join(dir, "there.stage"), "{}");
    const listing = new RecordListing();
    const there = new StateStore(dir, "there");
    const stores = Array.from({ length: 16 }, (_, i) => new StateStore(dir, `s${i}`));
    for (const store of stores.slice(0, 15)) listing.missed(store);
    expect(listing.knowsAbsent(stores[15]!)).toBe(false); // not listed yet: read
    listing.missed(stores[15]!);
    expect(stores.every((s) => listing.knowsAbsent(s))).toBe(true);
    expect(listing.knowsAbsent(there)).toBe(false); // listed: read it
    // made after the listing: still "absent" to it (the look under the lock finds it)
    writeFileSync(path.join(dir, "s0.stage"), "{}");
    expect(listing.knowsAbsent(stores[0]!)).toBe(true);
    // another directory has its own count
    const other = await tempDir();
    expect(listing.knowsAbsent(new StateStore(other, "s0"))).toBe(false);
  });

  it("takes a directory that does not exist as empty, and one it cannot list as unknown", async () => {
    const dir = await tempDir();
    const listing = new RecordListing();
    const gone = new StateStore(path.join(dir, "not-yet"), "a");
    for (let i = 0; i < 16; i++) listing.missed(gone);
    expect(listing.knowsAbsent(gone)).toBe(true);
    const file = path.join(dir, "a-file");
    writeFileSync(file, "");
    const under = new StateStore(file, "a"); // ENOTDIR: never listed
    for (let i = 0; i < 20; i++) listing.missed(under);
    expect(listing.knowsAbsent(under)).toBe(false);
  });
});

describe("a run's listing and records committed meanwhile", () => {
  // 20 independent stages, one at a time: after 16 first runs the directory is listed; then
  // the 17th stage commits the 19th's state through another run (as another process would).
  // The 19th's first look says "absent" from the listing; under its lock it finds the record,
  // and is not run again.
  it("finds a record committed after the listing, under the lock, and runs nothing twice", async () => {
    const hashOutput = path.join(await tempDir(), "state");
    mkdirSync(hashOutput);
    const named = (i: number) =>
      new Stage((x: number) => x + 1, { name: `s${i}`, outputs: `y${i}`, hashOutput });
    const stages = Array.from({ length: 20 }, (_, i) => named(i));
    const elsewhere = named(18);
    const trigger = new Stage(
      async function commitElsewhere(x: number) {
        await elsewhere.run(x);
        return x;
      },
      { name: "trigger", outputs: "t", hashOutput },
    );
    const definition: PipelineDefinition[number][] = [];
    for (let i = 0; i < 20; i++) {
      if (i === 17) definition.push(["start", trigger]); // runs after s16, before s17 and s18
      definition.push(["start", stages[i]!]);
    }
    const pipeline = new Pipeline(definition, { concurrency: 1 });
    const answers: [string, boolean][] = [];
    const knowsAbsent = RecordListing.prototype.knowsAbsent;
    const spy = vi.spyOn(RecordListing.prototype, "knowsAbsent").mockImplementation(function (
      this: RecordListing,
      store: StateStore,
    ) {
      const answer = knowsAbsent.call(this, store);
      answers.push([store.name, answer]);
      return answer;
    });
    await pipeline.runNamed({ x: 1 }).finally(() => spy.mockRestore());
    // the pipeline's first look at s18 took the listing's word for it
    expect(answers).toContainEqual(["s18", true]);
    expect(elsewhere.lastDecision).toMatchObject({ action: "run", reason: { kind: "first-run" } });
    const decisions = pipeline.decisions.filter((d) => d.stage !== "trigger");
    // s18: its state, committed by the other run after the listing, found under the lock
    expect(decisions.find((d) => d.stage === "s18")).toMatchObject({
      action: "skip",
      reason: { kind: "cached" },
    });
    expect(decisions.filter((d) => d.action === "run")).toHaveLength(19);
  });
});
