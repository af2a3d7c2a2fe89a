/**
 * The codec between the values stages take and return and the JSON kept in state files.
 *
 * - JSON values are stored as they are.
 * - A string that names an existing regular file becomes `{"file": path, "hash": sha256}`.
 * - Values JSON cannot carry exactly (`undefined`, `NaN`, `±Infinity`, `-0`, `BigInt`, `Date`,
 *   `Map`, `Set`) become tagged objects `{"$memori": tag, ...}`.
 * - A user object that could be mistaken for either (its keys are exactly `file` and `hash`,
 *   or it has a `$memori` key) is wrapped as `{"$memori": "object", "value": {...}}`, so no
 *   user value can ever be confused with a file entry.
 * - Anything else (functions, symbols, class instances, typed arrays, cycles, sparse arrays)
 *   is rejected before anything is written, with the path inside the value.
 *
 * Decoding never evaluates code: it only builds plain values, Dates, Maps and Sets.
 */
import { MemoriError, describe } from "../errors.js";
import type { DirectoryRule, FileHasher, HashScope } from "./files.js";
import { TAG, isFileEntry, setOwn, type Json } from "./stored.js";

export {
  fileEntries,
  isFileEntry,
  mapStored,
  setOwn,
  sortKeys,
  walkStored,
  type FileEntry,
  type Json,
} from "./stored.js";

const MAX_PATH_LENGTH = 4096;

function looksReserved(keys: string[]): boolean {
  if (keys.includes(TAG)) return true;
  return keys.length === 2 && keys.includes("file") && keys.includes("hash");
}

/** Where a value sits, for error messages: `outputs.b.some_key`, `inputs.files[2]`. */
function child(where: string, key: string | number): string {
  if (typeof key === "number") return `${where}[${key}]`;
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${where}.${key}` : `${where}[${JSON.stringify(key)}]`;
}

/** Context for {@link encodeValue}. */
export interface EncodeContext {
  /** The stage, named in errors. */
  stage: string;
  /** Hashes strings that name files. */
  hasher: FileHasher;
  /** Hashes already computed in this run. */
  scope?: HashScope | undefined;
  /** How directories are hashed. */
  rule?: DirectoryRule | undefined;
}

function reject(stage: string, where: string, what: string, advice: string): never {
  throw new MemoriError(
    "unserializable",
    `stage "${stage}": ${where} is ${what}, which cannot be stored in a state file and read back as it was. ${advice}`,
    { stage },
  );
}

const FILE_ADVICE =
  "Write it to a file and pass the file's path instead, or convert it to plain JSON values.";

/**
 * Encode a value for a state file. `where` names it in errors (`inputs.x`). Throws a
 * {@link MemoriError} with reason `unserializable` for anything that cannot round-trip.
 * The value is checked whole before any file is read: strings that may name files are hashed
 * afterwards, in the order they appear.
 */
export async function encodeValue(
  value: unknown,
  where: string,
  ctx: EncodeContext,
): Promise<Json> {
  return encodeValueNow(value, where, ctx);
}

/**
 * {@link encodeValue}, at once (no promise) for a value with no string that could name a file.
 * Throws at once for a value that cannot be stored.
 */
export function encodeValueNow(
  value: unknown,
  where: string,
  ctx: EncodeContext,
): Json | Promise<Json> {
  // A number, a boolean, null...: no string in it, nothing inside it.
  if (value === null || (typeof value !== "object" && typeof value !== "string")) {
    return encode(value, where, ctx.stage, NO_ANCESTORS, undefined);
  }
  const pending = new Map<object, string>();
  const json = encode(value, where, ctx.stage, new Set(), pending);
  return pending.size === 0 ? json : resolvePending(json, pending, ctx);
}

/** The ancestors of a value that is not an object: never added to, as nothing is inside it. */
const NO_ANCESTORS = new Set<object>();

async function resolvePending(
  json: Json,
  pending: Map<object, string>,
  ctx: EncodeContext,
): Promise<Json> {
  const resolved = new Map<object, Json>();
  for (const [slot, path] of pending) {
    const hash = await ctx.hasher.hash(path, ctx.scope, ctx.rule);
    resolved.set(slot, hash === undefined ? path : { file: path, hash });
  }
  return substitute(json, resolved);
}

/**
 * Encode a value without reading any file: strings stay strings. For values that are part of
 * code identity (a module constant naming a file is a name, not that file's content).
 */
export function encodePlainValue(value: unknown, where: string, stage: string): Json {
  return encode(value, where, stage, new Set(), undefined);
}

/** Put each resolved placeholder in its place. */
function substitute(json: Json, resolved: Map<object, Json>): Json {
  if (typeof json !== "object" || json === null) return json;
  const found = resolved.get(json);
  if (found !== undefined) return found;
  if (Array.isArray(json)) {
    for (let i = 0; i < json.length; i++) json[i] = substitute(json[i] as Json, resolved);
  } else {
    for (const [key, item] of Object.entries(json)) setOwn(json, key, substitute(item, resolved));
  }
  return json;
}

/**
 * `pending` collects strings that may name files, each as a placeholder object in the result
 * (replaced once hashed); without it, strings stay strings.
 */
function encode(
  value: unknown,
  where: string,
  stage: string,
  ancestors: Set<object>,
  pending: Map<object, string> | undefined,
): Json {
  switch (typeof value) {
    case "string": {
      if (
        pending !== undefined &&
        value.length > 0 &&
        value.length <= MAX_PATH_LENGTH &&
        !value.includes("\0")
      ) {
        const slot = { file: value };
        pending.set(slot, value);
        return slot as unknown as Json;
      }
      return value;
    }
    case "boolean":
      return value;
    case "number":
      if (Number.isNaN(value)) return { [TAG]: "number", value: "NaN" };
      if (value === Infinity) return { [TAG]: "number", value: "Infinity" };
      if (value === -Infinity) return { [TAG]: "number", value: "-Infinity" };
      if (Object.is(value, -0)) return { [TAG]: "number", value: "-0" };
      return value;
    case "undefined":
      return { [TAG]: "undefined" };
    case "bigint":
      return { [TAG]: "bigint", value: value.toString() };
    case "function":
      return reject(
        stage,
        where,
        describe(value),
        "Pass data, not code; mark helpers with hashable().",
      );
    case "symbol":
      return reject(stage, where, describe(value), "Use a string instead.");
    default:
      break;
  }
  if (value === null) return null;
  const object = value as object;
  if (ancestors.has(object)) {
    return reject(
      stage,
      where,
      "a circular reference",
      "Break the cycle before returning the value.",
    );
  }
  ancestors.add(object);
  try {
    // A subclass (of Array, Date, Map, Set) would come back as its base class, and extra
    // properties (on an array, say) would be lost: neither round-trips, so neither is stored.
    const kind = builtInKind(object);
    if (kind === "subclass") {
      const proto = Object.getPrototypeOf(object) as { constructor?: { name?: string } };
      const name = proto.constructor?.name || "a subclass of a built-in";
      return reject(stage, where, `an instance of ${name}`, FILE_ADVICE);
    }
    const own =
      kind === "plain" ? [] : Object.keys(object).filter((k) => kind !== "array" || !isIndex(k));
    if (own.length > 0) {
      const what = kind === "array" ? "an array" : `a ${kind}`;
      return reject(
        stage,
        where,
        `${what} with properties of its own (${own.slice(0, 3).join(", ")})`,
        "Return them as a plain object instead.",
      );
    }
    if (Array.isArray(object)) {
      const out: Json[] = [];
      for (let i = 0; i < object.length; i++) {
        if (!(i in object)) {
          return reject(
            stage,
            child(where, i),
            "a hole in a sparse array",
            "Fill it, e.g. with null.",
          );
        }
        out.push(encode(object[i], child(where, i), stage, ancestors, pending));
      }
      return out;
    }
    if (object instanceof Date) {
      const time = object.getTime();
      return { [TAG]: "date", value: Number.isNaN(time) ? null : object.toISOString() };
    }
    if (object instanceof Map) {
      const entries: Json[] = [];
      let i = 0;
      for (const [k, v] of object) {
        const at = `${where}<map entry ${i++}>`;
        entries.push([
          encode(k, `${at}.key`, stage, ancestors, pending),
          encode(v, at, stage, ancestors, pending),
        ]);
      }
      return { [TAG]: "map", entries };
    }
    if (object instanceof Set) {
      const values: Json[] = [];
      let i = 0;
      for (const v of object)
        values.push(encode(v, `${where}<set value ${i++}>`, stage, ancestors, pending));
      return { [TAG]: "set", values };
    }
    const proto = Object.getPrototypeOf(object) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      const advice = ArrayBuffer.isView(object)
        ? "Write binary data to a file and pass its path (memori then verifies it by hash)."
        : FILE_ADVICE;
      return reject(stage, where, describe(object), advice);
    }
    if (Object.getOwnPropertySymbols(object).length > 0) {
      return reject(stage, where, "an object with symbol keys", "Use string keys.");
    }
    const keys = Object.keys(object);
    const out: { [key: string]: Json } = {};
    for (const key of keys) {
      const item = (object as Record<string, unknown>)[key];
      setOwn(out, key, encode(item, child(where, key), stage, ancestors, pending));
    }
    if (proto === null) return { [TAG]: "object", prototype: null, value: out };
    return looksReserved(keys) ? { [TAG]: "object", value: out } : out;
  } finally {
    ancestors.delete(object);
  }
}

/** Which built-in a value is exactly: array, Date, Map, Set, a subclass of one, or other. */
function builtInKind(object: object): "array" | "Date" | "Map" | "Set" | "subclass" | "plain" {
  const proto = Object.getPrototypeOf(object) as unknown;
  const exact: [unknown, "array" | "Date" | "Map" | "Set"][] = [
    [Array.prototype, "array"],
    [Date.prototype, "Date"],
    [Map.prototype, "Map"],
    [Set.prototype, "Set"],
  ];
  for (const [prototype, kind] of exact) if (proto === prototype) return kind;
  const isBuiltIn =
    Array.isArray(object) ||
    object instanceof Date ||
    object instanceof Map ||
    object instanceof Set;
  return isBuiltIn ? "subclass" : "plain";
}

/** Whether a key is an array index. */
function isIndex(key: string): boolean {
  return /^(0|[1-9]\d*)$/.test(key);
}

function decodeEntries(record: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(record)) setOwn(out, key, decodeValue(record[key]));
  return out;
}

/** Thrown by {@link decodeValue} for stored JSON that memori did not write. */
export class MalformedStateError extends Error {
  override readonly name = "MalformedStateError";
}

/**
 * Decode a stored value back into what the stage returned. Throws
 * {@link MalformedStateError} for anything memori would not have written.
 */
export function decodeValue(json: unknown): unknown {
  if (json === null || typeof json === "string" || typeof json === "boolean") return json;
  if (typeof json === "number") {
    if (!Number.isFinite(json)) throw new MalformedStateError("non-finite number");
    return json;
  }
  if (Array.isArray(json)) return json.map(decodeValue);
  if (typeof json !== "object") throw new MalformedStateError(`unexpected ${typeof json}`);
  const record = json as Record<string, unknown>;
  if (isFileEntry(record)) return record.file;
  if (!(TAG in record)) return decodeEntries(record);
  const tag = record[TAG];
  switch (tag) {
    case "undefined":
      return undefined;
    case "number": {
      const numbers: Record<string, number> = {
        NaN: NaN,
        Infinity: Infinity,
        "-Infinity": -Infinity,
        "-0": -0,
      };
      const v = record.value;
      // own keys only: `"__proto__"` or `"constructor"` must not reach Object's own properties
      if (typeof v !== "string" || !Object.hasOwn(numbers, v)) {
        throw new MalformedStateError("bad number tag");
      }
      return numbers[v];
    }
    case "bigint":
      if (typeof record.value !== "string" || !/^-?\d+$/.test(record.value)) {
        throw new MalformedStateError("bad bigint tag");
      }
      return BigInt(record.value);
    case "date":
      if (record.value === null) return new Date(NaN);
      if (typeof record.value !== "string") throw new MalformedStateError("bad date tag");
      {
        // memori writes toISOString(): anything else was not written by it
        const date = new Date(record.value);
        if (Number.isNaN(date.getTime()) || date.toISOString() !== record.value) {
          throw new MalformedStateError("bad date tag");
        }
        return date;
      }
    case "map":
      if (!Array.isArray(record.entries)) throw new MalformedStateError("bad map tag");
      return new Map(
        record.entries.map((entry: unknown) => {
          if (!Array.isArray(entry) || entry.length !== 2)
            throw new MalformedStateError("bad map entry");
          return [decodeValue(entry[0]), decodeValue(entry[1])] as const;
        }),
      );
    case "set":
      if (!Array.isArray(record.values)) throw new MalformedStateError("bad set tag");
      return new Set(record.values.map(decodeValue));
    case "object": {
      const inner = record.value;
      if (typeof inner !== "object" || inner === null || Array.isArray(inner)) {
        throw new MalformedStateError("bad object tag");
      }
      // The entries are a plain object, never a file entry or a tag.
      const decoded = decodeEntries(inner as Record<string, unknown>);
      if ("prototype" in record) {
        if (record.prototype !== null) throw new MalformedStateError("bad object prototype");
        return Object.assign(Object.create(null) as object, decoded);
      }
      return decoded;
    }
    default:
      throw new MalformedStateError(`unknown tag ${JSON.stringify(tag)}`);
  }
}
