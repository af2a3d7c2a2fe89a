/**
 * Where a stage's error was thrown, for the run's record, `memori log`, the report and the
 * terminal: the first frames of its stack that are the user's code, not memori's nor Node's
 * (`at clean (file:///lab/pipeline.mjs:19:33)`). A failure reaches them wrapped (a
 * `stage-failed` MemoriError around what the function threw), so the frames are taken from the
 * innermost error (through `cause`s) whose stack has any of the user's.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";

/** How many frames are kept. */
export const KEPT_FRAMES = 5;

/**
 * The folder memori's own code runs from: the package's `dist/` (this module is in a bundle of
 * `dist/lib/` or `dist/cli/`, or tsc's `dist/`), or `src/` in a checkout. Frames there are
 * memori's.
 */
let ownFolder: string | undefined;

function own(): string {
  if (ownFolder === undefined) {
    let here: string;
    try {
      here = fileURLToPath(import.meta.url);
    } catch {
      here = "";
    }
    const folder = path.dirname(here);
    const name = path.basename(folder);
    ownFolder =
      here === ""
        ? "\0"
        : (name === "lib" || name === "cli" ? path.dirname(folder) : folder) + path.sep;
  }
  return ownFolder;
}

/**
 * The path or URL a stack line names, if any: `at f (FILE:1:2)` (the last parenthesized part
 * that ends the line; a folder may have parentheses, `Dropbox (Personal)`), `at FILE:1:2`.
 */
function fileOf(line: string): string | undefined {
  let file: string | undefined;
  if (line.includes("(eval at ")) return undefined; // code made by eval: no file of its own
  if (line.endsWith(")")) {
    // The location starts at " (/" or " (file://": a function's name has no such part.
    const at = Math.max(line.indexOf(" (/"), line.indexOf(" (file://"));
    const inside = at < 0 ? undefined : line.slice(at + 2, -1);
    file = inside === undefined ? undefined : /^(.*):\d+:\d+$/.exec(inside)?.[1];
  } else {
    file = /^at (?:async )?(.+):\d+:\d+$/.exec(line)?.[1];
  }
  if (file === undefined || !file.startsWith("file://")) return file;
  try {
    return fileURLToPath(file);
  } catch {
    return file;
  }
}

/** Whether a path is inside an installed package (`.../node_modules/...`). */
function inPackage(file: string): boolean {
  return file.includes(`${path.sep}node_modules${path.sep}`);
}

/**
 * The frames of one error's stack that are code outside memori and Node, each with whether it
 * is in an installed package. Only the stack's frames, after its message: a message may quote
 * another stack (a failed process's stderr), which is its log, not where this error was thrown.
 */
function framesOf(error: unknown): { line: string; dependency: boolean }[] {
  let stack: unknown;
  let message: unknown;
  try {
    stack = (error as { stack?: unknown } | null)?.stack;
    message = (error as { message?: unknown } | null)?.message;
  } catch {
    return []; // a getter that throws, a revoked proxy: no frames
  }
  if (typeof stack !== "string") return [];
  const after = typeof message === "string" && message !== "" ? stack.indexOf(message) : -1;
  const framesText = after < 0 ? stack : stack.slice(after + (message as string).length);
  const frames: { line: string; dependency: boolean }[] = [];
  for (const raw of framesText.split("\n")) {
    const line = raw.trim();
    if (!line.startsWith("at ")) continue;
    const file = fileOf(line);
    // Node's own (`node:internal/...`), V8's (`<anonymous>`, `native`) and memori's are not.
    if (file === undefined || file.startsWith("node:") || !path.isAbsolute(file)) continue;
    if (file.startsWith(own())) continue;
    frames.push({ line, dependency: inPackage(file) });
  }
  return frames;
}

/**
 * Where the stage's code threw: the frames of the innermost error (`error`, then its
 * `cause`s) that has any outside memori and Node, at most {@link KEPT_FRAMES}: the user's own
 * (those in installed packages, `node_modules`, only when there are no others: a library that
 * throws five calls deep would hide the user's line). Empty when no error has any (a process
 * that failed: its log tells).
 */
export function userFrames(error: unknown): string[] {
  let found: { line: string; dependency: boolean }[] = [];
  const seen = new Set<unknown>();
  for (let e = error; e !== undefined && e !== null && !seen.has(e);) {
    seen.add(e);
    const frames = framesOf(e);
    if (frames.length > 0) found = frames;
    try {
      e = (e as { cause?: unknown }).cause;
    } catch {
      break;
    }
  }
  const mine = found.filter((f) => !f.dependency);
  return (mine.length > 0 ? mine : found).slice(0, KEPT_FRAMES).map((f) => f.line);
}
