// Split/map over a directory of files: one stage mapped over every subject's file, each
// element memoized on its own, feeding a group-level stage (a "combine").
import { readdir, readFile, writeFile, mkdir } from "node:fs/promises";
import path from "node:path";
import { MappedStage, Pipeline, Stage, appendSuffix, repath } from "memori";
import { expectAllCached, report, workDir } from "./util.js";

const work = await workDir("split-map");
const raw = path.join(work, "raw");
await mkdir(raw);
for (let i = 1; i <= 6; i++) {
  const voxels = Array.from({ length: 500 }, (_, v) => (v * i) % 97);
  await writeFile(path.join(raw, `sub-0${i}_T1w.txt`), voxels.join("\n"));
}
const derivatives = path.join(work, "derivatives");
await mkdir(derivatives);
const hashOutput = path.join(work, ".memori");

function build(): Pipeline {
  // Listing a directory is cheap and its result depends on the directory's contents, which
  // memori does not hash (only files are hashed): leave it unmemoized.
  const list = new Stage(
    async function listSubjects(dir: string) {
      return (await readdir(dir)).sort().map((f) => path.join(dir, f));
    },
    { outputs: "t1w" },
  );
  const normalize = new MappedStage(
    new Stage(
      async function normalize(t1w: string) {
        const voxels = (await readFile(t1w, "utf8")).split("\n").map(Number);
        const max = Math.max(...voxels);
        const out = appendSuffix(repath(t1w, derivatives), "_norm");
        await writeFile(out, voxels.map((v) => (v / max).toFixed(4)).join("\n"));
        return out;
      },
      { outputs: "normalized", hashOutput },
    ),
    ["t1w"],
  );
  const group = new Stage(
    async function groupMean(normalized: string[]) {
      let total = 0;
      for (const file of normalized) {
        const values = (await readFile(file, "utf8")).split("\n").map(Number);
        total += values.reduce((a, b) => a + b, 0) / values.length;
      }
      return total / normalized.length;
    },
    { outputs: "groupMean", hashOutput },
  );
  return new Pipeline(
    [
      ["start", list],
      [list, normalize],
      [normalize, group],
    ],
    { concurrency: 4 },
  );
}

const first = build();
const results = await first.run(raw);
report("first run", first);
console.log(
  `  ${String((results.normalized as string[]).length)} subjects, group mean ${String(results.groupMean)}`,
);
const second = build();
await second.run(raw);
expectAllCached(report("second run", second));

// Change one subject: only that element of the map (and the group stage) runs again.
await writeFile(path.join(raw, "sub-03_T1w.txt"), "1\n2\n3");
const third = build();
await third.run(raw);
report("after changing sub-03", third);
const mapped = third.stages.find((s) => s.name === "normalize") as MappedStage;
const reran = mapped.elementDecisions.filter((d) => d.action === "run").map((d) => d.stage);
console.log(`  elements that ran: ${reran.join(", ")}`);
if (reran.length !== 1) process.exit(1);
