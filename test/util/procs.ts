import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { readdir } from "node:fs/promises";

// Every process this test worker starts inherits this token, orphans included, so a search for
// `sleep 20` does not find the `sleep 20` of another suite running at the same time (a
// mutation run beside a test run, two checkouts).
const TOKEN = "MEMORI_TEST_TOKEN";
const token = `${TOKEN}=${(process.env[TOKEN] ??= randomUUID())}`;

function startedHere(pid: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, "latin1").split("\0").includes(token);
  } catch {
    return false; // gone, or not ours to read
  }
}

/**
 * Running processes started from this test worker whose command line is exactly `args`
 * (`ps -eo pid,args`, minus ps itself).
 */
export function processesNamed(args: string): string[] {
  const out = execFileSync("ps", ["-eo", "pid,args"], { encoding: "utf8" });
  return out
    .split("\n")
    .filter((line) => line.trim().replace(/^\d+\s+/, "") === args)
    .filter((line) => startedHere(line.trim().split(/\s+/, 1)[0] as string));
}

/** Poll until no process runs `args` (up to `ms`); returns those still running. */
export async function waitGone(args: string, ms = 3000): Promise<string[]> {
  const until = Date.now() + ms;
  for (;;) {
    const left = processesNamed(args);
    if (left.length === 0 || Date.now() > until) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The `.stage` (commit record) files in a state directory, or [] if it does not exist. */
export async function commits(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => n.endsWith(".stage")).sort();
}
