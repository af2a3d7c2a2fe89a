/**
 * SHA-256 (FIPS 180-4) in plain JavaScript, for small data hashed before `node:crypto` is
 * loaded: a skipped `memori` call hashes about a kilobyte (its state name, its record's check
 * line, its code identity) and its files are known by their stat identities, so loading
 * `node:crypto` (about 3 ms, with the streams it brings) would cost more than the hashing
 * itself. Byte for byte the digest `node:crypto` gives (test/hashing/sha256.test.ts compares
 * them over random data); {@link sha256Hex} decides which one hashes what.
 *
 * Written for a cold start, not for throughput: no allocation per block, few bytecodes a block
 * (V8 runs it in its interpreter). Above a few kilobytes `node:crypto` is faster, even counting
 * its loading.
 */
import { crypto, cryptoLoaded } from "../lazy-modules.js";

/**
 * How many 64-byte blocks a process hashes here before `node:crypto` takes over. V8 optimizes
 * {@link compress} after about 55 calls, and that compiling costs 3 ms (as much as loading
 * `node:crypto`); 40 blocks (2.5 KB) take under a millisecond in a fresh process. A skipped
 * `memori -d DIR echo hi` hashes 21.
 */
const BLOCKS = 40;
let blocksLeft = BLOCKS;

/**
 * The SHA-256 of `data` (a string as UTF-8), as 64 lowercase hex digits: here while
 * `node:crypto` is not loaded and the process has hashed less than {@link BLOCKS} blocks here,
 * by `node:crypto` otherwise. The same digest either way.
 */
export function sha256Hex(data: string | Uint8Array): string {
  if (!cryptoLoaded() && data.length <= blocksLeft * 64) {
    const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    const blocks = ((bytes.length + 8) >>> 6) + 1;
    if (blocks <= blocksLeft) {
      blocksLeft -= blocks;
      return sha256Small(bytes);
    }
  }
  const loaded = crypto();
  // One-shot `crypto.hash` (Node.js 20.12 on) makes no Hash object: half the time for a state file.
  if (typeof loaded.hash === "function") return loaded.hash("sha256", data, "hex");
  return loaded.createHash("sha256").update(data).digest("hex");
}

/** The first 32 bits of the fractional parts of the cube roots of the first 64 primes. */
const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** The first 32 bits of the fractional parts of the square roots of the first 8 primes. */
const INITIAL = [
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/** The message schedule, reused by every block. */
const W = new Int32Array(64);

/**
 * Fold the 64-byte block of `m` at `at` into the state `H`. The 64 rounds go eight at a time,
 * the eight working variables renamed from one round to the next instead of moved: in each
 * round, `t` is T1 (Ch with Σ1 of e), the fourth variable (d) becomes d + T1 and the eighth (h)
 * T1 + T2 (Maj with Σ0 of a); the next round reads them one place further on. (Fewer bytecodes
 * a block: V8 interprets this before optimizing it, and optimizing it takes 3 ms.)
 */
function compress(H: Int32Array, m: Uint8Array, at: number): void {
  const w = W;
  for (let i = 0; i < 16; i++) {
    const j = at + i * 4;
    w[i] = (m[j]! << 24) | (m[j + 1]! << 16) | (m[j + 2]! << 8) | m[j + 3]!;
  }
  for (let i = 16; i < 64; i++) {
    const x = w[i - 15]!;
    const y = w[i - 2]!;
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0;
  }
  let a = H[0]!;
  let b = H[1]!;
  let c = H[2]!;
  let d = H[3]!;
  let e = H[4]!;
  let f = H[5]!;
  let g = H[6]!;
  let h = H[7]!;
  let t: number;
  for (let i = 0; i < 64; i += 8) {
    t =
      (h +
        (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) +
        (g ^ (e & (f ^ g))) +
        K[i + 0]! +
        w[i + 0]!) |
      0;
    d = (d + t) | 0;
    h =
      (t +
        (((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) +
        ((a & b) | (c & (a | b)))) |
      0;
    t =
      (g +
        (((d >>> 6) | (d << 26)) ^ ((d >>> 11) | (d << 21)) ^ ((d >>> 25) | (d << 7))) +
        (f ^ (d & (e ^ f))) +
        K[i + 1]! +
        w[i + 1]!) |
      0;
    c = (c + t) | 0;
    g =
      (t +
        (((h >>> 2) | (h << 30)) ^ ((h >>> 13) | (h << 19)) ^ ((h >>> 22) | (h << 10))) +
        ((h & a) | (b & (h | a)))) |
      0;
    t =
      (f +
        (((c >>> 6) | (c << 26)) ^ ((c >>> 11) | (c << 21)) ^ ((c >>> 25) | (c << 7))) +
        (e ^ (c & (d ^ e))) +
        K[i + 2]! +
        w[i + 2]!) |
      0;
    b = (b + t) | 0;
    f =
      (t +
        (((g >>> 2) | (g << 30)) ^ ((g >>> 13) | (g << 19)) ^ ((g >>> 22) | (g << 10))) +
        ((g & h) | (a & (g | h)))) |
      0;
    t =
      (e +
        (((b >>> 6) | (b << 26)) ^ ((b >>> 11) | (b << 21)) ^ ((b >>> 25) | (b << 7))) +
        (d ^ (b & (c ^ d))) +
        K[i + 3]! +
        w[i + 3]!) |
      0;
    a = (a + t) | 0;
    e =
      (t +
        (((f >>> 2) | (f << 30)) ^ ((f >>> 13) | (f << 19)) ^ ((f >>> 22) | (f << 10))) +
        ((f & g) | (h & (f | g)))) |
      0;
    t =
      (d +
        (((a >>> 6) | (a << 26)) ^ ((a >>> 11) | (a << 21)) ^ ((a >>> 25) | (a << 7))) +
        (c ^ (a & (b ^ c))) +
        K[i + 4]! +
        w[i + 4]!) |
      0;
    h = (h + t) | 0;
    d =
      (t +
        (((e >>> 2) | (e << 30)) ^ ((e >>> 13) | (e << 19)) ^ ((e >>> 22) | (e << 10))) +
        ((e & f) | (g & (e | f)))) |
      0;
    t =
      (c +
        (((h >>> 6) | (h << 26)) ^ ((h >>> 11) | (h << 21)) ^ ((h >>> 25) | (h << 7))) +
        (b ^ (h & (a ^ b))) +
        K[i + 5]! +
        w[i + 5]!) |
      0;
    g = (g + t) | 0;
    c =
      (t +
        (((d >>> 2) | (d << 30)) ^ ((d >>> 13) | (d << 19)) ^ ((d >>> 22) | (d << 10))) +
        ((d & e) | (f & (d | e)))) |
      0;
    t =
      (b +
        (((g >>> 6) | (g << 26)) ^ ((g >>> 11) | (g << 21)) ^ ((g >>> 25) | (g << 7))) +
        (a ^ (g & (h ^ a))) +
        K[i + 6]! +
        w[i + 6]!) |
      0;
    f = (f + t) | 0;
    b =
      (t +
        (((c >>> 2) | (c << 30)) ^ ((c >>> 13) | (c << 19)) ^ ((c >>> 22) | (c << 10))) +
        ((c & d) | (e & (c | d)))) |
      0;
    t =
      (a +
        (((f >>> 6) | (f << 26)) ^ ((f >>> 11) | (f << 21)) ^ ((f >>> 25) | (f << 7))) +
        (h ^ (f & (g ^ h))) +
        K[i + 7]! +
        w[i + 7]!) |
      0;
    e = (e + t) | 0;
    a =
      (t +
        (((b >>> 2) | (b << 30)) ^ ((b >>> 13) | (b << 19)) ^ ((b >>> 22) | (b << 10))) +
        ((b & c) | (d & (b | c)))) |
      0;
  }
  H[0] = (H[0]! + a) | 0;
  H[1] = (H[1]! + b) | 0;
  H[2] = (H[2]! + c) | 0;
  H[3] = (H[3]! + d) | 0;
  H[4] = (H[4]! + e) | 0;
  H[5] = (H[5]! + f) | 0;
  H[6] = (H[6]! + g) | 0;
  H[7] = (H[7]! + h) | 0;
}

/** The SHA-256 of `data` (a string as UTF-8), as 64 lowercase hex digits. */
export function sha256Small(data: string | Uint8Array): string {
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  const n = bytes.length;
  // The message, a 1 bit, zeros, and its length in bits (64-bit big-endian), in whole blocks.
  const end = (((n + 8) >>> 6) + 1) * 64;
  const m = new Uint8Array(end);
  m.set(bytes);
  m[n] = 0x80;
  const high = Math.floor(n / 0x20000000);
  const low = (n * 8) >>> 0;
  m[end - 8] = high >>> 24;
  m[end - 7] = high >>> 16;
  m[end - 6] = high >>> 8;
  m[end - 5] = high;
  m[end - 4] = low >>> 24;
  m[end - 3] = low >>> 16;
  m[end - 2] = low >>> 8;
  m[end - 1] = low;
  const H = new Int32Array(INITIAL);
  for (let at = 0; at < end; at += 64) compress(H, m, at);
  let hex = "";
  for (const word of H) hex += (word >>> 0).toString(16).padStart(8, "0");
  return hex;
}
