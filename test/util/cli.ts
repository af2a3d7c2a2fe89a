import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
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
