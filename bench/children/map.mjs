// A map of a trivial stage over N elements, timed in a fresh process (MappedStage, so that the
// elements' decisions can be counted). usage: map.mjs HASH_OUTPUT N
import { MappedStage, Stage } from "../../dist/index.js";

const [hashOutput, nText] = process.argv.slice(2);
const n = Number(nText);
const stage = new Stage((x) => x * 2, { name: "double", outputs: "y", hashOutput });
const mapped = new MappedStage(stage, ["x"]);
const xs = Array.from({ length: n }, (_, i) => i);
const started = process.hrtime.bigint();
const { y } = await mapped.run({ x: xs });
const ms = Number(process.hrtime.bigint() - started) / 1e6;
if (y.length !== n || y[n - 1] !== 2 * (n - 1)) throw new Error(`wrong results: ${y.length}`);
const cached = mapped.elementDecisions.filter((d) => d.action === "skip").length;
process.stdout.write(JSON.stringify({ ms, cached }) + "\n");
