import { mkdtemp, rm, mkdir, readFile, readdir, stat, symlink, writeFile } from "node:fs/promises";
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

/** This checkout: what a test project installs as `memori`. */
const checkout = path.resolve(import.meta.dirname, "..", "..");

/**
 * A new project folder (`<temp>/project`, an ES module package) with this memori installed one
 * level up (`<temp>/node_modules/memori`, a link to this checkout), as a user's project has it.
 */
export async function memoriProject(): Promise<string> {
  const dir = await tempDir();
  await mkdir(path.join(dir, "node_modules"));
  await symlink(checkout, path.join(dir, "node_modules", "memori"));
  const project = path.join(dir, "project");
  await mkdir(project);
  await writeFile(path.join(project, "package.json"), '{ "type": "module" }\n');
  return project;
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
