// 8 independent stages that each run a 300 ms process, at the concurrency given.
// usage: concurrency.mjs CONCURRENCY
import { Pipeline, Stage, runProcess } from "../../dist/index.js";

const concurrency = Number(process.argv[2]);
const stages = Array.from(
  { length: 8 },
  (_, i) =>
    new Stage(
      async function sleeper() {
        return runProcess(["sleep", "0.3"]);
      },
      { name: `sleep${i}`, outputs: `s${i}` },
    ),
);
const started = process.hrtime.bigint();
await new Pipeline(
  stages.map((s) => ["start", s]),
  { concurrency },
).run();
process.stdout.write(
  JSON.stringify({ ms: Number(process.hrtime.bigint() - started) / 1e6 }) + "\n",
);
