/**
 * What a process tree uses while it runs, sampled from `/proc` (Linux), as Nextflow's task
 * wrapper does: Node gives no resource usage of a child. Samples are taken at 0, 20, 50, 100,
 * 200 and 500 ms, then every second, and once more when the process has ended (then only what
 * is left of its tree, and this process's own count of the children it waited for, tell).
 *
 * At each sample, over the processes of the tree: the sum of each one's peak resident set
 * (`VmHWM`) and peak virtual size (`VmPeak`), of its CPU time with that of the children it
 * waited for (`utime + stime + cutime + cstime`), and of its I/O counters (`/proc/<pid>/io`,
 * which count the children it waited for too). The usage is the largest of each over the
 * samples: a counter is never seen going back when a process of the tree ends.
 *
 * Where there is no `/proc`, {@link sampleUsage} gives `undefined` and nothing is sampled.
 */
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { readdirSync } from "./untracked-fs.js";
import { availableParallelism } from "node:os";
import { callProcessListener, outsideCall } from "./call-signal.js";
import type { ProcessUsage } from "./records/run-record.js";

/** Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`: 100 on every Linux ABI). */
const TICKS = 100;

/** When samples are taken, ms after the start; then every {@link LAST_INTERVAL} ms. */
const SCHEDULE = [0, 20, 50, 100, 200, 500, 1000];
const LAST_INTERVAL = 1000;

let procFound: boolean | undefined;
function hasProc(): boolean {
  if (procFound === undefined) {
    try {
      readFileSync("/proc/self/stat");
      procFound = true;
    } catch {
      procFound = false;
    }
  }
  return procFound;
}

/** One sample of a tree, summed over its processes. */
interface Sample {
  user: number;
  sys: number;
  hwm: number;
  peak: number;
  rchar: number;
  wchar: number;
  readBytes: number | undefined;
  writeBytes: number | undefined;
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, "latin1");
  } catch {
    return undefined;
  }
}

/** The direct children of `pid`, from `/proc/<pid>/task/<tid>/children`. */
function childrenOf(pid: number): number[] {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const tid of tasks) {
    const text = read(`/proc/${pid}/task/${tid}/children`);
    if (text === undefined) continue;
    for (const word of text.split(" ")) if (word !== "" && word !== "\n") found.push(Number(word));
  }
  return found;
}

/** `utime, stime, cutime, cstime` of a process, in ticks; `undefined` once it is gone. */
function cpuOf(pid: number): [number, number, number, number] | undefined {
  const stat = read(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses; it ends at the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is the state (field 3); utime is field 14.
  return [Number(fields[11]), Number(fields[12]), Number(fields[13]), Number(fields[14])];
}

function kilobytes(status: string, key: string): number {
  const at = status.indexOf(`\n${key}:`);
  if (at < 0) return 0;
  return Number.parseInt(status.slice(at + key.length + 2).trimStart(), 10) * 1024 || 0;
}

function counter(io: string, key: string): number | undefined {
  const at = io.startsWith(`${key}:`) ? 0 : io.indexOf(`\n${key}:`);
  if (at < 0) return undefined;
  const value = Number.parseInt(io.slice(at + key.length + (at === 0 ? 1 : 2)).trimStart(), 10);
  return Number.isFinite(value) ? value : undefined;
}

/** A sample of nothing yet: what a tree's sample, and the best of them, start from. */
function emptySample(): Sample {
  return {
    user: 0,
    sys: 0,
    hwm: 0,
    peak: 0,
    rchar: 0,
    wchar: 0,
    readBytes: undefined,
    writeBytes: undefined,
  };
}

/**
 * Sample the tree under `root` now. `tracer`: the root is a tracer (strace) whose own memory
 * and I/O are not the command's; only the CPU time of the children it waited for counts.
 */
function sampleTree(root: number, tracer: boolean): Sample | undefined {
  const sample = emptySample();
  let seen = false;
  const queue = [root];
  for (let i = 0; i < queue.length; i++) {
    const pid = queue[i]!;
    const cpu = cpuOf(pid);
    if (cpu === undefined) continue;
    seen = true;
    queue.push(...childrenOf(pid));
    const own = !(tracer && pid === root);
    sample.user += (own ? cpu[0] : 0) + cpu[2];
    sample.sys += (own ? cpu[1] : 0) + cpu[3];
    if (!own) continue;
    const status = read(`/proc/${pid}/status`);
    if (status !== undefined) {
      sample.hwm += kilobytes(status, "VmHWM");
      sample.peak += kilobytes(status, "VmPeak");
    }
    const io = read(`/proc/${pid}/io`);
    if (io !== undefined) {
      sample.rchar += counter(io, "rchar") ?? 0;
      sample.wchar += counter(io, "wchar") ?? 0;
      const r = counter(io, "read_bytes");
      const w = counter(io, "write_bytes");
      if (r !== undefined) sample.readBytes = (sample.readBytes ?? 0) + r;
      if (w !== undefined) sample.writeBytes = (sample.writeBytes ?? 0) + w;
    }
  }
  return seen ? sample : undefined;
}

/** This process's CPU time of the children it waited for (`cutime`, `cstime`), in ticks. */
function reapedCpu(): [number, number] | undefined {
  const cpu = cpuOf(process.pid);
  return cpu === undefined ? undefined : [cpu[2], cpu[3]];
}

let cpuCount: number | undefined;
const cpus = () => (cpuCount ??= availableParallelism());

/** How many children of this process `runProcess` saw end: a reaped child's CPU is only its own if no other ended meanwhile. */
let ended = 0;

/** The sampling of one process tree. */
export interface UsageSampler {
  /** The process has ended (it was reaped): the last look, and what was seen. */
  stop(): ProcessUsage | undefined;
}

/**
 * Start sampling the tree of the child `pid` (Linux); `undefined` where there is no `/proc`.
 * `tracer`: the child is a tracer (strace) running the command.
 */
export function sampleUsage(pid: number, tracer = false): UsageSampler | undefined {
  if (!hasProc()) return undefined;
  const best = emptySample();
  let samples = 0;
  // The last sample's tree CPU, this process's reaped-children CPU then, and how many children
  // had ended then: the root's final CPU time is what the reaped count grew by at its end.
  let before: { tree: number; reaped: [number, number]; ended: number; time: number } | undefined;
  /** Sample now; `false` once the process is gone. */
  const take = (): boolean => {
    const reaped = reapedCpu();
    const sample = sampleTree(pid, tracer);
    if (sample === undefined) return false;
    samples++;
    best.user = Math.max(best.user, sample.user);
    best.sys = Math.max(best.sys, sample.sys);
    best.hwm = Math.max(best.hwm, sample.hwm);
    best.peak = Math.max(best.peak, sample.peak);
    best.rchar = Math.max(best.rchar, sample.rchar);
    best.wchar = Math.max(best.wchar, sample.wchar);
    if (sample.readBytes !== undefined)
      best.readBytes = Math.max(best.readBytes ?? 0, sample.readBytes);
    if (sample.writeBytes !== undefined)
      best.writeBytes = Math.max(best.writeBytes ?? 0, sample.writeBytes);
    if (reaped !== undefined && !tracer) {
      before = { tree: sample.user + sample.sys, reaped, ended, time: Date.now() };
    }
    return true;
  };
  let step = 0;
  let timer: NodeJS.Timeout | undefined;
  const next = () => {
    const wait = step + 1 < SCHEDULE.length ? SCHEDULE[step + 1]! - SCHEDULE[step]! : LAST_INTERVAL;
    step++;
    timer = setTimeout(() => {
      if (take()) next();
    }, wait);
    timer.unref();
  };
  if (take()) next();
  let done = false;
  return {
    stop() {
      clearTimeout(timer);
      if (done) return undefined;
      done = true;
      ended++;
      // What is left of the tree (children the root left behind, reparented away) is gone
      // from it; the root itself was reaped by this process: its final CPU time, its own and
      // its waited-for children's, went to this process's reaped count.
      // Taken only when no other child was seen ending since the last sample, and when it did
      // not grow by more than the tree could have used meanwhile (another child reaped in the
      // same moment would count too).
      const reaped = reapedCpu();
      if (before !== undefined && reaped !== undefined && before.ended + 1 === ended) {
        const user = reaped[0] - before.reaped[0];
        const sys = reaped[1] - before.reaped[1];
        const possible = ((Date.now() - before.time + 20) / (1000 / TICKS)) * cpus() + 1;
        if (user + sys - before.tree <= possible) {
          best.user = Math.max(best.user, user);
          best.sys = Math.max(best.sys, sys);
        }
      }
      if (samples === 0) return undefined;
      const usage: ProcessUsage = {
        userMs: best.user * (1000 / TICKS),
        sysMs: best.sys * (1000 / TICKS),
        peakRss: best.hwm,
        peakVmem: best.peak,
        rchar: best.rchar,
        wchar: best.wchar,
        samples,
      };
      if (best.readBytes !== undefined) usage.readBytes = best.readBytes;
      if (best.writeBytes !== undefined) usage.writeBytes = best.writeBytes;
      return usage;
    },
  };
}

/**
 * Inside a stage call whose events are heard: sample what the just-started `child` uses, and
 * tell the call when it ends (the `stage:process` event). Nothing otherwise.
 */
export function watchProcess(
  child: ChildProcess,
  command: string | readonly string[],
  tracer: boolean,
): void {
  const onProcess = callProcessListener();
  const pid = child.pid;
  if (onProcess === undefined || pid === undefined) return;
  const start = Date.now();
  // memori's own reads, not the call's (read tracking), and timers that hold no call context.
  const sampler = outsideCall(() => sampleUsage(pid, tracer));
  const stopped = () => outsideCall(() => sampler?.stop());
  child.once("error", () => void stopped());
  child.once("exit", (code, signal) => {
    const usage = stopped();
    try {
      onProcess({
        command,
        pid,
        exitCode: code ?? undefined,
        signal: signal ?? undefined,
        start,
        usage,
      });
    } catch {
      // a listener's problem must not fail the stage
    }
  });
}
