// Big files for hashing tests, made sparse so that they cost no disk and no time to write.
import { createHash } from "node:crypto";
import { truncate, writeFile } from "node:fs/promises";
import path from "node:path";

export const MiB = 1024 * 1024;

/** SHA-256 of `size` zero bytes (what a sparse file made by truncate holds). */
export function zerosDigest(size: number): string {
  const hash = createHash("sha256");
  const block = Buffer.alloc(MiB);
  for (let left = size; left > 0; left -= MiB)
    hash.update(left >= MiB ? block : block.subarray(0, left));
  return hash.digest("hex");
}

/** A sparse file of `size` zero bytes (instant to make, whatever its size). */
export async function sparse(dir: string, name: string, size: number): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, "");
  await truncate(file, size);
  return file;
}
