/**
 * The hints beside a stage's state, never a source of results: `<name>.files`, the hashes of
 * its files with their stat identities (so an unchanged file is not read again in a new
 * process), and `<name>.trees`, its directories' entries (read only when one changed).
 * Anything unreadable reads as empty; writes are atomic, and the last writer wins.
 */
import { readWhole } from "../untracked-fs.js";
import type { RecordedTree, Sha256Hex } from "../hashing/files.js";
import { setOwn, sortKeys, type Json } from "../hashing/values.js";
import { writeFilesAtomic } from "./atomic.js";
import { FORMAT_VERSION, isRecord } from "./record.js";
import type { KnownFiles, StateStore } from "./store.js";

/**
 * The file hashes recorded for this stage's files with their stat identities (the
 * persistent hash cache: a hint that spares reading unchanged files, never a source of
 * results). Anything unreadable reads as empty.
 */
export function readKnownFiles(store: StateStore): KnownFiles {
  try {
    const parsed = JSON.parse(readWhole(store.file("files")).toString("utf8")) as unknown;
    if (!isRecord(parsed) || parsed.memori !== FORMAT_VERSION || !isRecord(parsed.files)) return {};
    const known: KnownFiles = {};
    for (const [file, entry] of Object.entries(parsed.files)) {
      if (isRecord(entry) && typeof entry.identity === "string" && typeof entry.hash === "string") {
        setOwn(known, file, { identity: entry.identity, hash: entry.hash as Sha256Hex });
      }
    }
    return known;
  } catch {
    return {};
  }
}

/** Record file hashes with their identities (atomically; last writer wins, it is a cache). */
export async function writeKnownFiles(store: StateStore, files: KnownFiles): Promise<void> {
  const text = JSON.stringify(
    { memori: FORMAT_VERSION, files: sortKeys(files as unknown as Json) },
    null,
    1,
  );
  await writeFilesAtomic([[store.file("files"), text + "\n"]]).catch(() => undefined);
}

/**
 * The entries recorded for the directories among this stage's files (`<name>.trees`: a hint
 * like `.files`, read only when a directory changed). Anything unreadable reads as empty.
 */
export function readTrees(store: StateStore): Record<string, RecordedTree> {
  try {
    const parsed = JSON.parse(readWhole(store.file("trees")).toString("utf8")) as unknown;
    if (!isRecord(parsed) || parsed.memori !== FORMAT_VERSION || !isRecord(parsed.trees)) return {};
    const trees: Record<string, RecordedTree> = {};
    for (const [dir, tree] of Object.entries(parsed.trees)) {
      if (
        isRecord(tree) &&
        typeof tree.identity === "string" &&
        typeof tree.hash === "string" &&
        Array.isArray(tree.entries) &&
        tree.entries.every(
          (e) => Array.isArray(e) && e.length === 4 && e.every((x) => typeof x === "string"),
        )
      ) {
        setOwn(trees, dir, tree as unknown as RecordedTree);
      }
    }
    return trees;
  } catch {
    return {};
  }
}

/** Record directories' entries (atomically; a cache, like `.files`). */
export async function writeTrees(
  store: StateStore,
  trees: Record<string, RecordedTree>,
): Promise<void> {
  const text = JSON.stringify({ memori: FORMAT_VERSION, trees });
  await writeFilesAtomic([[store.file("trees"), text + "\n"]]).catch(() => undefined);
}
