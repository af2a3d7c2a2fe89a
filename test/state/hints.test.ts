// The hints beside a state (state/hints.ts): `<name>.files`, written and read back exactly;
// anything malformed reads as empty, bad entries are skipped, writes never throw.
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { readKnownFiles, writeKnownFiles } from "../../src/state/hints.js";
import { FORMAT_VERSION as V, StateStore } from "../../src/state/store.js";
import { tempDir } from "../util/tmp.js";

/** A store in a directory of its own. */
const fresh = async () => new StateStore(await tempDir(), "bet");
const tempsIn = (dir: string) => readdirSync(dir).filter((f) => f.endsWith(".tmp"));

describe("known files (<name>.files)", () => {
  const known = {
    "/b": { identity: "i2", hash: "h2" },
    "/a": { identity: "i1", hash: "h1" },
  } as never;
  // Exact text (1-space indent, sorted, newline) and the round trip.
  it("writes and reads back the known file hashes", async () => {
    const store = await fresh();
    expect(readKnownFiles(store)).toEqual({});
    await writeKnownFiles(store, known);
    expect(readFileSync(store.file("files"), "utf8")).toBe(
      `{\n "memori": ${V},\n "files": {\n  "/a": {\n   "hash": "h1",\n   "identity": "i1"\n  },\n` +
        '  "/b": {\n   "hash": "h2",\n   "identity": "i2"\n  }\n }\n}\n',
    );
    expect(readKnownFiles(store)).toEqual(known);
    expect(tempsIn(store.dir)).toEqual([]);
  });

  // Anything malformed as a whole reads as empty, never throws.
  it.each([
    "not json",
    "[]",
    "null",
    `{"memori": ${V + 1}, "files": {"/a": {"identity": "i", "hash": "h"}}}`,
    '{"files": {"/a": {"identity": "i", "hash": "h"}}}',
    `{"memori": ${V}, "files": [{"identity": "i", "hash": "h"}]}`,
    `{"memori": ${V}, "files": null}`,
    `{"memori": ${V}}`,
  ])("reads %s as {}", async (text) => {
    const store = await fresh();
    writeFileSync(store.file("files"), text);
    expect(readKnownFiles(store)).toEqual({});
  });

  // Bad entries are skipped one by one; extra fields of good ones are dropped.
  it("skips just the bad entries", async () => {
    const store = await fresh();
    const files = {
      "/ok": { identity: "i", hash: "h", extra: 1 },
      "/null": null,
      "/list": ["i", "h"],
      "/no-identity": { hash: "h" },
      "/no-hash": { identity: "i" },
      "/number-identity": { identity: 1, hash: "h" },
      "/number-hash": { identity: "i", hash: 2 },
      "/ok2": { identity: "j", hash: "k" },
    };
    writeFileSync(store.file("files"), JSON.stringify({ memori: V, files }));
    expect(readKnownFiles(store)).toEqual({
      "/ok": { identity: "i", hash: "h" },
      "/ok2": { identity: "j", hash: "k" },
    });
  });

  // A path named "__proto__" is an entry like any other, never the object's prototype.
  it("keeps a __proto__ path as data", async () => {
    const store = await fresh();
    const files = `{"memori": ${V}, "files": {"__proto__": {"identity": "i", "hash": "h"}}}`;
    writeFileSync(store.file("files"), files);
    const known = readKnownFiles(store);
    expect(Object.getPrototypeOf(known)).toBe(Object.prototype);
    expect(Object.keys(known)).toEqual(["__proto__"]);
    expect(Object.getOwnPropertyDescriptor(known, "__proto__")?.value).toEqual({
      identity: "i",
      hash: "h",
    });
  });

  // It is a cache: failing to write it (no directory) is silent.
  it("writeKnownFiles never throws", async () => {
    const store = new StateStore(path.join(await tempDir(), "missing"), "bet");
    await expect(writeKnownFiles(store, known)).resolves.toBeUndefined();
    expect(readKnownFiles(store)).toEqual({});
  });
});
