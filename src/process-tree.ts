/**
 * A process and everything it started, stopped for good: SIGTERM to the whole tree, then
 * SIGKILL to whatever is left after a grace period, and done only when none of it runs any
 * more. A stage's processes must not outlive the call they belong to: a helper that goes on
 * writing after its call was stopped would change files that later calls read.
 *
 * The tree is read from /proc (Linux); elsewhere only the direct child is stopped.
 */
import { readFileSync } from "node:fs";
import { readdirSync } from "./untracked-fs.js";

/** How long a tree has to end after SIGTERM before what is left gets SIGKILL. */
export const KILL_GRACE_MS = 3000;

/** The parent of every process, from /proc; empty where there is no /proc. */
function parents(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return children;
  }
  for (const entry of entries) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses; it ends at the last ")".
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // the process ended meanwhile
    }
  }
  return children;
}

/** The processes below `roots`, found now. */
function descendants(roots: Iterable<number>): number[] {
  const children = parents();
  const found: number[] = [];
  const queue = [...roots];
  for (let i = 0; i < queue.length; i++) {
    for (const child of children.get(queue[i]!) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** Whether a process still runs (a zombie, waiting to be reaped, does not). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch {
    try {
      process.kill(pid, 0);
      return !existsProcDir();
    } catch {
      return false;
    }
  }
}

let procDir: boolean | undefined;
function existsProcDir(): boolean {
  if (procDir === undefined) {
    try {
      readdirSync("/proc/self");
      procDir = true;
    } catch {
      procDir = false;
    }
  }
  return procDir;
}

function signalAll(pids: Iterable<number>, signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** Send `signal` to what `pid` started (not to `pid`): a tracer passes on nothing itself. */
export function signalBelow(pid: number, signal: NodeJS.Signals): void {
  signalAll(descendants([pid]).reverse(), signal);
}

/**
 * Stop the process `pid` and everything below it: SIGTERM now, SIGKILL after
 * {@link KILL_GRACE_MS} to what is left (including what was started meanwhile). Resolves when
 * nothing of the tree runs any more.
 */
export async function stopTree(pid: number, options: { spareRoot?: boolean } = {}): Promise<void> {
  const tree = new Set([pid, ...descendants([pid])]);
  // A tracer (strace) is spared the SIGTERM: stopped while its process takes the signal, it
  // would let the process go on untraced and unstopped. It ends when what it traces ends.
  const first = options.spareRoot ? [...tree].filter((p) => p !== pid) : [...tree];
  signalAll(first.reverse(), "SIGTERM");
  const deadline = Date.now() + KILL_GRACE_MS;
  let killed = false;
  for (;;) {
    // What the tree started since: a dying shell may still have forked.
    for (const child of descendants([...tree].filter(alive))) tree.add(child);
    const left = [...tree].filter(alive);
    if (left.length === 0) return;
    if (!killed && Date.now() >= deadline) {
      signalAll(left, "SIGKILL");
      killed = true;
    } else if (killed && Date.now() >= deadline + KILL_GRACE_MS) {
      return; // unkillable (uninterruptible sleep): nothing more to do
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
