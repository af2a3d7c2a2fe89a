/**
 * The runtime's own file-system calls, not read-tracking's wrappers of them: what memori does
 * to its own state and to the files it hashes is not something a stage read or wrote.
 *
 * read-tracking.ts wraps `node:fs` for the whole process (and `syncBuiltinESMExports` makes a
 * module's `import { statSync } from "node:fs"` see the wrapper), so without this every state
 * read of a cached stage went through two or three wrappers, each asking AsyncLocalStorage
 * which call it belonged to. A wrapper names what it wraps (`Symbol.for("memori.standsFor")`,
 * as every memori copy does), so this finds the runtime's function even when this module is
 * loaded after the wrapping, or after another copy of memori wrapped it.
 *
 * `readFileSync` and `writeFileSync` with a path call `fs.openSync` through the module object
 * (wrapped): {@link readWhole} and the writers in state/ open with {@link openSync} and pass
 * the descriptor.
 */
import fs from "node:fs";

const STANDS_FOR = Symbol.for("memori.standsFor");

/** The function a wrapper stands for, through any number of wrappers. */
function unwrapped<T>(fn: T): T {
  let current = fn as unknown as Record<symbol, unknown>;
  for (let i = 0; i < 8 && typeof current[STANDS_FOR] === "function"; i++) {
    current = current[STANDS_FOR] as unknown as Record<symbol, unknown>;
  }
  return current as unknown as T;
}

export const openSync = unwrapped(fs.openSync);
export const statSync = unwrapped(fs.statSync);
export const lstatSync = unwrapped(fs.lstatSync);
export const renameSync = unwrapped(fs.renameSync);
export const existsSync = unwrapped(fs.existsSync);
export const readdirSync = unwrapped(fs.readdirSync);
export const opendirSync = unwrapped(fs.opendirSync);
export const realpathSync = unwrapped(fs.realpathSync);
const readFileSync = unwrapped(fs.readFileSync);
/** With a descriptor only: with a path, the runtime opens it through `fs.openSync` (wrapped). */
export const writeFileSync = unwrapped(fs.writeFileSync);

/** The size of the buffer {@link readWhole} keeps between reads: most state files fit. */
const KEPT = 64 * 1024;
let buffer = Buffer.allocUnsafe(KEPT);

/**
 * A file's whole content, in a copy of its own: `open`, `read` until the end, `close` (one
 * `read` for a file that fits the shared buffer, no `fstat`). Throws what the calls throw.
 */
export function readWhole(file: string): Buffer {
  const fd = openSync(file, "r");
  try {
    return readRest(fd, (data) => Buffer.from(data));
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A large file's whole content: `open`, `fstat`, then read into a buffer of its size (no
 * copies of a growing buffer: for megabytes, as an index of commit records is). Throws what the
 * calls throw.
 */
export function readSized(file: string): Buffer {
  const fd = openSync(file, "r");
  try {
    return readFileSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The rest of an open file, as UTF-8 text: `read` until the end, into the shared buffer (the
 * caller opened the file, and closes it).
 */
export function readOpenText(fd: number): string {
  return readRest(fd, (data) => data.toString("utf8"));
}

/** Read an open file to its end into the shared buffer, and make `take` of the bytes read. */
function readRest<T>(fd: number, take: (data: Buffer) => T): T {
  let length = 0;
  for (;;) {
    if (length === buffer.length) {
      const bigger = Buffer.allocUnsafe(buffer.length * 2);
      buffer.copy(bigger, 0, 0, length);
      buffer = bigger;
    }
    const got = fs.readSync(fd, buffer, length, buffer.length - length, null);
    if (got === 0) break;
    length += got;
  }
  const taken = take(buffer.subarray(0, length));
  if (buffer.length > KEPT) buffer = Buffer.allocUnsafe(KEPT);
  return taken;
}

/**
 * A file's whole content as UTF-8 text (bytes that are not UTF-8 read as U+FFFD). With a path
 * and this encoding the runtime opens, reads and closes the file in one native call (Node.js
 * 20.10 on; older ones through `fs.openSync`, still the runtime's own): the cheapest whole read
 * there is, and the text is what JSON.parse wants. Throws what the calls throw.
 */
export function readText(file: string): string {
  return readFileSync(file, "utf8");
}
