// `node bench/startup.mjs [--runs N] [--list]` (after `npm run build`): what starting the memori
// command costs, the `skipped memori` row of the suite in more detail. In turn, N times each
// (21 by default, so a busy machine slows each alike): bare `node -e ''`, an empty ES module,
// and a skipped `memori -d DIR echo hi` (the program the package's bin names, its state present
// and valid). For each: the median wall-clock time and its ratio to bare Node, the mean CPU time
// of its processes (user + system, Linux), and how many built-in modules it loaded (as listed by
// `process.moduleLoadList`, read at exit by a preloaded script). `--list` names the built-in
// modules the skip loads that bare Node does not.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { alternating, bin, data, median } from "./lib.mjs";

const at = process.argv.indexOf("--runs");
const runs = at === -1 ? 21 : Number(process.argv[at + 1]);
if (!Number.isInteger(runs) || runs < 1) throw new Error("--runs takes a whole number >= 1");
const memori = bin("memori");

const dir = path.join(data, "startup");
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const state = path.join(dir, "state");
const empty = path.join(dir, "empty.mjs");
writeFileSync(empty, "");
execFileSync(process.execPath, [memori, "-d", state, "echo", "hi"]);

const commands = [
  ["bare `node -e ''`", ["-e", ""]],
  ["an empty ES module", [empty]],
  ["skipped `memori -d DIR echo hi`", [memori, "-d", state, "echo", "hi"]],
];

// Built-in modules each loads: a CommonJS preload (it starts no ES module loader of its own).
const preload = path.join(dir, "loaded.cjs");
writeFileSync(
  preload,
  `process.on("exit", () => require("node:fs").writeFileSync(process.env.LOADED_TO, ` +
    `process.moduleLoadList.filter((m) => m.startsWith("NativeModule ")).map((m) => m.slice(13)).join("\\n")));`,
);
const loaded = commands.map(([, args], i) => {
  const to = path.join(dir, `loaded-${i}.txt`);
  const result = spawnSync(process.execPath, ["--require", preload, ...args], {
    env: { ...process.env, LOADED_TO: to },
  });
  if (result.status !== 0) throw new Error(`${args.join(" ")}: ${result.stderr}`);
  return readFileSync(to, "utf8").split("\n");
});

const measured = alternating(
  runs,
  commands.map(([, args]) => [process.execPath, ...args]),
);
const bare = median(measured[0].wall);
process.stdout.write(`${runs} runs each, in turn; Node ${process.version}\n`);
commands.forEach(([name], i) => {
  const wall = median(measured[i].wall);
  const cpu = measured[i].cpu === undefined ? "" : `, CPU ${measured[i].cpu.toFixed(1)} ms`;
  process.stdout.write(
    `${name}: ${wall.toFixed(1)} ms (x${(wall / bare).toFixed(2)})${cpu}, ${loaded[i].length} built-in modules\n`,
  );
});
if (process.argv.includes("--list")) {
  const base = new Set(loaded[0]);
  const extra = loaded[2].filter((name) => !base.has(name));
  process.stdout.write(`the skip's built-in modules beyond bare Node:\n  ${extra.join(" ")}\n`);
}
