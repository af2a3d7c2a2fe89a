// A linear pipeline of N stages whose functions use helpers and constants (a helper in this
// module, one imported from a local module, module constants, a config object), timed in a
// fresh process. "shared": every stage runs one function; "closures": each stage runs its own
// closure made by a factory (N function objects, each resolved once).
// usage: linear-identity.mjs HASH_OUTPUT N shared|closures
import { Pipeline, Stage } from "../../dist/index.js";
import { offset } from "./identity/lib.mjs";

const [hashOutput, nText, mode] = process.argv.slice(2);
const n = Number(nText);
const STEP = 1;
const config = { scale: 1, label: "bench" };
function scaled(x) {
  return x * config.scale;
}
const shared = (x) => offset(scaled(x)) + STEP;
const make = (i) =>
  function step(x) {
    return offset(scaled(x)) + STEP + i * 0;
  };
const stages = Array.from(
  { length: n },
  (_, i) =>
    new Stage(mode === "closures" ? make(i) : shared, { name: `s${i}`, outputs: "x", hashOutput }),
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
