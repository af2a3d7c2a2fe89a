import { mkdtemp, rm, mkdir, readFile, readdir, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { isMainThread } from "node:worker_threads";
import { afterEach } from "vitest";

const made: string[] = [];

afterEach(async () => {
  for (const dir of made.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** A fresh temporary directory, removed after the test. */
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "memori-test-"));
  made.push(dir);
  return dir;
}

/** Write a tree of files from an object (path -> content) under `root`. */
export async function writeTree(root: string, files: Record<string, string>): Promise<void> {
  for (const [file, content] of Object.entries(files)) {
    const full = path.join(root, file);
    await mkdir(path.dirname(full), { recursive: true });
    await writeFile(full, content);
  }
}

/** A silent logger that keeps what it was told. */
export function recordingLogger(): {
  info: string[];
  warn: string[];
  logger: { info(m: string): void; warn(m: string): void };
} {
  const info: string[] = [];
  const warn: string[] = [];
  return { info, warn, logger: { info: (m) => info.push(m), warn: (m) => warn.push(m) } };
}

/** Names, sizes, mtimes and contents of everything under a directory: equal means untouched. */
export async function snapshotTree(dir: string): Promise<string> {
  const lines: string[] = [];
  for (const name of (await readdir(dir, { recursive: true })).sort()) {
    const info = await stat(path.join(dir, name));
    const body = info.isFile() ? await readFile(path.join(dir, name), "utf8") : "<dir>";
    lines.push(`${name} ${info.size} ${info.mtimeMs} ${body}`);
  }
  return lines.join("\n");
}

/**
 * Whether tests may change the working directory: not in a worker thread, where the mutation
 * runner (Stryker's thread pool) runs them. `npm test` runs every test in a process of its own.
 */
export const canChdir = isMainThread;
