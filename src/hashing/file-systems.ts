/**
 * Which file systems are shared between hosts, and how long a file there must have been left
 * alone before its stat identity may stand for its content.
 *
 * A file's identity (device, inode, size, times) is trusted for its hash only if the file had
 * not changed for a while when it was hashed (files.ts, directories.ts: git's "racy" problem).
 * "A while" is measured on this host's clock, and the file's times come from the clock of
 * whoever wrote it: on a network file system another host (the server, or the node that set
 * them). When this host's clock runs ahead, a file changed a moment ago looks older than it
 * is, and a rewrite within its timestamp tick could go unseen. So on a shared file system the
 * window is longer by the clock skew memori allows for: `MEMORI_CLOCK_SKEW_MS`, default two
 * minutes. Files changed more recently than that are hashed again on the next run, never
 * trusted by their stat.
 */
import { readFileSync } from "node:fs";

/** File system types whose files other hosts write (Linux's names in /proc/self/mountinfo). */
const SHARED = new Set([
  "nfs",
  "nfs4",
  "cifs",
  "smb3",
  "smbfs",
  "lustre",
  "gpfs",
  "beegfs",
  "ceph",
  "glusterfs",
  "afs",
  "9p",
  "panfs",
  "orangefs",
  "pvfs2",
  "wekafs",
  "ocfs2",
  "gfs2",
]);

/** The clock skew allowed for between hosts sharing a file system, in ms. */
export function allowedSkewMs(env: NodeJS.ProcessEnv = process.env): number {
  const given = Number(env.MEMORI_CLOCK_SKEW_MS);
  return env.MEMORI_CLOCK_SKEW_MS !== undefined && Number.isFinite(given) && given >= 0
    ? given
    : 120_000;
}

/** Extra types taken as shared, from `MEMORI_SHARED_FS` (comma-separated). */
function sharedTypes(env: NodeJS.ProcessEnv): Set<string> {
  const extra = (env.MEMORI_SHARED_FS ?? "")
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);
  return extra.length === 0 ? SHARED : new Set([...SHARED, ...extra]);
}

/** `major:minor` of a device number as `stat` gives it (glibc's encoding). */
export function deviceName(dev: number | bigint): string {
  const d = BigInt(dev);
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & 0xfffff000n);
  const minor = (d & 0xffn) | ((d >> 12n) & 0xffffff00n);
  return `${major}:${minor}`;
}

/** The file system type of each mounted device, from mountinfo's text. */
export function typesByDevice(mountinfo: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const line of mountinfo.split("\n")) {
    // 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
    const fields = line.split(" ");
    const dash = fields.indexOf("-");
    if (dash < 0 || fields.length < dash + 2 || fields[2] === undefined) continue;
    types.set(fields[2], fields[dash + 1]!);
  }
  return types;
}

/** The mount table as last read (`null`: there is none to read, not Linux). */
let known: Map<string, string> | null | undefined;
/** Devices the table was read again for (each once: a device still unknown stays shared). */
const lookedAgain = new Set<string>();

function mountinfo(): Map<string, string> | null {
  try {
    return typesByDevice(readFileSync("/proc/self/mountinfo", "utf8"));
  } catch {
    return null; // not Linux: no types known
  }
}

/**
 * Whether files on device `dev` may be written by other hosts: its type is a network or
 * cluster file system, or cannot be told (a device mounted after the table was read is looked
 * up again once; on a system without /proc/self/mountinfo, every device counts as shared).
 */
export function isShared(dev: number | bigint, env: NodeJS.ProcessEnv = process.env): boolean {
  const name = deviceName(dev);
  let type = (known ??= mountinfo())?.get(name);
  if (type === undefined && known !== null && !lookedAgain.has(name)) {
    lookedAgain.add(name);
    known = mountinfo(); // an automounted share, mounted since
    type = known?.get(name);
  }
  if (type === undefined) return true;
  return sharedTypes(env).has(type) || type.startsWith("fuse.");
}

/**
 * How long (ns) a file on device `dev` must have been left alone before its stat identity is
 * trusted: `windowNs`, plus the allowed clock skew on a shared file system.
 */
export function trustAfterNs(dev: number | bigint, windowNs: bigint): bigint {
  return isShared(dev) ? windowNs + BigInt(allowedSkewMs()) * 1_000_000n : windowNs;
}

/** What {@link modifiedSince} reads of a file's or directory's `stat`. */
export interface ChangeTimes {
  readonly dev: number | bigint;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
}

/**
 * Whether a file or directory may have been modified after `since` (ms since the epoch, this
 * host's clock): its modification or its change time is later, less what its times may lag.
 * The change time counts because nobody can set it back: a file moved in, `cp -p`, `touch -r`
 * or `tar x` keep an old modification time, never an old change time. The lag: the allowed
 * clock skew on a file system other hosts write (their clocks set the times), two seconds
 * where times are kept in whole seconds (a change a moment after `since` is stamped with the
 * second before it); none elsewhere. There, a change stamped before `since` was made before
 * it (the kernel's clock for file times never runs ahead of this one), so a file written just
 * before a call began never counts as changed during it; but that clock advances once a tick
 * (a few ms), and a change made within the tick in which `since` fell may be stamped before
 * it and go unseen (README, Limitations). Errs towards "modified" on coarse and shared file
 * systems: a change just before `since` counts there. `since` is a whole millisecond
 * (`Date.now()`): a change stamped within the millisecond after it is taken as made before.
 */
export function modifiedSince(times: ChangeTimes, since: number): boolean {
  // `since` from Date.now() is whole milliseconds, cut down: the moment was up to 1 ms later.
  const lag = isShared(times.dev) ? allowedSkewMs() : times.ctimeMs % 1000 === 0 ? 2000 : -1;
  return Math.max(times.mtimeMs, times.ctimeMs) > since - lag;
}
