/**
 * A dry run sees past a `cheap` stage: a listing of a directory (a real readdir) feeding a
 * memoized map. explain() calls the cheap stage when it would run, explains the map element by
 * element, and writes nothing, not even the cheap stage's state.
 */
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { MappedStage, Pipeline, Stage, type Explanation } from "../../src/index.js";
import { recordingLogger, snapshotTree, tempDir } from "../util/tmp.js";

const calls = { list: 0, measure: 0 };
beforeEach(() => {
  calls.list = 0;
  calls.measure = 0;
});

/** Two versions of the listing's code: the same files, written differently. */
const listings = {
  v1: async function listInputs(dir: string) {
    calls.list++;
    return (await readdir(dir)).sort().map((name) => path.join(dir, name));
  },
  v2: async function listInputs(dir: string) {
    calls.list++;
    const names = (await readdir(dir)).filter((name) => !name.startsWith("."));
    return names.sort().map((name) => path.join(dir, name));
  },
};

interface Setup {
  memoized: boolean;
  cheap: boolean;
  listing?: keyof typeof listings;
}

function build(root: string, { memoized, cheap, listing = "v1" }: Setup) {
  const state = path.join(root, "state");
  const logger = recordingLogger().logger;
  const listInputs = new Stage(listings[listing], {
    outputs: "file",
    cheap,
    hashOutput: memoized ? state : undefined,
    logger,
  });
  const measure = new Stage(
    async function measure(file: string) {
      calls.measure++;
      return (await readFile(file, "utf8")).length;
    },
    { outputs: "size", hashOutput: state, logger },
  );
  const each = new MappedStage(measure, ["file"]);
  const pipeline = new Pipeline([
    ["start", listInputs],
    [listInputs, each],
  ]);
  return { pipeline, each };
}

/** A data directory of three files, processed once; returns the root and the data directory. */
async function processed(setup: Setup): Promise<{ root: string; data: string }> {
  const root = await tempDir();
  const data = path.join(root, "data");
  await mkdir(data);
  for (const n of ["a", "b", "c"]) await writeFile(path.join(data, `${n}.txt`), `${n}`.repeat(3));
  await build(root, setup).pipeline.run(data);
  calls.list = 0;
  calls.measure = 0;
  return { root, data };
}

const pick = ({ action, reason }: Explanation | { action: string; reason: unknown }) => ({
  action,
  reason,
});
const cachedElement = { action: "skip", reason: { kind: "cached" } };

// The memoized variant is given another reason to run than the new file (its code changed,
// which is checked first); the non-memoized one runs every time.
describe.each([
  { memoized: false, listing: "v1" as const, reason: { kind: "not-memoized" } },
  {
    memoized: true,
    listing: "v2" as const,
    reason: { kind: "function-changed", changed: ["listInputs"] },
  },
])("a listing stage that would run (memoized: $memoized)", ({ memoized, listing, reason }) => {
  // With cheap, explain() lists the directory: old files cached, the new one first-run; no writes.
  it("is called by explain(), which then explains the map element by element", async () => {
    const { root, data } = await processed({ memoized, cheap: true });
    await writeFile(path.join(data, "d.txt"), "dddd");
    const { pipeline, each } = build(root, { memoized, cheap: true, listing });
    const before = await snapshotTree(root);
    const stateFiles = memoized ? await snapshotTree(path.join(root, "state")) : "";

    const explained = await pipeline.explain(data);
    expect(await snapshotTree(root)).toBe(before);
    expect(calls).toEqual({ list: 1, measure: 0 }); // the listing was called, the map was not
    expect(explained.map(pick)).toEqual([
      { action: "run", reason },
      { action: "run", reason: { kind: "first-run" } },
    ]);
    const elements = explained[1]!.elements!;
    expect(elements.map((e) => e.element)).toEqual(["a.txt", "b.txt", "c.txt", "d.txt"]);
    expect(elements.map(pick)).toEqual([
      cachedElement,
      cachedElement,
      cachedElement,
      { action: "run", reason: { kind: "first-run" } },
    ]);
    if (memoized) {
      // the cheap stage ran in the dry run, but its state files are as they were
      expect(await snapshotTree(path.join(root, "state"))).toBe(stateFiles);
    }

    // ... and the run does what was predicted
    await pipeline.run(data);
    expect(pipeline.decisions.map(pick)).toEqual(explained.map(pick));
    expect(each.elementDecisions.map(pick)).toEqual(elements.map(pick));
    expect(calls).toEqual({ list: 2, measure: 1 });
  });

  // Without cheap, the listing is not called and the map would run if upstream changes.
  it("without cheap, leaves the map as run-if-upstream-changes", async () => {
    const { root, data } = await processed({ memoized, cheap: false });
    await writeFile(path.join(data, "d.txt"), "dddd");
    const before = await snapshotTree(root);
    const explained = await build(root, { memoized, cheap: false, listing }).pipeline.explain(data);
    expect(await snapshotTree(root)).toBe(before);
    expect(calls).toEqual({ list: 0, measure: 0 });
    expect(explained.map(pick)).toEqual([
      { action: "run", reason },
      {
        action: "run-if-upstream-changes",
        reason: { kind: "upstream-would-run", upstream: ["listInputs"] },
      },
    ]);
    expect(explained[1]!.elements).toBeUndefined();
  });
});

describe("a memoized cheap stage", () => {
  // Cached while its folder lists the same: explain() does not call it and uses its stored
  // listing; the run agrees.
  it("is not called by explain() while its folder lists the same", async () => {
    const { root, data } = await processed({ memoized: true, cheap: true });
    const { pipeline, each } = build(root, { memoized: true, cheap: true });
    const before = await snapshotTree(root);
    const explained = await pipeline.explain(data);
    expect(await snapshotTree(root)).toBe(before);
    expect(calls).toEqual({ list: 0, measure: 0 });
    expect(explained.map(pick)[0]).toEqual(cachedElement);
    await pipeline.run(data);
    expect(pipeline.decisions.map(pick)).toEqual(explained.map(pick));
    expect(each.elementDecisions).toHaveLength(3);
    expect(calls).toEqual({ list: 0, measure: 0 });
  });

  // A file added to the folder it lists is a changed input (its listing): explain() calls it,
  // sees the new element, and the run does what it predicted. (It used to stay cached: a
  // stale listing.)
  it("runs again when its folder gains a file, and explain() says so", async () => {
    const { root, data } = await processed({ memoized: true, cheap: true });
    await writeFile(path.join(data, "d.txt"), "dddd");
    const { pipeline, each } = build(root, { memoized: true, cheap: true });
    const explained = await pipeline.explain(data);
    expect(calls).toEqual({ list: 1, measure: 0 });
    expect(explained[0]!.action).toBe("run");
    expect(explained[0]!.reason).toMatchObject({ kind: "input-changed", name: `list:${data}` });
    expect(explained[1]!.elements!.map((e) => e.element)).toEqual([
      "a.txt",
      "b.txt",
      "c.txt",
      "d.txt",
    ]);
    await pipeline.run(data);
    expect(pipeline.decisions.map(pick)).toEqual(explained.map(pick));
    expect(each.elementDecisions.map(pick)).toEqual(explained[1]!.elements!.map(pick));
    expect(calls).toEqual({ list: 2, measure: 1 });
  });
});
