// Fan-out and fan-in with aliases: one stage feeds two stages whose parameters have other
// names, and a last stage joins them.
import { Pipeline, Stage } from "memori";
import { expectAllCached, report, workDir } from "./util.js";

const hashOutput = await workDir("fan-out-fan-in");

function build(): Pipeline {
  const load = new Stage((a: number, b: number) => a + b, {
    name: "load",
    outputs: "c",
    aliases: { d: "c" }, // downstream stages may ask for "c" or "d"
    hashOutput,
  });
  const plusOne = new Stage((c: number) => c + 1, { name: "plusOne", outputs: "e", hashOutput });
  const plusTwo = new Stage((d: number) => d + 2, { name: "plusTwo", outputs: "f", hashOutput });
  const join = new Stage((e: number, f: number) => ({ sum: e + f, product: e * f }), {
    name: "join",
    outputs: ["sum", "product"],
    hashOutput,
  });
  return new Pipeline([
    ["start", load],
    [load, plusOne],
    [load, plusTwo],
    [[plusOne, plusTwo], join],
  ]);
}

const first = build();
console.log(await first.runNamed({ a: 1, b: 2 }));
report("first run", first);
const second = build();
await second.runNamed({ a: 1, b: 2 });
expectAllCached(report("second run", second));
