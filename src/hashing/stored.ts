/**
 * JSON as state files hold it, and the file entries in it: what a `{"file", "hash"}` entry
 * is, and walking or rewriting a stored value entry by entry (the `$memori` tags of
 * hashing/values.ts are walked into where they hold user values, never taken for entries).
 */
import type { Sha256Hex } from "./files.js";

/** A JSON value as stored in a state file. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A file recorded by content. */
export interface FileEntry {
  file: string;
  hash: Sha256Hex;
}

/** The key of the tags of values JSON cannot carry as they are (see hashing/values.ts). */
export const TAG = "$memori";

/** Whether a stored JSON value is a file entry. */
export function isFileEntry(value: unknown): value is FileEntry {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  // The two fields first: most objects are not entries, and need no list of keys to tell.
  return (
    typeof (value as FileEntry).file === "string" &&
    typeof (value as FileEntry).hash === "string" &&
    Object.keys(value).length === 2
  );
}

/** Set an own enumerable property; unlike `o[k] = v`, a key named `__proto__` stays data. */
export function setOwn<T>(object: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(object, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

/**
 * Rebuild a stored value, replacing each file entry by `onEntry(entry)` and each plain string
 * by `onString(string)`. The wrapper of an escaped user object (`{"$memori": "object"}`) is
 * walked into, but never taken for an entry itself; tags keep their own fields.
 */
export function mapStored(
  json: Json,
  onEntry: (entry: FileEntry) => Json | FileEntry,
  onString: (value: string) => Json = (value) => value,
): Json {
  if (typeof json === "string") return onString(json);
  if (Array.isArray(json)) return json.map((item) => mapStored(item, onEntry, onString));
  if (json === null || typeof json !== "object") return json;
  if (isFileEntry(json)) return onEntry(json) as Json;
  const out: { [key: string]: Json } = {};
  if (TAG in json) {
    // A tag's own fields are not user values, except the contents of maps, sets and objects.
    for (const key of Object.keys(json)) {
      const value = json[key] as Json;
      const contents = key === "entries" || key === "values";
      if (
        key === "value" &&
        json[TAG] === "object" &&
        typeof value === "object" &&
        value !== null
      ) {
        const inner: { [key: string]: Json } = {};
        for (const k of Object.keys(value)) {
          setOwn(
            inner,
            k,
            mapStored((value as Record<string, Json>)[k] as Json, onEntry, onString),
          );
        }
        setOwn(out, key, inner);
      } else {
        setOwn(out, key, contents ? mapStored(value, onEntry, onString) : value);
      }
    }
    return out;
  }
  for (const key of Object.keys(json))
    setOwn(out, key, mapStored(json[key] as Json, onEntry, onString));
  return out;
}

/**
 * Visit a stored value like {@link mapStored} does, without rebuilding it: each file entry,
 * and each plain string that is not part of one.
 */
export function walkStored(
  json: Json,
  onEntry: (entry: FileEntry) => void,
  onString?: (value: string) => void,
): void {
  if (typeof json === "string") {
    onString?.(json);
    return;
  }
  if (Array.isArray(json)) {
    for (const item of json) walkStored(item, onEntry, onString);
    return;
  }
  if (json === null || typeof json !== "object") return;
  if (isFileEntry(json)) {
    onEntry(json);
    return;
  }
  if (TAG in json) {
    // A tag's own fields are not user values, except the contents of maps, sets and objects.
    for (const key of Object.keys(json)) {
      const value = json[key] as Json;
      if (
        key === "value" &&
        json[TAG] === "object" &&
        typeof value === "object" &&
        value !== null
      ) {
        for (const inner of Object.values(value)) walkStored(inner as Json, onEntry, onString);
      } else if (key === "entries" || key === "values") {
        walkStored(value, onEntry, onString);
      }
    }
    return;
  }
  // Own keys in Object.keys order, without making the list of them.
  for (const key in json) if (Object.hasOwn(json, key)) walkStored(json[key]!, onEntry, onString);
}

/** Every file entry inside a stored value, in order. */
export function fileEntries(json: Json): FileEntry[] {
  const out: FileEntry[] = [];
  walkStored(json, (entry) => out.push(entry));
  return out;
}

/** A deep copy of a JSON value with object keys sorted, for readable, canonical files. */
export function sortKeys(json: Json): Json {
  if (Array.isArray(json)) return json.map(sortKeys);
  if (json === null || typeof json !== "object") return json;
  const out: { [key: string]: Json } = {};
  for (const key of Object.keys(json).sort()) {
    const value = sortKeys(json[key] as Json);
    // "__proto__" is data here, like any other key (a plain assignment would set the prototype)
    if (key === "__proto__") setOwn(out, key, value);
    else out[key] = value;
  }
  return out;
}
