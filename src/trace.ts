/**
 * The files a process and everything it starts open, read from `strace`'s log (the way
 * fabricate and tup discover dependencies): a command run for a stage is started under
 * `strace -f`, and what its processes opened for reading and for writing is added to the call's
 * record (see read-tracking.ts for JavaScript code). Where strace is missing or cannot trace
 * (no ptrace in a container), commands run as they are and their files are not seen.
 */
import path from "node:path";
import { childProcess } from "./lazy-modules.js";

/** Looking a path up without opening it: only a failed lookup is recorded (not found). */
const LOOKUPS = new Set([
  "stat",
  "lstat",
  "newfstatat",
  "statx",
  "access",
  "faccessat",
  "faccessat2",
]);

/** The system calls traced: opening, creating, renaming, changing directory, starting, looking up. */
const SYSCALLS = [
  ...["open", "openat", "openat2", "creat", "rename", "renameat", "renameat2"],
  ...["chdir", "fchdir", "execve", "clone", "clone3", "fork", "vfork"],
  ...["getdents", "getdents64"],
  ...LOOKUPS,
];

/** memori's own trace logs (read back by memori, not by the call). */
export const TRACE_LOG = /(^|\/)memori-trace-[0-9a-f-]+\.log$/;

let usable: boolean | undefined;

/** Whether commands can run under strace here (it is installed, and ptrace is allowed). */
export function canTrace(): boolean {
  if (usable === undefined) {
    const probe = childProcess().spawnSync(
      "strace",
      ["-f", "-qq", "-e", "trace=none", "--", "true"],
      {
        stdio: "ignore",
        timeout: 10_000,
      },
    );
    usable = probe.status === 0;
  }
  return usable;
}

/** The command that runs `file args` under strace, logging to `log`. */
export function traced(file: string, args: readonly string[], log: string): [string, string[]] {
  return [
    "strace",
    [
      "-f",
      "-qq",
      "-y",
      "-e",
      `trace=${SYSCALLS.join(",")}`,
      "-e",
      "signal=none",
      "-o",
      log,
      "--",
      file,
      ...args,
    ],
  ];
}

/** What a trace says the processes opened. */
export interface Traced {
  /** Absolute paths of regular files opened for reading, and programs started. */
  readonly reads: Set<string>;
  /** Absolute paths of files opened for writing (not only appending), created, renamed to. */
  readonly writes: Set<string>;
  /** Absolute paths of directories listed (`getdents`). */
  readonly lists: Set<string>;
}

/** Decode a C-style string literal as strace prints it (without the quotes). */
function unquote(text: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== "\\") {
      for (const b of Buffer.from(c, "utf8")) bytes.push(b);
      continue;
    }
    const next = text[++i]!;
    const simple: Record<string, number> = { n: 10, t: 9, r: 13, v: 11, f: 12, '"': 34, "\\": 92 };
    if (next in simple) bytes.push(simple[next]!);
    else if (next === "x") {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (/[0-7]/.test(next)) {
      let digits = next;
      while (digits.length < 3 && /[0-7]/.test(text[i + 1] ?? "")) digits += text[++i];
      bytes.push(parseInt(digits, 8));
    } else bytes.push(next.charCodeAt(0));
  }
  return Buffer.from(bytes).toString("utf8");
}

/** The quoted strings and `N</path>` descriptors among a call's arguments, in order. */
function argumentsOf(args: string): { strings: string[]; dirfds: (string | undefined)[] } {
  const strings: string[] = [];
  const dirfds: (string | undefined)[] = [];
  const pattern = /"((?:[^"\\]|\\.)*)"|(AT_FDCWD|\d+<((?:[^>\\]|\\.)*)>)/g;
  let pendingDir: string | undefined;
  for (const match of args.matchAll(pattern)) {
    if (match[1] !== undefined) {
      strings.push(unquote(match[1]));
      dirfds.push(pendingDir);
      pendingDir = undefined;
    } else {
      pendingDir = match[3] === undefined ? undefined : unquote(match[3]);
    }
  }
  return { strings, dirfds };
}

/**
 * Read a strace log (`-f -y`) of processes started in `cwd`: the files they opened for
 * reading and writing, each as the process named it (a link's path, not its target's), an
 * absolute path as it is, a relative one relative to `base` (this process's working
 * directory). A file a process tried to read and did not find counts as read (absent: its
 * appearing later counts); other failed calls count for nothing; a directory opened is not a
 * file read, and a directory listed (`getdents`, by `ls`, a shell's `*`, `find`) is listed.
 */
export function parseTrace(log: string, cwd: string, base = process.cwd()): Traced {
  const reads = new Set<string>();
  const writes = new Set<string>();
  const lists = new Set<string>();
  const cwds = new Map<string, string>();
  const unfinished = new Map<string, string>();
  for (const raw of log.split("\n")) {
    const head = /^(\d+)\s+(.*)$/.exec(raw);
    if (head === null) continue;
    const pid = head[1]!;
    let line = head[2]!;
    if (line.endsWith("<unfinished ...>")) {
      unfinished.set(pid, line.slice(0, -"<unfinished ...>".length));
      continue;
    }
    const resumed = /^<\.\.\. \w+ resumed>(.*)$/.exec(line);
    if (resumed !== null) {
      line = (unfinished.get(pid) ?? "") + resumed[1]!;
      unfinished.delete(pid);
    }
    const call = /^(\w+)\((.*)\)\s+=\s+(-?\d+|\?)/.exec(line);
    if (call === null) continue;
    const [, name, args, result] = call;
    const here = cwds.get(pid) ?? cwd;
    const { strings, dirfds } = argumentsOf(args!);
    const at = (index: number) => {
      const file = strings[index];
      if (file === undefined) return undefined;
      const dir = dirfds[index];
      if (path.isAbsolute(file)) return path.normalize(file);
      if (dir !== undefined) return path.resolve(dir, file);
      return path.relative(base, path.resolve(here, file)) || ".";
    };
    if (result === "?") continue;
    if (result!.startsWith("-")) {
      // Looked for and not found: where it appears later, the result may differ.
      // (a program looked for on PATH, a file tested with `[ -e ]`, an optional config)
      const opening = name === "open" || name === "openat" || name === "openat2";
      const looking = opening || name === "execve" || LOOKUPS.has(name!);
      if (looking && / ENOENT /.test(line) && !/O_WRONLY|O_RDWR|O_DIRECTORY/.test(args!)) {
        const missing = at(0);
        if (missing !== undefined) reads.add(missing);
      }
      continue;
    }
    if (LOOKUPS.has(name!)) continue; // found: not a read of its content
    switch (name) {
      case "getdents":
      case "getdents64": {
        // getdents64(3</data/inbox>, ...): -y names the directory the descriptor is open on.
        const listed = /^\d+<((?:[^>\\]|\\.)*)>/.exec(args!);
        if (listed !== null) lists.add(path.normalize(unquote(listed[1]!)));
        break;
      }
      case "clone":
      case "clone3":
      case "fork":
      case "vfork":
        cwds.set(result!, here);
        break;
      case "chdir":
        if (strings[0] !== undefined) cwds.set(pid, path.resolve(here, strings[0]));
        break;
      case "fchdir": {
        const dir = /^\d+<((?:[^>\\]|\\.)*)>/.exec(args!);
        if (dir) cwds.set(pid, unquote(dir[1]!));
        break;
      }
      case "execve": {
        const program = at(0);
        if (program !== undefined) reads.add(program);
        break;
      }
      case "rename":
      case "renameat":
      case "renameat2": {
        const target = at(1);
        if (target !== undefined) writes.add(target);
        break;
      }
      case "creat": {
        const file = at(0);
        if (file !== undefined) writes.add(file);
        break;
      }
      default: {
        // open, openat, openat2: the file as named (-y's resolved path would hide a link).
        if (args!.includes("O_DIRECTORY")) break;
        const file = at(0);
        if (file === undefined) break;
        const writing = /O_WRONLY|O_RDWR/.test(args!);
        const appending = args!.includes("O_APPEND") && !/O_TRUNC|O_CREAT\|O_EXCL/.test(args!);
        if (!writing || args!.includes("O_RDWR")) reads.add(file);
        if (writing && !appending) writes.add(file);
      }
    }
  }
  return { reads, writes, lists };
}
