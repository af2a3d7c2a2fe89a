// One stage whose input is a file, timed in a fresh process: prints the milliseconds stage.run
// took (the skip-check when cached). usage: skip-check.mjs HASH_OUTPUT FILE
import { Stage } from "../../dist/index.js";

const [hashOutput, file] = process.argv.slice(2);
const stage = new Stage(
  function inspect(input) {
    return input.length;
  },
  { hashOutput, name: "inspect" },
);
const started = process.hrtime.bigint();
await stage.run(file);
const ms = Number(process.hrtime.bigint() - started) / 1e6;
process.stdout.write(JSON.stringify({ ms, fromCache: stage.fromCache }) + "\n");
