/**
 * The files a call touched without naming them in its arguments, found by watching it (see
 * read-tracking.ts and trace.ts): those it read become `read:<path>` inputs, those it wrote
 * are tracked like outputs. What is the system's or memori's own is left out.
 */
import { stat } from "node:fs/promises";
import { existsSync } from "../untracked-fs.js";
import path from "node:path";
import { codeFilesOf } from "../hashing/wrappers.js";
import type { FileEntry, Json } from "../hashing/values.js";
import type { StateStore } from "../state/store.js";
import { picomatch } from "../lazy-modules.js";
import { TRACE_LOG } from "../trace.js";
import { CODE_CACHE } from "../hashing/bookkeeping.js";
import { modifiedSince } from "../hashing/file-systems.js";
import { NO_LISTING, listedDirectory, listingHash } from "../hashing/listing.js";
import type { FileSeen } from "../call-signal.js";
import { LINK_PREFIX, LIST_PREFIX, READ_PREFIX } from "./found.js";
import type { StageDef } from "./node.js";

/**
 * Paths never recorded as reads or writes: the kernel's, the system's programs and libraries
 * (they count through `env` and the code's identity, and a process opens dozens of them), and
 * memori's own state and code caches. `MEMORI_UNTRACKED` adds prefixes (separated by `:`).
 * Software installed under /usr/local or /opt (FSL's atlases) is tracked.
 */
const SYSTEM = [
  "/proc/",
  "/dev/",
  "/sys/",
  "/run/",
  "/bin/",
  "/sbin/",
  "/lib/",
  "/lib64/",
  "/usr/bin/",
  "/usr/sbin/",
  "/usr/lib/",
  "/usr/lib64/",
  "/usr/libexec/",
  "/usr/share/locale/",
  "/usr/share/zoneinfo/",
  "/usr/share/i18n/",
  "/etc/ld.so.",
  "/etc/localtime",
  "/etc/nsswitch.conf",
  "/etc/passwd",
  "/etc/group",
  "/etc/locale.alias",
  "/etc/host.conf",
  "/etc/hosts",
  "/etc/resolv.conf",
  "/etc/gai.conf",
  ...(process.env.MEMORI_UNTRACKED ?? "").split(":").filter((p) => p !== ""),
];
/** A state file's name: `<name>.<kind>` (state/store.ts, state/lock.ts). */
const STATE_FILE = /^(.+)\.(inputs|outputs|stage|files|trees|lock|owner)$/;
/** An atomic write's temporary file: `.<base>.<host>.<pid>.<counter>.<random>.tmp` (atomic.ts). */
const TEMP_FILE = /\/\.[^/]+\.\d+\.\d+\.[0-9a-f]{8}\.tmp$/;

/**
 * Whether a file is memori's state (another memori's, a `memori` command run by the call):
 * named as a state file is, beside that state's commit record (or, for the record itself, its
 * `.inputs`). A file of the data merely named so (`subjects.files`) is the call's.
 */
function isStateFile(absolute: string): boolean {
  if (TEMP_FILE.test(absolute)) return true;
  const named = STATE_FILE.exec(absolute);
  if (named === null) return false;
  const beside = named[2] === "stage" ? "inputs" : "stage";
  return existsSync(`${named[1]}.${beside}`);
}

/**
 * The files a call read without naming them (not its inputs, outputs or written files, not
 * state, not system files), as `read:<path>` inputs with the path as the code named it: by
 * content, or as a bare path where there is no file (looked for and not found, or a temporary
 * file gone since): one appearing there later counts as a change. Directories opened are not
 * files read. Hashed now, after the run, a file's content may not be what the call read:
 * `changed` names those that may have changed since. A file its JavaScript read is compared
 * with what it was just before that read (`seen`: device, inode, size, times; so a file
 * replaced, moved over or re-pointed counts, whatever clock set its times); one only a traced
 * process read, by its times against `began`, when the call began (`modifiedSince`).
 */
export async function discoveredReads(
  def: StageDef,
  store: StateStore,
  reads: ReadonlySet<string>,
  known: readonly FileEntry[],
  began?: number,
  seen?: ReadonlyMap<string, FileSeen | null>,
): Promise<{ inputs: Record<string, Json>; changed: string[] }> {
  const changed: string[] = [];
  if (reads.size === 0) return { inputs: {}, changed };
  const named = new Set(known.map((entry) => path.resolve(entry.file)));
  // The stage's own script and its dependents are its code, not files it read.
  for (const file of (await codeFilesOf(def.fn)?.()) ?? []) named.add(path.resolve(file));
  const stateDir = path.resolve(store.dir) + path.sep;
  const out: Record<string, Json> = {};
  for (const file of [...reads].sort()) {
    const absolute = path.resolve(file);
    if (named.has(absolute) || notTheCalls(absolute, stateDir)) continue;
    const found = await stat(absolute).catch(() => undefined);
    if (found?.isDirectory()) continue;
    // Gone since: recorded as gone (a temporary file the call made and removed by means not
    // seen as writes, `rm` among them), not as changed.
    const before = seen?.get(file);
    if (
      found !== undefined &&
      (before !== undefined
        ? !sameFile(before, found)
        : began !== undefined && modifiedSince(found, began))
    ) {
      changed.push(file);
    }
    const hash = found !== undefined ? await def.hasher.hash(file) : undefined;
    out[`${READ_PREFIX}${file}`] = hash === undefined ? file : { file, hash };
  }
  return { inputs: out, changed };
}

/** Whether a file is as it was seen (both absent, or the same device, inode, size and times). */
function sameFile(seen: FileSeen | null, now: FileSeen | undefined): boolean {
  if (seen === null || now === undefined) return seen === null && now === undefined;
  return (
    seen.dev === now.dev &&
    seen.ino === now.ino &&
    seen.size === now.size &&
    seen.mtimeMs === now.mtimeMs &&
    seen.ctimeMs === now.ctimeMs
  );
}

/**
 * The directories a call listed (not the system's or memori's state), as `list:<path>` inputs
 * with the path as the code named it. A listing its JavaScript made is recorded as the call
 * saw it (`listed`, made just before): an entry added, removed or renamed while it ran leaves
 * the next run running again. Unless the call wrote into that directory itself (`writes`,
 * seen): then its listing after the run, with what the call wrote (a stage that lists the
 * folder it writes into would otherwise run again on every run); or the directory is gone
 * after the run (a temporary one): recorded as gone. A listing only a traced process made:
 * its listing after the run (see hashing/listing.ts).
 */
export function discoveredListings(
  store: StateStore,
  lists: ReadonlySet<string> | undefined,
  skip: readonly string[] = [],
  listed?: ReadonlyMap<string, string>,
  writes?: ReadonlySet<string>,
): Record<string, Json> {
  if (lists === undefined || lists.size === 0) return {};
  const stateDir = path.resolve(store.dir) + path.sep;
  const wrote = [...(writes ?? [])].map((w) => path.resolve(w));
  const out: Record<string, Json> = {};
  for (const dir of [...lists].sort()) {
    const absolute = path.resolve(dir);
    // With a separator: the state directory itself is memori's, as what is inside it.
    if (notTheCalls(absolute + path.sep, stateDir)) continue;
    const top = listedDirectory(absolute);
    const own = wrote.some((w) => w.startsWith(top + path.sep));
    const saw = listed?.get(dir);
    // Gone since (a temporary folder): recorded as gone, as a file read and gone is. Otherwise
    // not listed again (a recursive listing walks the whole tree).
    out[`${LIST_PREFIX}${dir}`] =
      saw === undefined || own ? listingHash(absolute, skip) : existsSync(top) ? saw : NO_LISTING;
  }
  return out;
}

/**
 * Where the paths the call resolved (`readlink`, `realpath`) led as it resolved them, as
 * `link:<path as named>` inputs (found.ts), named by an argument or not: what those calls gave
 * the code is a path, which a file's content does not tell (a link re-pointed at a copy).
 */
export function discoveredLinks(
  store: StateStore,
  links: ReadonlyMap<string, string> | undefined,
): Record<string, Json> {
  if (links === undefined || links.size === 0) return {};
  const stateDir = path.resolve(store.dir) + path.sep;
  const out: Record<string, Json> = {};
  for (const [file, target] of [...links].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!notTheCalls(path.resolve(file), stateDir)) out[`${LINK_PREFIX}${file}`] = target;
  }
  return out;
}

/** Whether a path is memori's or the system's: never a read or a write of the call. */
function notTheCalls(absolute: string, stateDir: string): boolean {
  return (
    absolute.startsWith(stateDir) ||
    TRACE_LOG.test(absolute) ||
    isStateFile(absolute) ||
    CODE_CACHE.test(absolute) ||
    SYSTEM.some((p) => absolute.startsWith(p))
  );
}

/**
 * The files the call wrote (seen by tracing) that nothing else records, as they are now, with
 * the path as the code named it; a file gone after the run (a temporary file) is left out, and
 * so are files the stage's `ignore` globs match (a log several stages rewrite).
 */
export async function writtenElsewhere(
  def: StageDef,
  store: StateStore,
  writes: ReadonlySet<string> | undefined,
  known: readonly FileEntry[],
): Promise<FileEntry[]> {
  if (writes === undefined || writes.size === 0) return [];
  const named = new Set(known.map((entry) => path.resolve(entry.file)));
  const stateDir = path.resolve(store.dir) + path.sep;
  const ignored = ignoredBy(def);
  const out: FileEntry[] = [];
  for (const file of [...writes].sort()) {
    const absolute = path.resolve(file);
    if (named.has(absolute) || notTheCalls(absolute, stateDir)) continue;
    // `ignore` globs are relative to a directory: here, the working directory, or any.
    if (ignored?.(path.relative(".", absolute)) || ignored?.(path.basename(absolute))) continue;
    const isFile = await stat(absolute).then(
      (s) => s.isFile(),
      () => false,
    );
    const hash = isFile ? await def.hasher.hash(file) : undefined;
    if (hash !== undefined) out.push({ file, hash });
  }
  return out;
}

const matchers = new WeakMap<StageDef, ((file: string) => boolean) | undefined>();

/** The stage's `ignore` globs as a test of relative paths (none: `undefined`). */
export function ignoredBy(def: StageDef): ((file: string) => boolean) | undefined {
  if (!matchers.has(def))
    matchers.set(
      def,
      def.ignore.length === 0 ? undefined : picomatch()([...def.ignore], { dot: true }),
    );
  return matchers.get(def);
}

const toldUntraced = new Set<string>();

/** Say once per stage and process that a call's processes' files are not seen. */
export function noteUntraced(def: StageDef, why: string | true): void {
  if (toldUntraced.has(def.name)) return;
  toldUntraced.add(def.name);
  const because = why === true ? "" : ` (${why})`;
  // A warning, not a decision's note: such a file changing gives a stale result.
  def.logger.warn(
    `stage "${def.name}": the files its processes read are not traced${because}: a file one of them reads that no argument names will not re-run it when it changes (run commands with runProcess, under strace, or name such files as arguments).`,
  );
}
