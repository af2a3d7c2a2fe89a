// 16 independent calls of a stage that runs `sleep 1` (a map), timed in a fresh process, run
// here or as SLURM jobs: the scheduling overhead of the SLURM executor. A SLURM job imports
// this module again to find the stage, so what it needs comes from the environment, and the
// run happens only outside a job. usage: slurm-sleep.mjs local|slurm|grouped|trivial HASH_OUTPUT
//   local: the calls at this host's CPU count; slurm: each call a job (all submitted at
//   once: the cluster runs as many as it has CPUs); grouped: 16 / CPUs calls a job
//   (`callsPerJob`), a job per CPU; trivial: one job of a stage that does nothing (the round
//   trip of one job).
import { availableParallelism } from "node:os";
import { MappedStage, Stage, runProcess, slurmExecutor } from "../../dist/index.js";

const mode = process.env.BENCH_SLURM_MODE ?? process.argv[2];
const hashOutput = process.env.BENCH_SLURM_STATE ?? process.argv[3];
process.env.BENCH_SLURM_MODE = mode;
process.env.BENCH_SLURM_STATE = hashOutput;
const onCluster = mode !== "local";
const callsPerJob = mode === "grouped" ? Math.ceil(16 / availableParallelism()) : 1;
const executor = onCluster
  ? slurmExecutor({
      module: import.meta.filename,
      exportName: mode === "trivial" ? "once" : "naps",
      resources: { default: { cpus: 1, memory: 200, time: 5 }, stages: { nap: { callsPerJob } } },
      latencyWait: 5000,
    })
  : undefined;
const options = { hashOutput, ...(executor === undefined ? {} : { executor }) };

export const naps = new MappedStage(
  new Stage(
    async function nap(i) {
      await runProcess(["sleep", "1"]);
      return i;
    },
    { ...options, name: "nap", outputs: "i" },
  ),
  ["i"],
  { concurrency: onCluster ? 16 : availableParallelism() },
);

export const once = new Stage((i) => i, { ...options, name: "once", outputs: "i" });

if (process.env.MEMORI_JOB === undefined) {
  const started = process.hrtime.bigint();
  if (mode === "trivial") await once.run(Date.now());
  else await naps.run({ i: Array.from({ length: 16 }, (_, k) => k) });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  process.stdout.write(JSON.stringify({ ms }) + "\n");
}
