/**
 * Where state lives: the one owner of the layout of a state directory. Stages, map elements,
 * read-only caches, the pipeline's collision check, `memori -p` and `memori cache` all ask here.
 *
 * ```text
 * <hashOutput>/<name>.inputs|.outputs|.stage|.files   a stage's own state (.lock while running)
 * <hashOutput>/<name>.map/<key>.inputs|...            one element of a map, keyed by its values
 * <hashOutput>/parallel<K>/<name>.inputs|...          run K of `memori -p`
 * ```
 *
 * A read-only cache holds the same layout under another root.
 */
import path from "node:path";
import stringify from "fast-json-stable-stringify";
import { codeOf } from "../errors.js";
import { sha256 } from "../hashing/files.js";
import { encodePlainValue } from "../hashing/values.js";
import { StateStore } from "./store.js";
import { opendirSync } from "../untracked-fs.js";

/** The state of one call: a root directory, a folder inside it, and a name. */
export class StateLocation {
  #store: StateStore | undefined;

  constructor(
    /** The `hashOutput` (or read-only cache) directory. */
    readonly root: string,
    /** The folder inside the root: `""` for a stage, `<name>.map` for a map element. */
    readonly folder: string,
    /** The state files' base name: the stage's name, or an element's key. */
    readonly name: string,
    /** A map element's label (`sub-02`), recorded for people (StageRecord `label`). */
    readonly label?: string,
  ) {}

  /** The directory the state files are in. */
  get dir(): string {
    return this.folder === "" ? this.root : path.join(this.root, this.folder);
  }

  /** The state files. */
  get store(): StateStore {
    return (this.#store ??= new StateStore(this.dir, this.name, undefined, this.label));
  }

  /** The same place in another root: where a read-only cache keeps this call's state. */
  under(root: string): StateLocation {
    return new StateLocation(root, this.folder, this.name, this.label);
  }
}

/** Where a stage keeps its state. */
export function stageLocation(hashOutput: string, name: string): StateLocation {
  return new StateLocation(hashOutput, "", name);
}

/**
 * The key of a map element: a hash of its mapped values (paths, not contents), so that
 * reordering or adding elements finds each one's own state, and a changed file re-runs just
 * its element. Values are encoded as state files encode them, so values JSON would write alike
 * (`NaN`, `null`, `Infinity`, `-0` and `0`, Sets, Maps) key different elements; plain JSON
 * values keep the keys they always had.
 */
export function elementKey(values: Readonly<Record<string, unknown>>, stage: string): string {
  return sha256(stringify(encodePlainValue(values, "inputs", stage))).slice(0, 20);
}

/**
 * Where one element of a map keeps its state: `<hashOutput>/<name>.map/<key>`; its `label`
 * goes into its record.
 */
export function elementLocation(
  hashOutput: string,
  name: string,
  values: Readonly<Record<string, unknown>>,
  label?: string,
): StateLocation {
  return new StateLocation(hashOutput, `${name}.map`, elementKey(values, name), label);
}

/**
 * What a pipeline node writes under, as an absolute path: two nodes with the same key would
 * write the same state files. A stage's is its own files; a map's, its `<name>.map` folder.
 */
export function nodeStateKey(hashOutput: string, name: string, mapped: boolean): string {
  const root = path.isAbsolute(hashOutput) ? hashOutput : path.resolve(hashOutput);
  return `${root}${path.sep}${mapped ? `${name}.map${path.sep}` : name}`;
}

/**
 * Whether a pipeline node has any state in `hashOutput`: a stage's `.stage`, or a map's element
 * (a `.stage` in its `<name>.map` folder). When it cannot tell (a folder it cannot read), yes.
 */
export function nodeHasState(hashOutput: string, name: string, mapped: boolean): boolean {
  if (!mapped) return stageLocation(hashOutput, name).store.hasRecord();
  try {
    // Entries until the first record (not a listing of what may be 100,000 files).
    const folder = opendirSync(path.join(hashOutput, `${name}.map`));
    try {
      for (let entry = folder.readSync(); entry !== null; entry = folder.readSync()) {
        if (entry.name.endsWith(".stage")) return true;
      }
      return false;
    } finally {
      folder.closeSync();
    }
  } catch (error) {
    return codeOf(error) !== "ENOENT";
  }
}

/** The `hashOutput` of run K of `memori -p`. */
export function parallelRoot(hashOutput: string, k: number): string {
  return path.join(hashOutput, `parallel${k}`);
}

/** Whether a folder inside a state directory holds nested states (`parallelK`, `<name>.map`). */
export function isNestedStateFolder(name: string): boolean {
  return /^parallel\d+$/.test(name) || name.endsWith(".map");
}

/** The extensions of a state's files, everything `memori cache clear` may remove. */
export const STATE_FILE_SUFFIXES = [
  ".inputs",
  ".outputs",
  ".stage",
  ".files",
  ".trees",
  ".owner",
] as const;
