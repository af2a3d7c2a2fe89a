// `memori run --executor slurm` on the same pipeline module as memori-run.ts
// (pipelines/smooth.ts): every stage call (every subject's element) becomes a SLURM job with
// the resources the module declares; a second run is served from the cache and submits no job.
// Needs a SLURM cluster that this host submits to, sharing this directory with its nodes
// (scripts/slurm-local.sh starts a one-node one here); without one it says so and stops.
import { spawnSync } from "node:child_process";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { workDir } from "./util.js";

const sinfo = spawnSync("sinfo", ["--noheader", "--format=%T"], { encoding: "utf8" });
if (sinfo.status !== 0 || !/^(idle|mixed|allocated)/m.test(sinfo.stdout)) {
  console.log("no SLURM cluster answers here (start one with scripts/slurm-local.sh): skipped");
  process.exit(0);
}

const work = await workDir("memori-run-slurm");
const bids = path.join(work, "bids");
for (let i = 1; i <= 3; i++) {
  const anat = path.join(bids, `sub-0${i}`, "anat");
  await mkdir(anat, { recursive: true });
  const voxels = Array.from({ length: 200 }, (_, v) => ((v * 7 + i * 13) % 101) / 10);
  await writeFile(path.join(anat, `sub-0${i}_T1w.txt`), voxels.join("\n") + "\n");
}
const derivatives = path.join(work, "derivatives");

/** Run `memori run --executor slurm` on the example module; its stderr's last line. */
function memoriRun(...args: string[]): string {
  const module = path.join("examples", "pipelines", "smooth.ts");
  const all = [
    module,
    "--executor",
    "slurm",
    `--param=bids=${bids}`,
    `--param=derivatives=${derivatives}`,
    ...args,
  ];
  console.log(`$ memori run ${all.join(" ")}`);
  const ran = spawnSync(process.execPath, ["dist/cli/memori.cjs", "run", ...all], {
    encoding: "utf8",
  });
  process.stdout.write(ran.stderr);
  if (ran.status !== 0) {
    console.error(`memori run exited with ${ran.status ?? ran.signal}`);
    process.exit(1);
  }
  return ran.stderr.trim().split("\n").pop() ?? "";
}

const began = Date.now();
if (!/: 5 ran, 0 cached, 0 failed$/.test(memoriRun())) process.exit(1);
console.log(`five jobs in ${((Date.now() - began) / 1000).toFixed(1)} s`);
const jobs = path.join(derivatives, ".memori", ".memori-jobs");
console.log(`their files, beside the state: ${path.relative(process.cwd(), jobs)}/`);
for (const stage of await readdir(jobs))
  console.log(`  ${stage}/: ${(await readdir(path.join(jobs, stage))).join(", ")}`);
if (!/: 0 ran, 5 cached, 0 failed$/.test(memoriRun())) {
  console.error("expected the second run to be served from the cache, without a job");
  process.exit(1);
}
