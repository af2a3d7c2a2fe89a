/**
 * sha256.ts, the SHA-256 that hashes small data before `node:crypto` is loaded: it must give
 * `node:crypto`'s digest byte for byte, or a state written by one would not match a lookup made
 * with the other. Random strings (lone surrogates included: both encode them as U+FFFD) and
 * bytes, around the block boundaries (55/56 bytes: where the length no longer fits in the last
 * block; 64), empty and multi-block.
 */
import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { sha256Hex, sha256Small } from "../../src/hashing/sha256.js";

const reference = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex");

describe("sha256Small", () => {
  it("gives the FIPS 180-4 digests of the standard messages", () => {
    expect(sha256Small("")).toBe(
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    );
    expect(sha256Small("abc")).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
    expect(sha256Small("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")).toBe(
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
    );
  });

  it("agrees with node:crypto on every length around the block boundaries", () => {
    for (let n = 0; n <= 300; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 131 + n) & 0xff);
      expect(sha256Small(bytes)).toBe(reference(bytes));
      const text = "é".repeat(n >> 1) + "x".repeat(n & 1); // 2 bytes a character in UTF-8
      expect(sha256Small(text)).toBe(reference(text));
    }
  });

  it("agrees with node:crypto on random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 5000 }), (bytes) => {
        expect(sha256Small(bytes)).toBe(reference(bytes));
      }),
      { numRuns: 500 },
    );
  });

  it("agrees with node:crypto on random strings, as UTF-8, lone surrogates included", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: "binary", maxLength: 3000 }), fc.string({ maxLength: 200 })),
        (text) => {
          expect(sha256Small(text)).toBe(reference(text));
        },
      ),
      { numRuns: 500 },
    );
  });

  it("hashes a view by its own bytes, not its buffer's", () => {
    const whole = Uint8Array.from({ length: 200 }, (_, i) => i);
    const view = whole.subarray(17, 150);
    expect(sha256Small(view)).toBe(reference(Buffer.from(view)));
  });
});

describe("sha256Hex", () => {
  it("gives node:crypto's digest for small and large data alike", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 10_000 }), fc.string({ maxLength: 4000 }), (b, s) => {
        expect(sha256Hex(b)).toBe(reference(b));
        expect(sha256Hex(s)).toBe(reference(s));
      }),
      { numRuns: 100 },
    );
  });
});
