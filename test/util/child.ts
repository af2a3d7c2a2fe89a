import { spawn, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import path from "node:path";

const fixtures = path.resolve(import.meta.dirname, "..", "fixtures");

export interface ChildResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run a fixture script in a real Node process; `killAfterMs` sends SIGKILL after that long. */
export function runChild(
  fixture: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; killAfterMs?: number } = {},
): Promise<ChildResult> {
  const child = spawn(process.execPath, [path.join(fixtures, fixture), ...args], {
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const timer =
    options.killAfterMs === undefined
      ? undefined
      : setTimeout(() => child.kill("SIGKILL"), options.killAfterMs);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (status, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

/** Count the lines of a log file (0 if absent). */
export async function countLines(file: string): Promise<number> {
  try {
    return (await readFile(file, "utf8")).split("\n").filter(Boolean).length;
  } catch {
    return 0;
  }
}

/** A started child process: its output so far, and its end. */
export interface StartedChild {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  done: Promise<ChildResult>;
}

/** Start a fixture (or any script, by absolute path) in a real Node process, to signal it. */
export function startChild(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): StartedChild {
  const file = path.isAbsolute(script) ? script : path.join(fixtures, script);
  const child = spawn(process.execPath, [file, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<ChildResult>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
  return { child, stdout: () => stdout, stderr: () => stderr, done };
}
