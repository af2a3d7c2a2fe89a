/**
 * The file-hash hints beside a state (`<name>.files`, `<name>.trees`): taught to the hasher
 * before a lookup, so that the files and directories a state names, and the files its code is
 * read from (a script function's script and dependents), are not read again while their stat
 * identities are unchanged, and recorded again after a run or a hit when they changed. Hints
 * only: a missing one costs a read, and one is recorded only for a file that had not changed
 * for a while when it was read (files.ts), so it stands for the content.
 */
import path from "node:path";
import stringify from "fast-json-stable-stringify";
import type { RecordedTree } from "../hashing/files.js";
import { codeFilesOf } from "../hashing/wrappers.js";
import type { FileEntry } from "../hashing/values.js";
import { readKnownFiles, readTrees, writeKnownFiles, writeTrees } from "../state/hints.js";
import type { KnownFiles, StateStore } from "../state/store.js";
import type { StageDef } from "./node.js";

/**
 * Teach the hasher the file hashes recorded beside a state (`referenced`: the files it refers
 * to; `undefined` without a state), so unchanged files named by it, and the files its code is
 * read from, are not read again. Returns what was recorded, to tell later whether it changed.
 */
export function seedKnownFiles(
  def: StageDef,
  store: StateStore,
  referenced: readonly FileEntry[] | undefined,
): KnownFiles {
  // No state: nothing to look up. A state of no files, of a stage whose code is not read from
  // files: nothing to hash.
  if (referenced === undefined) return {};
  if (referenced.length === 0 && codeFilesOf(def.fn) === undefined) return {};
  const known = readKnownFiles(store);
  for (const [file, hash] of Object.entries(known)) def.hasher.seed(file, hash);
  // Entries of directories, read only if one of them changed.
  let trees: Record<string, RecordedTree> | undefined;
  for (const { file } of referenced) {
    def.hasher.directories.recall(path.resolve(file), () => (trees ??= readTrees(store))[file]);
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
  const listCode = codeFilesOf(def.fn);
  if (entries.length === 0 && listCode === undefined) return;
  const files: KnownFiles = {};
  // Code files are hashed by the process-wide hasher (script.ts): def.hasher unless the stage
  // always hashes, and then none is trusted, so none is recorded.
  const code = listCode === undefined ? [] : await listCode();
  for (const file of [...entries.map((entry) => entry.file), ...code]) {
    const trusted = def.hasher.trusted(file);
    if (trusted !== undefined) files[file] = trusted;
  }
  if (stringify(files) !== stringify(known)) await writeKnownFiles(store, files);
  // Directories hashed entry by entry in this run (new or changed): their entries, so that a
  // change inside reads only what changed and the reason names it.
  const dirs = def.hasher.directories;
  if (!entries.some((e) => dirs.hashedHere(path.resolve(e.file)))) return;
  const old = readTrees(store);
  const trees: Record<string, RecordedTree> = {};
  for (const { file } of entries) {
    const tree = dirs.entries(path.resolve(file)) ?? old[file];
    if (tree !== undefined) trees[file] = tree;
  }
  await writeTrees(store, trees);
}
