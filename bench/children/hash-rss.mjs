// Hashes files with memori's hasher (or, with --raw, a plain single-stream node:crypto loop)
// and prints the time and the peak resident set size. usage: hash-rss.mjs [--raw] FILE...
import { createHash } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";
import { FileHasher } from "../../dist/hashing/files.js";

const args = process.argv.slice(2);
const raw = args[0] === "--raw";
const files = raw ? args.slice(1) : args;

function rawHash(file) {
  const fd = openSync(file, "r");
  const buffer = Buffer.allocUnsafe(4 * 1024 * 1024);
  const hash = createHash("sha256");
  for (;;) {
    const n = readSync(fd, buffer, 0, buffer.length, null);
    if (n === 0) break;
    hash.update(n === buffer.length ? buffer : buffer.subarray(0, n));
  }
  closeSync(fd);
  return hash.digest("hex");
}

const started = process.hrtime.bigint();
const hashes = raw
  ? files.map(rawHash)
  : await Promise.all(files.map((f) => new FileHasher().hash(f)));
const ms = Number(process.hrtime.bigint() - started) / 1e6;
const maxRssMb = process.resourceUsage().maxRSS / 1024;
process.stdout.write(JSON.stringify({ ms, maxRssMb, hashes }) + "\n");
