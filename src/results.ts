/**
 * File-backed results (the custom-result pattern): a large result is written to a file in its
 * native form and the stage returns the file's path, so the state keeps a slim
 * `{"file", "hash"}` entry and memori verifies the data by hash every time the cached result is
 * used (a tampered or missing data file re-runs the stage). `loadResult` reads it back.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { MemoriError, describe } from "./errors.js";
import { writeFileAtomic } from "./state/atomic.js";
import { mkdir } from "node:fs/promises";

/** Data {@link saveResult} can write; the file's extension says which form. */
export type ResultData =
  | string
  | Uint8Array
  | ArrayBufferView
  | readonly (readonly (string | number | boolean | null)[])[]
  | unknown;

const TYPED: Record<string, new (buffer: ArrayBuffer) => ArrayBufferView> = {
  ".i8": Int8Array,
  ".u8": Uint8Array,
  ".i16": Int16Array,
  ".u16": Uint16Array,
  ".i32": Int32Array,
  ".u32": Uint32Array,
  ".f32": Float32Array,
  ".f64": Float64Array,
  ".i64": BigInt64Array,
  ".u64": BigUint64Array,
};

function csvField(value: unknown): string {
  const text = value === null || value === undefined ? "" : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if (field !== "" || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/**
 * Write a result to `file` (atomically, creating its directory) and return the path, for the
 * stage to return. The extension chooses the form: `.json` (any JSON value), `.csv` (rows of
 * fields), `.txt` (a string), `.bin` (bytes), or a typed array's raw little-endian values:
 * `.f32`, `.f64`, `.i8`, `.u8`, `.i16`, `.u16`, `.i32`, `.u32`, `.i64`, `.u64`.
 *
 * @example
 * ```ts
 * const stage = new Stage(async function histogram(volume: string, outDir: string) {
 *   const counts = new Float64Array(256); // ... fill it
 *   return saveResult(path.join(outDir, "histogram.f64"), counts);
 * }, { hashOutput: ".memori" });
 * const counts = await loadResult((await stage.run(t1, "out")).output); // Float64Array
 * ```
 */
export async function saveResult(file: string, data: ResultData): Promise<string> {
  const ext = path.extname(file).toLowerCase();
  let bytes: string | Uint8Array;
  if (ext === ".json") {
    const text = JSON.stringify(data, null, 1);
    if (text === undefined) throw badData(file, data, "a JSON value");
    bytes = text + "\n";
  } else if (ext === ".csv") {
    if (!Array.isArray(data) || !data.every((row) => Array.isArray(row)))
      throw badData(file, data, "an array of rows");
    bytes = (data as unknown[][]).map((row) => row.map(csvField).join(",")).join("\n") + "\n";
  } else if (ext === ".txt") {
    if (typeof data !== "string") throw badData(file, data, "a string");
    bytes = data;
  } else if (ext === ".bin") {
    if (!(data instanceof Uint8Array)) throw badData(file, data, "a Uint8Array or Buffer");
    bytes = data;
  } else if (ext in TYPED) {
    const type = TYPED[ext]!;
    if (!(data instanceof (type as unknown as typeof Uint8Array)))
      throw badData(file, data, `a ${type.name}`);
    const view = data as ArrayBufferView;
    bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  } else {
    throw new MemoriError(
      "invalid-argument",
      `saveResult: ${file} has an unknown extension "${ext}"; use .json, .csv, .txt, .bin or a typed-array extension (${Object.keys(TYPED).join(", ")}).`,
    );
  }
  await mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, bytes);
  return file;
}

function badData(file: string, data: unknown, expected: string): MemoriError {
  return new MemoriError(
    "invalid-argument",
    `saveResult: ${file} takes ${expected}, got ${describe(data)}.`,
  );
}

/**
 * Read back a file written by {@link saveResult}: a JSON value, CSV rows (strings), a string,
 * a Buffer, or the typed array its extension names.
 */
export async function loadResult(file: string): Promise<unknown> {
  const ext = path.extname(file).toLowerCase();
  const bytes = await readFile(file);
  if (ext === ".json") return JSON.parse(bytes.toString("utf8")) as unknown;
  if (ext === ".csv") return parseCsv(bytes.toString("utf8"));
  if (ext === ".txt") return bytes.toString("utf8");
  if (ext === ".bin") return bytes;
  const type = TYPED[ext];
  if (type === undefined) {
    throw new MemoriError(
      "invalid-argument",
      `loadResult: ${file} has an unknown extension "${ext}".`,
    );
  }
  const copy = bytes.buffer.slice(
    bytes.byteOffset,
    bytes.byteOffset + bytes.byteLength,
  ) as ArrayBuffer;
  return new type(copy);
}
