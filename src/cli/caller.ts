/**
 * The process `memori -k` kills when its command fails: the script that called memori. That is
 * the parent process, except when memori was started through `npx` (or `npm exec`): then the
 * parent is npm's shell and npm itself, and killing it would leave the calling script running
 * on (it would just see a failed `npx`). The caller is then the parent of npm's process, found
 * from /proc (Linux); elsewhere, and when no npm is in between, the parent.
 */
import { readFileSync } from "node:fs";

/** Whether a command line is npm running a package's program (`npm exec`, `npx`). */
function isNpmExec(argv: readonly string[]): boolean {
  if (/^(npm exec|npx)( |$)/.test(argv[0] ?? "")) return true; // the title npm gives itself
  const head = argv.slice(0, 3);
  if (head.some((arg) => /(^|\/)npx(-cli\.js)?$/.test(arg))) return true;
  return (
    head.some((arg) => /(^|\/)npm(-cli\.js)?$/.test(arg)) &&
    (argv.includes("exec") || argv.includes("x"))
  );
}

/** A process's command line and parent, from /proc; `undefined` where there is none. */
function processInfo(pid: number): { argv: string[]; ppid: number } | undefined {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses; it ends at the last ")".
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    return Number.isInteger(ppid) ? { argv, ppid } : undefined;
  } catch {
    return undefined;
  }
}

/** The process that called memori: the parent, or the caller of the npm that started it. */
export function callerPid(parent = process.ppid): number {
  let pid = parent;
  // memori <- npm's `sh -c` <- `npm exec` <- the caller: npm is at most two steps up.
  for (let step = 0; step < 3; step++) {
    const info = processInfo(pid);
    if (info === undefined) return parent;
    if (isNpmExec(info.argv)) return info.ppid > 1 ? info.ppid : parent;
    pid = info.ppid;
    if (pid <= 1) break;
  }
  return parent;
}
