// `npm run mutation [-- FILE...]`: builds, runs StrykerJS, then prints the score table.
// With no FILE, the whole scope of stryker.config.json. With files, only their mutants are
// tested; Stryker keeps every other file's results in the incremental file as they were, so a
// scope too slow for one sitting can be measured in parts, and a later run reuses each part.
// The table lists the files tested by this run (all of the scope when no file is given).
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

const files = process.argv.slice(2);
const config = JSON.parse(readFileSync("stryker.config.json", "utf8"));
const unknown = files.filter((f) => !config.mutate.includes(f));
if (unknown.length > 0) {
  process.stderr.write(
    `npm run mutation: not in the scope of stryker.config.json ("mutate"): ${unknown.join(", ")}\n` +
      `the scope is: ${config.mutate.join(", ")}\n`,
  );
  process.exit(2);
}

const run = (command, args) => {
  const { status, signal } = spawnSync(command, args, { stdio: "inherit" });
  if (status !== 0) process.exit(status ?? (signal ? 1 : 2));
};
run("npm", ["run", "build"]);
run("npx", ["stryker", "run", ...(files.length > 0 ? ["--mutate", files.join(",")] : [])]);
run("node", ["test/mutation/table.mjs", ...files.map((f) => `--only=${f}`)]);
