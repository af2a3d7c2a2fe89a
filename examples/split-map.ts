// Split/map over a directory of files: one stage mapped over every subject's file, each
// element memoized on its own and named by its subject, a second mapped step that streams
// subject by subject, and a group-level stage (a "combine").
import { readdir, readFile, writeFile, mkdir } from "node:fs/promises";
import path from "node:path";
import { MappedStage, Pipeline, Stage, appendSuffix, describeReason, repath } from "memori";
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

/** `sub-03` for `.../sub-03_T1w.txt`: how elements are named in logs, errors and summaries. */
const subject = (values: Record<string, unknown>) =>
  path.basename(String(values.t1w)).split("_")[0]!;

function build(): Pipeline {
  // Listing a directory is cheap and its result depends on the directory's contents, which
  // memori does not hash (only files are hashed): leave it unmemoized, and mark it cheap so a
  // dry run may call it to explain the subjects after it.
  const list = new Stage(
    async function listSubjects(dir: string) {
      return (await readdir(dir)).sort().map((f) => path.join(dir, f));
    },
    { outputs: "t1w", cheap: true },
  );
  const normalize = new MappedStage(
    new Stage(
      async function normalize(t1w: string) {
        const voxels = (await readFile(t1w, "utf8")).split("\n").map(Number);
        const max = Math.max(...voxels);
        const out = appendSuffix(repath(derivatives, t1w), "_norm");
        await writeFile(out, voxels.map((v) => (v / max).toFixed(4)).join("\n"));
        return out;
      },
      { outputs: "normalized", hashOutput },
    ),
    ["t1w"],
    { label: subject },
  );
  // Fed element by element from normalize: a subject's smoothing starts as soon as its
  // normalization is done, and keeps its label.
  const smooth = new MappedStage(
    new Stage(
      async function smooth(normalized: string) {
        const values = (await readFile(normalized, "utf8")).split("\n").map(Number);
        const out = appendSuffix(normalized, "_smooth");
        const smoothed = values.map(
          (v, i) => (v + (values[i - 1] ?? v) + (values[i + 1] ?? v)) / 3,
        );
        await writeFile(out, smoothed.map((v) => v.toFixed(4)).join("\n"));
        return out;
      },
      { outputs: "smoothed", hashOutput },
    ),
    ["normalized"],
  );
  const group = new Stage(
    async function groupMean(smoothed: string[]) {
      let total = 0;
      for (const file of smoothed) {
        const values = (await readFile(file, "utf8")).split("\n").map(Number);
        total += values.reduce((a, b) => a + b, 0) / values.length;
      }
      return total / smoothed.length;
    },
    { outputs: "groupMean", hashOutput },
  );
  return new Pipeline(
    [
      ["start", list],
      [list, normalize],
      [normalize, smooth],
      [smooth, group],
    ],
    { concurrency: 4 },
  );
}

const first = build();
const results = await first.run(raw);
report("first run", first);
console.log(
  `  ${String((results.smoothed as string[]).length)} subjects, group mean ${String(results.groupMean)}`,
);
const second = build();
await second.run(raw);
expectAllCached(report("second run", second));

// Change one subject: a dry run says only that subject would run; then only that element of
// each map (and the group stage) runs again.
await writeFile(path.join(raw, "sub-03_T1w.txt"), "1\n2\n3");
const third = build();
const predicted = (await third.explain(raw)).flatMap((e) =>
  (e.elements ?? []).filter((el) => el.action !== "skip"),
);
console.log("dry run after changing sub-03:");
for (const e of predicted)
  console.log(`  ${e.stage.padEnd(16)} ${e.action} (${describeReason(e.reason)})`);
await third.run(raw);
report("after changing sub-03", third);
const reran = ["normalize", "smooth"].flatMap((name) =>
  (third.stages.find((s) => s.name === name) as MappedStage).elementDecisions
    .filter((d) => d.action === "run")
    .map((d) => d.stage),
);
console.log(`  elements that ran: ${reran.join(", ")}`);
if (reran.join() !== "normalize[sub-03],smooth[sub-03]") process.exit(1);
if (predicted.map((e) => e.stage).join() !== "normalize[sub-03],smooth[sub-03]") process.exit(1);
