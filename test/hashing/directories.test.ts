// Directories by content: what a tree's hash covers, what it leaves out, and what it costs
// (files read) when nothing or one thing changed, in this process and seeded from a record.
import { execFile, execFileSync } from "node:child_process";
import { cp, mkdir, rm, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { FileHasher, type Sha256Hex } from "../../src/hashing/files.js";
import { AGAIN, findDigest, findWalk, listTree, treeChanges } from "../../src/hashing/tree.js";
import { tempDir, writeTree } from "../util/tmp.js";

const run = promisify(execFile);

/**
 * A tree whose files are old enough for their stat identities to be trusted: their change
 * time (which no call can set back) more than 2 s ago.
 */
async function oldTree(files: Record<string, string>): Promise<string> {
  const dir = await tempDir();
  await writeTree(dir, files);
  await new Promise((resolve) => setTimeout(resolve, 2100));
  return dir;
}

const FILES = {
  "sub-01/anat/T1w.nii": "one",
  "sub-01/func/bold.nii": "bold one",
  "sub-02/anat/T1w.nii": "two",
  README: "a dataset",
};

describe("a directory's hash", () => {
  it("is its content: equal for a copy elsewhere, different for any change inside", async () => {
    const dir = await oldTree(FILES);
    const hasher = new FileHasher();
    const first = await hasher.hash(dir);
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    const copy = path.join(await tempDir(), "copy");
    await cp(dir, copy, { recursive: true });
    expect(await new FileHasher().hash(copy)).toBe(first);

    const seen = new Set([first]);
    const change = async (what: () => Promise<unknown>) => {
      await what();
      const now = await new FileHasher().hash(copy);
      expect(seen.has(now)).toBe(false);
      seen.add(now);
    };
    await change(() => writeFile(path.join(copy, "sub-01/anat/T1w.nii"), "ONE")); // same size
    await change(() => writeFile(path.join(copy, "sub-02/anat/T2w.nii"), "t2")); // added
    await change(() => rm(path.join(copy, "README"))); // deleted
    await change(() => mkdir(path.join(copy, "sub-03"))); // an empty directory
    await change(async () => {
      await cp(path.join(copy, "sub-03"), path.join(copy, "sub-04"), { recursive: true });
      await rm(path.join(copy, "sub-03"), { recursive: true });
    }); // renamed
  });

  it("follows links by target content, and stops at a link back into itself", async () => {
    const dir = await oldTree({ "a.txt": "a", "b.txt": "b", "nested/c.txt": "c" });
    await symlink("a.txt", path.join(dir, "current"));
    await symlink("..", path.join(dir, "nested", "loop"));
    await symlink("nowhere", path.join(dir, "dangling"));
    const listing = listTree(dir);
    const kinds = Object.fromEntries(listing.entries.map((e) => [e.rel, e.kind]));
    expect(kinds).toMatchObject({ current: "l", "nested/loop": "c", dangling: "m" });
    const before = await new FileHasher().hash(dir);
    await rm(path.join(dir, "current"));
    await symlink("b.txt", path.join(dir, "current"));
    expect(await new FileHasher().hash(dir)).not.toBe(before);
  });

  it("never opens a FIFO inside (it would block)", async () => {
    const dir = await oldTree({ "a.txt": "a" });
    execFileSync("mkfifo", [path.join(dir, "pipe")]);
    const hasher = new FileHasher();
    expect(await hasher.hash(dir)).toMatch(/^[0-9a-f]{64}$/);
    expect(listTree(dir).entries.find((e) => e.rel === "pipe")?.kind).toBe("o");
  });

  it("leaves out what `ignore` globs match, and memori's own state directory", async () => {
    const dir = await oldTree({ ...FILES, "logs/run.log": "1", "scripts/IsRunning.lh": "x" });
    const rule = { ignore: ["**/*.log", "scripts/IsRunning.*"], skip: [path.join(dir, "state")] };
    const before = await new FileHasher().hash(dir, undefined, rule);
    await writeFile(path.join(dir, "logs/run.log"), "2");
    await writeFile(path.join(dir, "logs/other.log"), "3");
    await rm(path.join(dir, "scripts/IsRunning.lh"));
    await writeTree(dir, { "state/s.stage": "{}" });
    expect(await new FileHasher().hash(dir, undefined, rule)).toBe(before);
    await writeFile(path.join(dir, "scripts/recon.sh"), "#!/bin/sh");
    expect(await new FileHasher().hash(dir, undefined, rule)).not.toBe(before);
  });

  it("is the same whether GNU find or Node walks the tree", async () => {
    const dir = await oldTree(FILES);
    await symlink("README", path.join(dir, "link"));
    const here = await new FileHasher().hash(dir);
    // A process that finds no `find` on its PATH walks with Node alone.
    const script = `import { FileHasher } from ${JSON.stringify(path.resolve("src/hashing/files.ts"))};
      process.stdout.write(String(await new FileHasher().hash(${JSON.stringify(dir)})));`;
    const { stdout } = await run(
      process.execPath,
      ["--import", "tsx", "--input-type=module", "-e", script],
      {
        env: { ...process.env, PATH: "" },
      },
    );
    expect(stdout).toBe(here);
  });
});

describe("what hashing a directory again costs", () => {
  it("reads nothing when nothing changed, and only what changed otherwise", async () => {
    const dir = await oldTree(FILES);
    const hasher = new FileHasher();
    const first = await hasher.hash(dir);
    expect(hasher.directories.reads).toBe(4);
    expect(await hasher.hash(dir)).toBe(first);
    expect(hasher.directories.reads).toBe(4); // a stat per entry, no read

    // Another process, told what was recorded (identity, hash, entries): nothing read either.
    const trusted = hasher.trusted(dir)!;
    const recorded = hasher.directories.entries(dir)!;
    const fresh = new FileHasher();
    fresh.seed(dir, trusted);
    fresh.directories.recall(dir, () => recorded);
    expect(await fresh.hash(dir)).toBe(first);
    expect(fresh.directories.reads).toBe(0);

    // One file edited: that file is read, and the change is named.
    await writeFile(path.join(dir, "sub-02/anat/T1w.nii"), "TWO");
    const after = await fresh.hash(dir);
    expect(after).not.toBe(first);
    expect(fresh.directories.reads).toBe(1);
    expect(fresh.directories.changesInside(dir, first!, after!)).toEqual([
      "sub-02/anat/T1w.nii changed",
    ]);
  });

  // A recorded identity is the directory's as a whole: while the quick look finds it unchanged,
  // the recorded hash stands, without listing the entries (here a made-up one, to see it used).
  it("takes a seeded directory hash while the directory keeps its identity", async () => {
    const dir = await oldTree(FILES);
    const hasher = new FileHasher();
    await hasher.hash(dir);
    const { identity } = hasher.trusted(dir)!;
    expect(identity).toMatch(/^tree:/);
    const seeded = new FileHasher();
    seeded.seed(dir, { identity, hash: "f".repeat(64) as Sha256Hex });
    expect(await seeded.hash(dir)).toBe("f".repeat(64));
    expect(seeded.directories.reads).toBe(0);
  });

  it("does not trust files changed just now: they are read again next time", async () => {
    const dir = await oldTree(FILES);
    await writeFile(path.join(dir, "fresh.txt"), "just written");
    const hasher = new FileHasher();
    const first = await hasher.hash(dir);
    expect(hasher.trusted(dir)).toBeUndefined(); // not recorded as a hint
    const recorded = hasher.directories.entries(dir)!;
    expect(recorded.identity).toBe("");
    const fresh = new FileHasher();
    fresh.directories.recall(dir, () => recorded);
    expect(await fresh.hash(dir)).toBe(first);
    expect(fresh.directories.reads).toBe(1); // the young file, not the old ones
  });
});

/** `count` small files in folders of 50 (`d0/f0`, `d0/f1`, ...). */
function manyFiles(count: number, from = 0): Record<string, string> {
  const files: Record<string, string> = {};
  for (let i = from; i < from + count; i++) files[`d${Math.floor(i / 50)}/f${i}`] = String(i);
  return files;
}
const wait = () => new Promise((resolve) => setTimeout(resolve, 2100));

/**
 * Look at `dir` as a new process does, each time told what the look before recorded (its
 * identity and hash): the hash, the identity now recorded, and how many files were read.
 */
function looker(dir: string): () => Promise<{ hash: string; identity: string; reads: number }> {
  let recorded: { identity: string; hash: Sha256Hex } | undefined;
  return async () => {
    const hasher = new FileHasher();
    if (recorded !== undefined) hasher.seed(dir, recorded);
    const hash = (await hasher.hash(dir))!;
    recorded = hasher.trusted(dir);
    return { hash, identity: recorded?.identity ?? "", reads: hasher.directories.reads };
  };
}

describe("how a tree's quick look is taken", () => {
  // A subject's folder is listed here (starting `sh`, `find` and `sha256sum` would cost more);
  // a tree of thousands of entries is walked by GNU find. The identity says which.
  it("lists a small tree here, and has GNU find walk a large one", async () => {
    const small = await oldTree(FILES);
    const hasher = new FileHasher();
    const first = await hasher.hash(small);
    expect(hasher.trusted(small)!.identity).toMatch(/^tree::node:9:[0-9a-f]{64}$/); // 4 files, 5 folders
    expect(await new FileHasher().hash(small)).toBe(first);

    const large = await oldTree(manyFiles(2000));
    await hasher.hash(large);
    expect(hasher.trusted(large)!.identity).toMatch(/^tree::find:[0-9a-f]{64}$/);
  });

  // Following links makes find stat each entry by its whole path: a tree with none is walked
  // without following them, to the digest following them gives (so a state recorded either way
  // stays a hit), and a tree with one is walked again following them.
  it("walks a tree with no link without following links, and one with links following them", async () => {
    const dir = await oldTree(manyFiles(300));
    const followed = await findWalk(dir, [], true);
    expect(followed).toMatch(/^[0-9a-f]{64}$/);
    expect(await findWalk(dir, [], false)).toBe(followed);
    expect(await findDigest(dir)).toEqual({ digest: followed, links: false });

    const outside = await oldTree({ "data.nii": "one", "deep/f": "x" });
    await symlink(path.join(outside, "data.nii"), path.join(dir, "d5", "link.nii"));
    await symlink(path.join(outside, "deep"), path.join(dir, "linked"));
    expect(await findWalk(dir, [], false)).toBe(AGAIN);
    const linked = (await findDigest(dir))!;
    expect(linked).toEqual({ digest: await findWalk(dir, [], true), links: true });
    expect(linked.digest).not.toBe(followed);
    expect(await findDigest(dir, [], true)).toEqual(linked); // known to have links: at once
    // What the links point to is walked: a change there is a change of the tree.
    await writeFile(path.join(outside, "deep/f"), "changed");
    const deep = (await findDigest(dir))!.digest;
    expect(deep).not.toBe(linked.digest);
    await writeFile(path.join(outside, "data.nii"), "two!");
    expect((await findDigest(dir, [], true))!.digest).not.toBe(deep);
    // A link in a pruned folder is not walked: no link met.
    await rm(path.join(dir, "linked"));
    await rm(path.join(dir, "d5", "link.nii"));
    await symlink(path.join(outside, "data.nii"), path.join(dir, "d2", "link.nii"));
    expect(await findWalk(dir, ["d2"], false)).toMatch(/^[0-9a-f]{64}$/);
  });

  // A tree recorded with links is walked following them at once: its identity says so. One that
  // gains a link, or loses its links, is seen changed either way.
  it("records whether a tree had links, and looks at it again the same way", async () => {
    const dir = await oldTree(manyFiles(2000));
    const outside = await oldTree({ "data.nii": "one" });
    const look = looker(dir);
    const plain = await look();
    expect(plain.identity).toMatch(/^tree::find:[0-9a-f]{64}$/);
    await symlink(path.join(outside, "data.nii"), path.join(dir, "d7", "link.nii"));
    await wait();
    const withLink = await look();
    expect(withLink.identity).toMatch(/^tree::find-links:[0-9a-f]{64}$/);
    expect(withLink.hash).not.toBe(plain.hash);
    expect(await look()).toEqual({ ...withLink, reads: 0 }); // unchanged: nothing read
    await writeFile(path.join(outside, "data.nii"), "two!");
    await wait();
    const target = await look();
    expect(target.hash).not.toBe(withLink.hash);
    await rm(path.join(dir, "d7", "link.nii"));
    await wait();
    const gone = await look();
    expect(gone.hash).toBe(plain.hash); // the tree as it was before the link
    expect(gone.identity).toMatch(/^tree::find-links:/); // walked following links, as recorded
  });

  // The way a tree was recorded is how it is looked at again (here each look a new process,
  // told what the one before recorded); a change that crosses the size where the other way
  // pays switches it, and every change is seen on the way.
  it("follows a tree that shrinks or grows to the other way, seeing every change", async () => {
    const dir = await oldTree(manyFiles(2000));
    const look = looker(dir);
    const hashes = new Set<string>();
    const changed = async (kind: RegExp) => {
      const now = await look();
      expect(now.identity).toMatch(kind);
      expect(hashes.has(now.hash)).toBe(false);
      hashes.add(now.hash);
      const again = await look(); // unchanged: the recorded hash, nothing read
      expect(again).toEqual({ ...now, reads: 0 });
      return now;
    };
    await changed(/^tree::find:/);

    for (let d = 1; d < 40; d++) await rm(path.join(dir, `d${d}`), { recursive: true });
    await changed(/^tree::node:51:/); // d0 and its 50 files

    await writeTree(dir, manyFiles(1990, 50));
    await wait();
    // Grown past the size: listed once more (its identity counts the entries), then find's.
    const grown = await look();
    expect(grown.identity).toMatch(/^tree::node:2081:/);
    expect(hashes.has(grown.hash)).toBe(false);
    const walked = await look();
    expect(walked).toMatchObject({ hash: grown.hash, identity: expect.stringMatching(/:find:/) });
    expect((await look()).reads).toBe(0);
    await writeFile(path.join(dir, "d10/f500"), "changed");
    await wait();
    await changed(/^tree::find:/);
  });
});

describe("treeChanges", () => {
  it("names what was added, changed and removed, the first few", () => {
    const before = new Map([
      ["a", "1"],
      ["b", "2"],
      ["c", "3"],
    ]);
    const after = new Map([
      ["a", "1"],
      ["b", "X"],
      ["d", "4"],
    ]);
    expect(treeChanges(before, after)).toEqual(["b changed", "d added", "c removed"]);
    expect(treeChanges(before, after, 1)).toEqual(["b changed"]);
    expect(treeChanges(before, before)).toEqual([]);
  });
});
