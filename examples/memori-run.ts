// `memori run` on a pipeline module (pipelines/smooth.ts): a dry run, a run with parameters
// from a config file and the command line, a second run served from the cache, and a run of
// what one stage needs (--target). Runs the built command line, as users do.
import { spawnSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { workDir } from "./util.js";

const work = await workDir("memori-run");
const bids = path.join(work, "bids");
for (let i = 1; i <= 4; i++) {
  const anat = path.join(bids, `sub-0${i}`, "anat");
  await mkdir(anat, { recursive: true });
  const voxels = Array.from({ length: 200 }, (_, v) => ((v * 7 + i * 13) % 101) / 10);
  await writeFile(path.join(anat, `sub-0${i}_T1w.txt`), voxels.join("\n") + "\n");
}
const config = path.relative(process.cwd(), path.join(work, "params.json"));
await writeFile(config, JSON.stringify({ bids: "bids", derivatives: "derivatives" }, null, 2));

/** Run `memori run` on the example module; its stderr's last line, or exit on a failure. */
function memoriRun(...args: string[]): string {
  const module = path.join("examples", "pipelines", "smooth.ts");
  console.log(`$ memori run ${module} ${args.join(" ")}`);
  const ran = spawnSync(process.execPath, ["dist/cli/memori.cjs", "run", module, ...args], {
    encoding: "utf8",
  });
  process.stdout.write(ran.stdout);
  process.stdout.write(ran.stderr);
  if (ran.status !== 0) {
    console.error(`memori run exited with ${ran.status ?? ran.signal}`);
    process.exit(1);
  }
  return ran.stderr.trim().split("\n").pop() ?? "";
}

memoriRun("--config", config, "--param", "fwhm=4", "--dry-run");
memoriRun("--config", config, "--param", "fwhm=4", "--concurrency", "2");
const again = memoriRun("--config", config, "--param", "fwhm=4");
if (!/: 0 ran, 6 cached, 0 failed$/.test(again)) {
  console.error("expected the second run to be served from the cache");
  process.exit(1);
}
// Another kernel for two subjects only, and only up to smoothing: no group average.
const part = memoriRun(
  "--config",
  config,
  "--param",
  "fwhm=8",
  "--param",
  "subjects=sub-01,sub-03",
  "--target",
  "smooth",
);
if (!/: 3 ran, 0 cached, 0 failed$/.test(part)) process.exit(1);
