// Builds the package, then runs the examples (all of them, or those named on the command line:
// `two-stage`, `two-stage.ts` or `examples/two-stage.ts`) with tsx, and fails if any fails.
// Names are checked before the build. Each example runs its pipeline twice and checks the
// second run was cached.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const all = readdirSync(here)
  .filter((f) => f.endsWith(".ts") && f !== "util.ts")
  .map((f) => f.slice(0, -3))
  .sort();
const wanted = process.argv.slice(2).map((name) => path.basename(name).replace(/\.ts$/, ""));
const unknown = wanted.filter((name) => !all.includes(name));
if (unknown.length > 0) {
  console.error(`unknown example(s): ${unknown.join(", ")}; the examples are ${all.join(", ")}`);
  process.exit(2);
}
// The examples import the package as built (`npm run build`, through the npm that runs this).
const npm = process.env.npm_execpath;
const build = npm
  ? spawnSync(process.execPath, [npm, "run", "build"], {
      stdio: "inherit",
      cwd: path.join(here, ".."),
    })
  : spawnSync("npm", ["run", "build"], { stdio: "inherit", cwd: path.join(here, "..") });
if (build.status !== 0) {
  console.error(`the build failed (status ${build.status ?? build.signal})`);
  process.exit(1);
}
let failed = 0;
for (const name of wanted.length ? wanted : all) {
  console.log(`\n=== example: ${name}`);
  const result = spawnSync(process.execPath, ["--import", "tsx", path.join(here, `${name}.ts`)], {
    stdio: "inherit",
    cwd: path.join(here, ".."),
  });
  if (result.status !== 0) {
    failed++;
    console.error(`example ${name} failed with status ${result.status ?? result.signal}`);
  }
}
process.exit(failed ? 1 : 0);
