// A linear pipeline of N trivial stages, timed in a fresh process.
// usage: linear.mjs HASH_OUTPUT N
import { Pipeline, Stage } from "../../dist/index.js";

const [hashOutput, nText] = process.argv.slice(2);
const n = Number(nText);
const step = (x) => x + 1;
const stages = Array.from(
  { length: n },
  (_, i) => new Stage(step, { name: `s${i}`, outputs: "x", hashOutput }),
);
const definition = [["start", stages[0]]];
for (let i = 1; i < n; i++) definition.push([stages[i - 1], stages[i]]);
const pipeline = new Pipeline(definition);
const started = process.hrtime.bigint();
const result = await pipeline.run(0);
const ms = Number(process.hrtime.bigint() - started) / 1e6;
if (result.x !== n) throw new Error(`expected ${n}, got ${result.x}`);
const cached = pipeline.decisions.filter((d) => d.action === "skip").length;
process.stdout.write(JSON.stringify({ ms, cached }) + "\n");
