// A two-stage pipeline over files: "skull-strip" a volume, then measure the result.
// Run it twice: the second run loads everything from the state files.
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { Pipeline, Stage, appendSuffix } from "memori";
import { expectAllCached, report, workDir } from "./util.js";

const work = await workDir("two-stage");
const t1 = path.join(work, "sub-01_T1w.nii");
await writeFile(t1, Array.from({ length: 1000 }, (_, i) => (i % 7) * 10).join("\n"));
const hashOutput = path.join(work, ".memori");

function build(): Pipeline {
  // Stand-ins for FSL's bet and fslstats: they read and write real files.
  const strip = new Stage(
    async function skullStrip(t1w: string, threshold: number) {
      const voxels = (await readFile(t1w, "utf8")).split("\n").map(Number);
      const brain = appendSuffix(t1w, "_brain");
      await writeFile(brain, voxels.map((v) => (v >= threshold ? v : 0)).join("\n"));
      return brain;
    },
    { outputs: "brain", hashOutput, args: { threshold: 20 } },
  );
  const measure = new Stage(
    async function measure(brain: string) {
      const voxels = (await readFile(brain, "utf8")).split("\n").map(Number);
      const inside = voxels.filter((v) => v > 0);
      return { volume: inside.length, mean: inside.reduce((a, b) => a + b, 0) / inside.length };
    },
    { outputs: ["volume", "mean"], hashOutput },
  );
  return new Pipeline([
    ["start", strip],
    [strip, measure],
  ]);
}

const first = build();
const results = await first.run(t1);
report("first run", first);
console.log(`  volume=${String(results.volume)} mean=${String(results.mean)}`);

const second = build();
await second.run(t1);
expectAllCached(report("second run", second));

await writeFile(appendSuffix(t1, "_brain"), "tampered");
const third = build();
await third.run(t1);
report("after editing the brain file by hand", third);
