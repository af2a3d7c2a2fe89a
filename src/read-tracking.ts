/**
 * Which files a JavaScript stage reads without naming them, and which it writes (a template, a config, an atlas
 * opened by path inside the function): the file-system calls that open a file for reading are
 * wrapped, once per process, and record the path in the calling stage's context
 * (`AsyncLocalStorage` tells which call a read belongs to, with calls running concurrently).
 * Calls made in worker threads, by native addons or by child processes are not seen here.
 */
import fs from "node:fs";
import { createRequire, syncBuiltinESMExports } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { RECURSIVE, callAccess, type FileSeen } from "./call-signal.js";
import { linkTarget, listingHash } from "./hashing/listing.js";
import { statSync } from "./untracked-fs.js";
import { childProcess } from "./lazy-modules.js";
import { stderrLogger } from "./logger.js";

let installed = false;

/** `util.promisify.custom` (the same symbol, without loading `node:util`). */
const PROMISIFY_CUSTOM = Symbol.for("nodejs.util.promisify.custom");

/** Symbol under which a function that only observes another names it (see hashing/closure.ts). */
export const STANDS_FOR: unique symbol = Symbol.for("memori.standsFor");

/**
 * The path a call names, if it names a file by path (not by descriptor), as it named it: an
 * absolute path as it is, a relative one relative to the working directory (normalized). A
 * file named through a symbolic link is recorded as the link's path, so re-pointing the link
 * counts; a relative path stays relative, so a copied project reads its own copy.
 */
function pathOf(file: unknown, base: string): string | undefined {
  const named =
    typeof file === "string"
      ? file
      : file instanceof URL
        ? file.protocol === "file:"
          ? fileURLToPath(file)
          : undefined
        : Buffer.isBuffer(file)
          ? file.toString()
          : undefined;
  if (named === undefined || named === "") return undefined;
  if (path.isAbsolute(named)) return path.normalize(named);
  // Relative to where the call began (the code may have changed directory since).
  return path.relative(base, path.resolve(named)) || ".";
}

/** Whether open flags allow reading (`r`, `r+`, `a+`, `w+`, O_RDONLY, O_RDWR). */
function reads(flags: unknown): boolean {
  if (flags === undefined || flags === null) return true;
  if (typeof flags === "number") {
    // O_RDONLY is 0; O_RDWR reads too. O_WRONLY alone does not.
    return (flags & fs.constants.O_WRONLY) === 0;
  }
  if (typeof flags === "string") return flags.startsWith("r") || flags.includes("+");
  return true;
}

/**
 * Whether open flags write a file's content (`w`, `r+`, `x`, O_WRONLY, O_RDWR, O_CREAT).
 * Appending (`a`, O_APPEND without O_TRUNC) does not count: a log several stages append to is
 * nobody's output (as for processes, see trace.ts).
 */
function writes(flags: unknown): boolean {
  if (flags === undefined || flags === null) return false;
  if (typeof flags === "number") {
    const { O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND } = fs.constants;
    if ((flags & O_APPEND) !== 0 && (flags & O_TRUNC) === 0) return false;
    return (flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)) !== 0;
  }
  if (typeof flags === "string")
    return !flags.startsWith("a") && (!flags.startsWith("r") || flags.includes("+"));
  return false;
}

function record(file: unknown, kind: "reads" | "writes" | "lists" | "links", suffix = ""): void {
  const access = callAccess();
  if (access === undefined) return;
  const named = pathOf(file, access.cwd);
  if (named === undefined) return;
  const key = named + suffix;
  if (kind === "links") {
    // Where it leads as the call first resolves it; and a read of the file it names, as before.
    if (!access.links.has(key)) access.links.set(key, linkTarget(path.resolve(access.cwd, named)));
    kind = "reads";
  }
  // Before the call's own read or listing: what it then found (engine/discovered.ts).
  if (kind === "reads" && !access.reads.has(key)) {
    const seen = seenNow(path.resolve(access.cwd, named));
    if (seen !== undefined) access.seen.set(key, seen);
  } else if (kind === "lists" && !access.lists.has(key)) {
    access.listed.set(key, listingHash(path.resolve(access.cwd, named) + suffix, access.skip));
  }
  access[kind].add(key);
}

/** A file's `stat` as the call's read finds it; `null` when absent, `undefined`: cannot tell. */
function seenNow(absolute: string): FileSeen | null | undefined {
  try {
    const stats = statSync(absolute, { throwIfNoEntry: false });
    if (stats === undefined) return null;
    const { dev, ino, size, mtimeMs, ctimeMs } = stats;
    return { dev, ino, size, mtimeMs, ctimeMs };
  } catch {
    return undefined;
  }
}

type Fn = (...args: unknown[]) => unknown;

/**
 * Give a wrapper what the original carries: its name, length and own properties, among them
 * `util.promisify.custom` (`promisify(execFile)` resolves to `{ stdout, stderr }` through it).
 * Not what it stands for: the original may be another memori's wrapper (a job's command line
 * and the module it runs each wrap them), and the wrapper stands for that one.
 */
function keepProperties(wrapped: Fn, original: Fn): void {
  for (const key of Reflect.ownKeys(original)) {
    if (key === "prototype" || key === STANDS_FOR) continue;
    if (key === PROMISIFY_CUSTOM && Object.hasOwn(wrapped, key)) continue; // its own, above
    const descriptor = Object.getOwnPropertyDescriptor(original, key);
    if (descriptor !== undefined) Object.defineProperty(wrapped, key, descriptor);
  }
}

/**
 * `how`: what the call's arguments say: `flags` (open: its second argument), `options`
 * (readFile, createReadStream: an encoding string, or an object with `flag`/`flags`), `write`
 * (writeFile, appendFile, createWriteStream: writes its first argument, and reads it too if
 * its flags say so), `target` (copyFile, rename: writes its second argument).
 */
function wrap(
  target: Record<string, unknown>,
  name: string,
  how: "flags" | "options" | "write" | "target" | "list" | "link",
): void {
  const original = target[name] as Fn;
  const wrapped = function (this: unknown, ...args: unknown[]) {
    if (how === "link") {
      record(args[0], "links");
      return original.apply(this, args);
    }
    if (how === "list") {
      // With `recursive: true`, what is found at every depth below (the runtime's walk does
      // not come back through these wrappers): recorded as the path with RECURSIVE after it.
      const options = args[1] as { recursive?: unknown } | null | undefined;
      const recursive = typeof options === "object" && options?.recursive === true;
      record(args[0], "lists", recursive ? RECURSIVE : "");
      return original.apply(this, args);
    }
    if (how === "target") {
      record(args[1], "writes");
      if (name.startsWith("copyFile")) record(args[0], "reads");
      return original.apply(this, args);
    }
    const given = how === "write" && name !== "createWriteStream" ? args[2] : args[1];
    let flags: unknown;
    if (how === "flags") flags = typeof given === "function" ? undefined : given;
    else if (typeof given === "object" && given !== null) {
      const options = given as { flag?: unknown; flags?: unknown };
      flags = options.flag ?? options.flags;
    }
    if (how === "write") {
      if (flags === undefined || writes(flags)) record(args[0], "writes");
      if (flags !== undefined && reads(flags)) record(args[0], "reads");
    } else {
      if (reads(flags)) record(args[0], "reads");
      if (writes(flags)) record(args[0], "writes");
    }
    return original.apply(this, args);
  };
  keepProperties(wrapped, original);
  // Code identity looks through the wrapper: a stage that calls readFileSync depends on the
  // runtime's function, whether or not reads are being tracked yet.
  Object.defineProperty(wrapped, STANDS_FOR, { value: original });
  target[name] = wrapped;
}

/** Wrap the file-system calls that open files, once per process. */
export function installReadTracking(): void {
  if (installed) return;
  installed = true;
  const sync = fs as unknown as Record<string, unknown>;
  const promises = fs.promises as unknown as Record<string, unknown>;
  // readFile(path, options|flag), open(path, flags), createReadStream(path, options)
  wrap(sync, "readFileSync", "options");
  wrap(sync, "readFile", "options");
  wrap(sync, "openSync", "flags");
  wrap(sync, "open", "flags");
  wrap(sync, "createReadStream", "options");
  wrap(promises, "readFile", "options");
  wrap(promises, "open", "flags");
  // Looking a file up (exists, stat, access) is reading whether it is there: as a read.
  for (const name of [
    "existsSync",
    "exists",
    "statSync",
    "stat",
    "lstatSync",
    "lstat",
    "accessSync",
    "access",
  ])
    wrap(sync, name, "options");
  for (const name of ["stat", "lstat", "access"]) wrap(promises, name, "options");
  // A file's content as a Blob; where a symbolic link points (readlink, realpath): reads of
  // the path (a link re-pointed at other content counts).
  if (typeof sync.openAsBlob === "function") wrap(sync, "openAsBlob", "options");
  for (const name of ["readlinkSync", "readlink", "realpathSync", "realpath"])
    wrap(sync, name, "link");
  for (const name of ["readlink", "realpath"]) wrap(promises, name, "link");
  // Listing a directory (readdir, opendir): what the call found there is an input, by names.
  for (const name of ["readdirSync", "readdir", "opendirSync", "opendir"]) wrap(sync, name, "list");
  for (const name of ["readdir", "opendir"]) wrap(promises, name, "list");
  // writeFile(path, data, options), appendFile(...), createWriteStream(path, options)
  // (appendFile appends: not a write of the file's content, see writes())
  for (const name of ["writeFileSync", "writeFile"]) wrap(sync, name, "write");
  wrap(sync, "createWriteStream", "write");
  wrap(promises, "writeFile", "write");
  // copyFile(src, dest), rename(old, new): the target is written
  for (const name of ["copyFileSync", "copyFile", "renameSync", "rename"])
    wrap(sync, name, "target");
  wrap(promises, "copyFile", "target");
  wrap(promises, "rename", "target");
  // A child process's files are not seen here: a call that starts one is untraced.
  const children = childProcess() as unknown as Record<string, unknown>;
  for (const name of [
    "spawn",
    "spawnSync",
    "exec",
    "execSync",
    "execFile",
    "execFileSync",
    "fork",
  ]) {
    const original = children[name] as Fn;
    const untraced = (fn: Fn): Fn =>
      function (this: unknown, ...args: unknown[]) {
        const access = callAccess();
        if (access !== undefined) access.untraced = true;
        return fn.apply(this, args);
      };
    const wrapped = untraced(original);
    // `promisify(exec)` and `promisify(execFile)` call the function's own promisified form
    // (which keepProperties would copy from the original): it starts a process too.
    const custom = (original as unknown as Record<symbol, unknown>)[PROMISIFY_CUSTOM];
    if (typeof custom === "function") {
      Object.defineProperty(wrapped, PROMISIFY_CUSTOM, { value: untraced(custom as Fn) });
    }
    keepProperties(wrapped, original);
    Object.defineProperty(wrapped, STANDS_FOR, { value: original });
    children[name] = wrapped;
  }
  // ES modules that imported these by name see the wrappers too.
  syncBuiltinESMExports();
  warnIfCopiedBefore();
}

/**
 * graceful-fs (under fs-extra) keeps copies of `fs`'s functions, made when it was loaded: loaded
 * before memori (`import fse from "fs-extra"` above `import ... from "memori"`), the reads
 * made through it are never seen, so a config read with `fse.readFileSync` that changes would
 * leave the stage cached. Said once, at import, with what to do.
 */
function warnIfCopiedBefore(): void {
  const loaded = Object.keys(createRequire(import.meta.url).cache);
  if (!loaded.some((file) => file.includes(`${path.sep}graceful-fs${path.sep}`))) return;
  stderrLogger().warn(
    "graceful-fs (fs-extra) was loaded before memori: the files stages read through it are not seen (not inputs). Import memori first (before fs-extra), or name those files as arguments.",
  );
}
