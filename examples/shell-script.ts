// A shell script as a stage: its hash covers the script and the library it sources, and the
// file it writes is tracked, so editing either script, the input or the output re-runs it.
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { Pipeline, Stage, scriptFunction } from "memori";
import { expectAllCached, report, workDir } from "./util.js";

const work = await workDir("shell-script");
const input = path.join(work, "bold.txt");
await writeFile(input, Array.from({ length: 50 }, (_, i) => String(i * i)).join("\n") + "\n");
const output = path.join(work, "bold_smooth.txt");
const hashOutput = path.join(work, ".memori");

function build(): Pipeline {
  const smooth = new Stage(
    scriptFunction("examples/scripts/smooth.sh", { dependents: ["examples/scripts/lib.sh"] }),
    { name: "smooth", outputs: "status", hashOutput },
  );
  return new Pipeline([["start", smooth]]);
}

const first = build();
await first.run(input, output);
report("first run", first);
const second = build();
await second.run(input, output);
expectAllCached(report("second run", second));
