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

/** The path or URL a stack line names, if any (`at f (FILE:1:2)`, `at FILE:1:2`). */
function fileOf(line: string): string | undefined {
  const match =
    /\(([^()]*):\d+:\d+\)$/.exec(line) ?? /^at (?:async )?([^ ()]*):\d+:\d+$/.exec(line);
  if (match === null) return undefined;
  const file = match[1]!;
  if (!file.startsWith("file://")) return file;
  try {
    return fileURLToPath(file);
  } catch {
    return file;
  }
}

/** Whether a stack line (trimmed) is a frame of the user's code. */
function usersFrame(line: string): boolean {
  if (!line.startsWith("at ")) return false;
  const file = fileOf(line);
  // Node's own (`node:internal/...`), V8's (`<anonymous>`, `native`) and memori's are not.
  if (file === undefined || file.startsWith("node:") || !path.isAbsolute(file)) return false;
  return !file.startsWith(own());
}

/** The user's frames in one error's stack, at most {@link KEPT_FRAMES}. */
function framesOf(error: unknown): string[] {
  const stack = (error as { stack?: unknown } | null)?.stack;
  if (typeof stack !== "string") return [];
  const frames: string[] = [];
  for (const raw of stack.split("\n")) {
    const line = raw.trim();
    if (usersFrame(line)) frames.push(line);
    if (frames.length === KEPT_FRAMES) break;
  }
  return frames;
}

/**
 * The user's frames of the innermost error (`error`, then its `cause`s) that has any: where
 * the stage's code threw. Empty when none has (a process that failed: its log tells).
 */
export function userFrames(error: unknown): string[] {
  let found: string[] = [];
  const seen = new Set<unknown>();
  for (let e = error; e !== undefined && e !== null && !seen.has(e);) {
    seen.add(e);
    const frames = framesOf(e);
    if (frames.length > 0) found = frames;
    e = (e as { cause?: unknown }).cause;
  }
  return found;
}
