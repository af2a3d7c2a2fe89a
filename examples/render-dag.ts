// Draws a pipeline's DAG after a dry run, coloured by what each stage would do, as Mermaid and
// DOT (examples/dag.mmd, examples/dag.dot) and, where Graphviz is installed, as the SVG the
// README shows (examples/dag.svg: `apt-get install graphviz`, then `npm run examples render-dag`).
import { execFileSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { Pipeline, Stage, describeReason } from "memori";
import { workDir } from "./util.js";

const hashOutput = await workDir("render-dag");

function build(segmentVersion: 1 | 2): Pipeline {
  const skullStrip = new Stage((t1w: string) => `${t1w}:brain`, {
    name: "skullStrip",
    outputs: "brain",
    hashOutput,
  });
  const segment =
    segmentVersion === 1
      ? new Stage((brain: string) => `${brain}:seg`, {
          name: "segment",
          outputs: "labels",
          hashOutput,
        })
      : new Stage((brain: string) => `${brain}:seg-v2`, {
          name: "segment",
          outputs: "labels",
          hashOutput,
        });
  const register = new Stage((brain: string, template: string) => `${brain}->${template}`, {
    name: "register",
    outputs: "warp",
    hashOutput,
  });
  const report = new Stage((labels: string, warp: string) => `${labels}|${warp}`, {
    name: "report",
    outputs: "html",
    hashOutput,
  });
  return new Pipeline([
    ["start", skullStrip],
    ["start", register],
    [skullStrip, segment],
    [skullStrip, register],
    [[segment, register], report],
  ]);
}

await build(1).runNamed({ t1w: "sub-01_T1w.nii.gz", template: "MNI152" });
const pipeline = build(2); // segment's code changed
for (const e of await pipeline.explainNamed({ t1w: "sub-01_T1w.nii.gz", template: "MNI152" })) {
  console.log(`  ${e.stage.padEnd(11)} ${e.action.padEnd(24)} ${describeReason(e.reason)}`);
}
const here = path.dirname(new URL(import.meta.url).pathname);
await writeFile(path.join(here, "dag.mmd"), pipeline.toMermaid());
await writeFile(path.join(here, "dag.dot"), pipeline.toDot());
try {
  execFileSync("dot", ["-Tsvg", "-o", path.join(here, "dag.svg"), path.join(here, "dag.dot")]);
  console.log("wrote examples/dag.svg");
} catch {
  console.log("Graphviz `dot` not found: wrote examples/dag.dot and examples/dag.mmd only");
}
