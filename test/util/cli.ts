import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { chmod, readFile, writeFile } from "node:fs/promises";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..", "..");

const manifest = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as {
  bin: Record<"memori" | "pathman", string>;
};

/**
 * The path of a built command-line program: the file the package's `bin` names, what users run
 * (`npm test` builds first).
 */
export function bin(name: "memori" | "pathman"): string {
  return path.join(root, manifest.bin[name]);
}

export interface Ran {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Start a built binary as a real process. */
export function start(
  name: "memori" | "pathman",
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = {},
): ChildProcess {
  return spawn(process.execPath, [bin(name), ...args], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Wait for a process started with `start` and collect its output. */
export function collect(child: ChildProcess): Promise<Ran> {
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

/** Run a built binary to completion. */
export function run(
  name: "memori" | "pathman",
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = {},
): Promise<Ran> {
  return collect(start(name, args, cwd, env));
}

/** A shell script in `dir` that logs each execution to `runs.log`, so a test counts real runs. */
export async function countingScript(dir: string, name: string, body: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, `#!/bin/sh\necho run >> "${path.join(dir, "runs.log")}"\n${body}\n`);
  await chmod(file, 0o755);
  return file;
}

/** How many runs `runs.log` in `dir` holds (0 when there is none). */
export async function runsLogged(dir: string): Promise<number> {
  const text = await readFile(path.join(dir, "runs.log"), "utf8").catch(() => "");
  return text.split("\n").filter(Boolean).length;
}
