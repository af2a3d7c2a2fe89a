import { randomBytes } from "node:crypto";
import { open, rename, rm } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";

let counter = 0;

/**
 * The name of a temporary file beside `target`, unique across hosts sharing a network file
 * system, processes and calls: `.<base>.<host>.<pid>.<counter>.<random>.tmp`.
 */
export function tempPathFor(target: string): string {
  const host = hostname().replace(/[^A-Za-z0-9.-]/g, "_");
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  const unique = `${host}.${process.pid}.${counter}.${randomBytes(4).toString("hex")}`;
  return path.join(path.dirname(target), `.${path.basename(target)}.${unique}.tmp`);
}

/**
 * Write `data` to `target` atomically: a reader sees either the old file or the whole new one,
 * never a part. The data goes to a unique temporary file in the same directory (created with
 * `wx`, flushed with fsync), which is then renamed over the target; if anything fails the
 * temporary file is removed and the target is left as it was.
 */
export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  const temp = tempPathFor(target);
  let moved = false;
  try {
    const handle = await open(temp, "wx", 0o666);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
    moved = true;
  } finally {
    if (!moved) await rm(temp, { force: true }).catch(() => undefined);
  }
}
