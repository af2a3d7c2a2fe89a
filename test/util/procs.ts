import { execFileSync } from "node:child_process";
import { readdir } from "node:fs/promises";

/** Running processes whose command line is exactly `args` (`ps -eo pid,args`, minus ps itself). */
export function processesNamed(args: string): string[] {
  const out = execFileSync("ps", ["-eo", "pid,args"], { encoding: "utf8" });
  return out.split("\n").filter((line) => line.trim().replace(/^\d+\s+/, "") === args);
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
