/**
 * The file-hash hints beside a state (`<name>.files`, `<name>.trees`): taught to the hasher
 * before a lookup, so that the files and directories a state names are not read again while
 * their stat identities are unchanged, and recorded again after a run or a hit when they
 * changed. Hints only: a missing or wrong one costs a read, never a wrong result.
 */
import path from "node:path";
import stringify from "fast-json-stable-stringify";
import type { RecordedTree } from "../hashing/files.js";
import type { FileEntry } from "../hashing/values.js";
import type { KnownFiles, StateStore } from "../state/store.js";
import type { StageDef } from "./node.js";

/**
 * Teach the hasher the file hashes recorded beside a state (`referenced`: the files it refers
 * to), so unchanged files named by it are not read again. Returns what was recorded, to tell
 * later whether it changed.
 */
export function seedKnownFiles(
  def: StageDef,
  store: StateStore,
  referenced: readonly FileEntry[],
): KnownFiles {
  if (referenced.length === 0) return {};
  const known = store.readKnownFiles();
  for (const [file, hash] of Object.entries(known)) def.hasher.seed(file, hash);
  // Entries of directories, read only if one of them changed.
  let trees: Record<string, RecordedTree> | undefined;
  for (const { file } of referenced) {
    def.hasher.directories.recall(path.resolve(file), () => (trees ??= store.readTrees())[file]);
  }
  return known;
}

/** Record the trusted identities of a state's files, if they changed (the hash cache). */
export async function recordKnownFiles(
  def: StageDef,
  store: StateStore,
  entries: readonly FileEntry[],
  known: KnownFiles,
): Promise<void> {
  if (entries.length === 0) return;
  const files: KnownFiles = {};
  for (const { file } of entries) {
    const trusted = def.hasher.trusted(file);
    if (trusted !== undefined) files[file] = trusted;
  }
  if (stringify(files) !== stringify(known)) await store.writeKnownFiles(files);
  // Directories hashed entry by entry in this run (new or changed): their entries, so that a
  // change inside reads only what changed and the reason names it.
  const dirs = def.hasher.directories;
  if (!entries.some((e) => dirs.hashedHere(path.resolve(e.file)))) return;
  const old = store.readTrees();
  const trees: Record<string, RecordedTree> = {};
  for (const { file } of entries) {
    const tree = dirs.entries(path.resolve(file)) ?? old[file];
    if (tree !== undefined) trees[file] = tree;
  }
  await store.writeTrees(trees);
}
