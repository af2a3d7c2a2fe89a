/**
 * Which files a JavaScript stage reads without naming them (a template, a config, an atlas
 * opened by path inside the function): the file-system calls that open a file for reading are
 * wrapped, once per process, and record the path in the calling stage's context
 * (`AsyncLocalStorage` tells which call a read belongs to, with calls running concurrently).
 * Calls made in worker threads, by native addons or by child processes are not seen here.
 */
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { callReads } from "./call-signal.js";

let installed = false;

/** Symbol under which a function that only observes another names it (see hashing/closure.ts). */
export const STANDS_FOR: unique symbol = Symbol.for("memori.standsFor");

/** The absolute path a call names, if it names a file by path (not by descriptor). */
function pathOf(file: unknown): string | undefined {
  if (typeof file === "string") return path.resolve(file);
  if (file instanceof URL) return file.protocol === "file:" ? fileURLToPath(file) : undefined;
  if (Buffer.isBuffer(file)) return path.resolve(file.toString());
  return undefined;
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

function record(file: unknown): void {
  const reads = callReads();
  if (reads === undefined) return;
  const absolute = pathOf(file);
  if (absolute !== undefined) reads.add(absolute);
}

type Fn = (...args: unknown[]) => unknown;

/**
 * `second`: what the call's second argument is: `flags` (open), or `options` (readFile,
 * createReadStream: an encoding string, or an object with `flag`/`flags`).
 */
function wrap(target: Record<string, unknown>, name: string, second: "flags" | "options"): void {
  const original = target[name] as Fn;
  const wrapped = function (this: unknown, ...args: unknown[]) {
    const given = args[1];
    let flags: unknown;
    if (second === "flags") flags = typeof given === "function" ? undefined : given;
    else if (typeof given === "object" && given !== null) {
      const options = given as { flag?: unknown; flags?: unknown };
      flags = options.flag ?? options.flags;
    }
    if (reads(flags)) record(args[0]);
    return original.apply(this, args);
  };
  Object.defineProperty(wrapped, "name", { value: original.name });
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
  // ES modules that imported these by name see the wrappers too.
  syncBuiltinESMExports();
}
