/**
 * The list file of a job that runs more than one job file (array-batch.ts writes it, `memori
 * run-stage` reads it): JSON, an array whose items are job files (absolute paths, as the node
 * sees them) or groups of them (arrays). A group job (`run-stage --group LIST`) runs every item
 * of its list, one after the other; element `i` of an array job (`run-stage --array LIST`) runs
 * item `i`, a job file or a group.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { messageOf } from "../errors.js";
import { writeFileAtomic } from "../state/atomic.js";

/** One item of a list: a job file, or a group of them run one after the other. */
export type ListItem = string | readonly string[];

/** Write a list file, whole or not at all. */
export async function writeJobList(file: string, items: readonly ListItem[]): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(items)}\n`);
}

const isFile = (value: unknown): value is string =>
  typeof value === "string" && path.isAbsolute(value);

/** The items of a list file, or what is wrong with it (a message). */
async function readItems(list: string): Promise<unknown[] | string> {
  let items: unknown;
  try {
    items = JSON.parse(await readFile(list, "utf8"));
  } catch (error) {
    return `the list ${list} cannot be read: ${messageOf(error)}`;
  }
  return Array.isArray(items) ? items : `the list ${list} is not a JSON array`;
}

/** The job files of a group job's list (every item a job file), or what is wrong (a message). */
export async function groupFiles(list: string): Promise<{ files: string[] } | string> {
  const items = await readItems(list);
  if (typeof items === "string") return items;
  if (items.length === 0 || !items.every(isFile)) {
    return `the list ${list} is not a list of job files (absolute paths)`;
  }
  return { files: items };
}

/**
 * The job files of element `index` of an array job (`SLURM_ARRAY_TASK_ID`): the item at that
 * index, a job file or a group; or what is wrong (a message).
 */
export async function elementFiles(
  list: string,
  index: string | undefined,
): Promise<{ files: string[] } | string> {
  const at = Number(index);
  if (index === undefined || !/^\d+$/.test(index) || !Number.isSafeInteger(at)) {
    return `--array ${list}: SLURM_ARRAY_TASK_ID is ${JSON.stringify(index)}, not an array element's index`;
  }
  const items = await readItems(list);
  if (typeof items === "string") return items;
  const item = items[at];
  if (isFile(item)) return { files: [item] };
  if (Array.isArray(item) && item.length > 0 && item.every(isFile)) return { files: item };
  return `the array's list ${list} has no job file at ${at}`;
}
