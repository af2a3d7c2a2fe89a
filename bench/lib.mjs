// What the benchmark suite's sections share: running a child (Node or Python memori), medians,
// data files made once, and the rows of the table.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeSync,
} from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, "..");
export const data = path.join(here, "data");
export const quick = process.argv.includes("--quick");
export const GiB = 1024 ** 3;
export const MiB = 1024 ** 2;
export const REPEAT = quick ? 3 : 5;
mkdirSync(data, { recursive: true });

function child(command, args, env = {}) {
  const result = spawnSync(command, args, {
    encoding: "utf8",
    env: { ...process.env, ...env },
    maxBuffer: 1 << 26,
  });
  if (result.status !== 0) throw new Error(`${args[0]} failed: ${result.stderr}`);
  return JSON.parse(result.stdout.trim().split("\n").pop());
}

/** Run a script of bench/children in a fresh Node process: the JSON it printed last. */
export function node(script, args, env = {}) {
  return child(process.execPath, [path.join(here, "children", script), ...args], env);
}

/** Python memori from ../shared/peers/memori, run in place, when python3 is here. */
export const peer = path.resolve(root, "..", "shared", "peers", "memori");
export const python =
  existsSync(path.join(peer, "memori", "__init__.py")) &&
  spawnSync("python3", ["--version"]).status === 0;
if (!python) process.stderr.write("bench: Python memori rows skipped: no python3 or no peer\n");

/** Run a Python script of bench/children: the JSON it printed last. */
export function py(script, args) {
  return child("python3", [path.join(here, "children", script), ...args]);
}

/** A command-line program as the package ships it: the file its `bin` names (built first). */
export function bin(name) {
  const manifest = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
  const file = path.join(root, manifest.bin[name]);
  if (!existsSync(file)) throw new Error(`${file} is missing: run npm run build first`);
  return file;
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function times(n, fn) {
  return Array.from({ length: n }, fn);
}

/**
 * The CPU time (user + system) of this process's children that have ended, in ms, from
 * /proc/self/stat (Linux's USER_HZ is 100); `undefined` where there is no /proc.
 */
function childrenCpuMs() {
  try {
    const fields = readFileSync("/proc/self/stat", "utf8").split(") ")[1].split(" ");
    return (Number(fields[13]) + Number(fields[14])) * 10; // cutime + cstime, at 100 ticks/s
  } catch {
    return undefined;
  }
}

/**
 * Run whole processes in turn, `n` rounds (so a busy machine slows each alike), each round
 * starting one command further on (none always runs first, or always after the same one): for
 * each command (`[program, ...args]`), its wall-clock times in ms, and the mean CPU time of its
 * processes (user + system; `undefined` without /proc; 10 ms ticks, so a mean of many). What
 * earlier rows wrote is flushed first (`sync`), so the disk's writing back is not timed.
 */
export function alternating(n, commands) {
  spawnSync("sync");
  const walls = commands.map(() => []);
  const cpu = commands.map(() => 0);
  for (let i = 0; i < n; i++) {
    const order = commands.map((_, j) => (i + j) % commands.length);
    order.forEach((j) => {
      const [program, ...args] = commands[j];
      const ticks = childrenCpuMs();
      const started = process.hrtime.bigint();
      const result = spawnSync(program, args, { encoding: "utf8" });
      walls[j].push(Number(process.hrtime.bigint() - started) / 1e6);
      if (result.status !== 0) throw new Error(`${program} ${args.join(" ")}: ${result.stderr}`);
      if (ticks !== undefined) cpu[j] += childrenCpuMs() - ticks;
    });
  }
  const known = childrenCpuMs() !== undefined;
  return commands.map((_, j) => ({ wall: walls[j], cpu: known ? cpu[j] / n : undefined }));
}

/** A file of `size` bytes of incompressible data, made once and aged past the racy window. */
export function dataFile(name, size) {
  const file = path.join(data, name);
  if (existsSync(file) && statSync(file).size === size) return file;
  process.stderr.write(`bench: writing ${name} (${(size / MiB).toFixed(0)} MiB)\n`);
  const block = randomBytes(64 * MiB);
  const fd = openSync(file, "w");
  for (let written = 0; written < size; written += block.length) {
    const n = Math.min(block.length, size - written);
    block.writeUInt32LE(written / block.length, 0); // blocks differ
    writeSync(fd, block, 0, n);
  }
  closeSync(fd);
  const old = new Date(Date.now() - 3600_000);
  utimesSync(file, old, old);
  return file;
}

export const rows = [];
export function row(name, value, unit, reference, referenceValue, note = "", samples) {
  const ratio = referenceValue ? value / referenceValue : undefined;
  rows.push({ name, value, unit, reference, referenceValue, ratio, note, ...samples });
  process.stderr.write(`bench: ${name}: ${value.toFixed(2)} ${unit}\n`);
}

/** Block for `ms` (between runs, to let files age past the racy window). */
export const wait = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Flush the file system's dirty data (what a removal left to write), so it is not timed. */
export function settle() {
  spawnSync("sync");
}

/**
 * Where the first runs' state directories go: a new one for each first run, all removed when
 * the suite ends (`removeFresh`). Removing tens of thousands of files just before a timed run
 * timed the disk's own work on them instead: on a file system mounted with `discard` (this
 * project's machine), the blocks they freed are trimmed at the next journal commits, and the
 * creating that follows waits behind it (a map's first run over 10,000 elements took 2.2 s on
 * a new directory, 4 to 35 s right after the previous run's 30,000 files were removed).
 */
const freshRoot = path.join(data, "fresh");
let freshCount = 0;
if (existsSync(freshRoot)) {
  rmSync(freshRoot, { recursive: true, force: true }); // left by an interrupted suite
  settle();
}

/** A state directory that does not exist yet, for one first run (see `freshRoot`). */
export function freshDir(name) {
  return path.join(freshRoot, `${name}-${++freshCount}`);
}

/** Remove every directory `freshDir` gave, once nothing is timed any more. */
export function removeFresh() {
  rmSync(freshRoot, { recursive: true, force: true });
}
