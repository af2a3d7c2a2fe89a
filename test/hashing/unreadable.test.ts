// A file memori cannot read is never taken as unchanged: not as an input (it would be recorded
// as a plain string, and a later change to it unseen), not inside an input directory. Tested
// for real: the files are made unreadable to the child process that runs the stages (as root,
// the child runs as `nobody`; root reads any file).
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { isUnreadable, unreadableHash } from "../../src/hashing/unreadable.js";
import { tempDir } from "../util/tmp.js";

const fixture = path.resolve(import.meta.dirname, "..", "fixtures", "unreadable-child.mjs");
const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;

interface Seen {
  hashes: string[];
  file: { action: string; reason: { kind: string; new?: string } };
  tree: { action: string; reason: { kind: string } };
}

function runAs(args: string[]): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fixture, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      ...(asRoot ? { uid: NOBODY, gid: NOBODY } : {}),
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (status) =>
      status === 0
        ? resolve(JSON.parse(out) as Seen)
        : reject(new Error(`status ${status}: ${err}`)),
    );
  });
}

describe("unreadableHash", () => {
  it("is unique, tells the error, and is told apart from hashes", () => {
    const a = unreadableHash("EACCES");
    const b = unreadableHash("EACCES");
    expect(a).not.toBe(b);
    expect(a).toMatch(/^cannot be read \(EACCES\) #\d+\.\d+\.[0-9a-f]+$/);
    expect(isUnreadable(a)).toBe(true);
    expect(isUnreadable("0".repeat(64))).toBe(false);
    expect(unreadableHash()).toMatch(/^cannot be read \(error\) #/);
  });
});

describe("files that cannot be read", () => {
  it("make their stage run every time, and say why", async () => {
    const work = await tempDir();
    chmodSync(work, 0o777); // the child (nobody, as root) writes its state here
    const file = path.join(work, "secret.txt");
    writeFileSync(file, "version 1");
    chmodSync(file, 0o600);
    const dir = path.join(work, "subject");
    mkdirSync(dir);
    writeFileSync(path.join(dir, "open.txt"), "anyone reads this");
    writeFileSync(path.join(dir, "closed.txt"), "version 1");
    chmodSync(path.join(dir, "closed.txt"), 0o600);
    if (!asRoot) {
      chmodSync(file, 0o000);
      chmodSync(path.join(dir, "closed.txt"), 0o000);
    }
    const state = path.join(work, "state");
    const first = await runAs([state, file, dir]);
    expect(first.hashes.every(isUnreadable)).toBe(true);
    expect(first.hashes[0]).not.toBe(first.hashes[1]);
    expect(first.file).toMatchObject({ action: "run", reason: { kind: "first-run" } });
    // Nothing changed that memori could see; it cannot see inside them, so it runs again.
    const again = await runAs([state, file, dir]);
    expect(again.file).toMatchObject({ action: "run", reason: { kind: "input-changed" } });
    expect(again.file.reason.new).toMatch(/secret\.txt \(cannot be read \(EACCES\) #/);
    expect(again.tree).toMatchObject({ action: "run", reason: { kind: "input-changed" } });
  });
});
