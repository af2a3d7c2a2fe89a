/**
 * Reading a run record: its checks, field by field, and what is wrong and where
 * (`runs/x.json: tasks[2].decision: expected one of ...`). The format is run-record.ts's.
 */
import { RUN_RECORD_FORMAT, TASK_DECISIONS, type RunRecord } from "./run-record.js";

/** What is wrong with a record, and where. */
export interface RecordProblem {
  /** The file (or `<text>`). */
  file: string;
  /** Where in it, as a path: `tasks[3].decision`; `""` for the whole. */
  at: string;
  /** What is wrong. */
  message: string;
}

/** A record read, or why not. */
export type RecordResult =
  | {
      /** The record checks. */
      ok: true;
      /** The record. */
      record: RunRecord;
    }
  | {
      /** The record does not check. */
      ok: false;
      /** What is wrong, and where. */
      problem: RecordProblem;
    };

/** One line: `runs/x.json: tasks[3].decision: expected one of ..., got "done"`. */
export function describeProblem(problem: RecordProblem): string {
  return `${problem.file}: ${problem.at === "" ? "" : `${problem.at}: `}${problem.message}`;
}

class Invalid {
  constructor(
    readonly at: string,
    readonly message: string,
  ) {}
}

function shown(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

type Check = (value: unknown, at: string) => void;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function need(ok: boolean, at: string, expected: string, value: unknown): void {
  if (!ok) throw new Invalid(at, `expected ${expected}, got ${shown(value)}`);
}

const number: Check = (v, at) =>
  need(typeof v === "number" && Number.isFinite(v), at, "a number", v);
const count: Check = (v, at) =>
  need(Number.isInteger(v) && (v as number) >= 0, at, "a whole number >= 0", v);
const string: Check = (v, at) => need(typeof v === "string", at, "a string", v);
const boolean: Check = (v, at) => need(typeof v === "boolean", at, "a boolean", v);
const oneOf =
  (values: readonly string[]): Check =>
  (v, at) =>
    need(
      values.includes(v as string),
      at,
      `one of ${values.map((x) => JSON.stringify(x)).join(", ")}`,
      v,
    );
const arrayOf =
  (item: Check): Check =>
  (v, at) => {
    need(Array.isArray(v), at, "an array", v);
    (v as unknown[]).forEach((x, i) => item(x, `${at}[${i}]`));
  };
const stringOrStrings: Check = (v, at) =>
  typeof v === "string" ? undefined : arrayOf(string)(v, at);

/** An object with these fields; `?` after a name marks an optional one. Others are allowed. */
const fields =
  (spec: Record<string, Check>): Check =>
  (v, at) => {
    need(isObject(v), at, "an object", v);
    const object = v as Record<string, unknown>;
    for (const [key, check] of Object.entries(spec)) {
      const optional = key.endsWith("?");
      const name = optional ? key.slice(0, -1) : key;
      const where = at === "" ? name : `${at}.${name}`;
      if (object[name] === undefined) {
        if (!optional) throw new Invalid(where, "missing");
        continue;
      }
      check(object[name], where);
    }
  };

const reason: Check = (v, at) => {
  need(isObject(v) && typeof v.kind === "string", at, "a reason (an object with a kind)", v);
};

const usage = fields({
  userMs: number,
  sysMs: number,
  peakRss: number,
  "peakVmem?": number,
  rchar: number,
  wchar: number,
  "readBytes?": number,
  "writeBytes?": number,
  samples: count,
});

const task = fields({
  id: count,
  stage: string,
  node: string,
  "element?": string,
  decision: oneOf(TASK_DECISIONS),
  "reason?": reason,
  "attempt?": count,
  "start?": number,
  "end?": number,
  "ms?": number,
  "run?": number,
  "exit?": number,
  "processes?": arrayOf(
    fields({
      command: stringOrStrings,
      "pid?": count,
      start: number,
      end: number,
      "exitCode?": number,
      "signal?": string,
      "usage?": usage,
    }),
  ),
  "usage?": usage,
  "error?": fields({
    message: string,
    "reason?": string,
    "stderrTail?": string,
    "frames?": arrayOf(string),
  }),
  "failedAttempts?": arrayOf(fields({ attempt: count, end: number, ms: number, error: string })),
});

/** The fields a record has before its graph and tasks (as memori writes it). */
const headerFields: Record<string, Check> = {
  format: count,
  id: string,
  start: number,
  end: number,
  ms: number,
  outcome: oneOf(["ok", "failed", "interrupted"]),
  counts: fields(Object.fromEntries(TASK_DECISIONS.map((d) => [d, count]))),
  command: fields({
    via: oneOf(["api", "run", "memori"]),
    argv: arrayOf(string),
    "module?": string,
    "params?": arrayOf(fields({ name: string, value: string, from: string })),
  }),
  host: string,
  pid: count,
  cwd: string,
  memori: string,
  node: string,
  "cpuMs?": number,
  "error?": string,
};

const header = fields(headerFields);

const record = fields({
  ...headerFields,
  graph: fields({
    nodes: arrayOf(
      fields({
        id: string,
        name: string,
        mapped: boolean,
        state: oneOf(["ran", "cached", "failed", "blocked", "cancelled", "excluded", "unknown"]),
        "hashOutput?": string,
      }),
    ),
    edges: arrayOf(fields({ from: string, to: string, label: string })),
  }),
  tasks: arrayOf(task),
});

/**
 * Check a parsed record: a {@link RunRecord}, or what is wrong and where. A record of another
 * format is refused (its fields may mean other things).
 */
export function checkRunRecord(value: unknown, file = "<record>"): RecordResult {
  const problem = problemOf(record, value, file);
  return problem === undefined ? { ok: true, record: value as RunRecord } : { ok: false, problem };
}

/** What is wrong with `value` by `check` (a record of another format first), if anything. */
function problemOf(check: Check, value: unknown, file: string): RecordProblem | undefined {
  if (isObject(value) && value.format !== RUN_RECORD_FORMAT && typeof value.format === "number") {
    return {
      file,
      at: "format",
      message: `format ${value.format}, this memori reads format ${RUN_RECORD_FORMAT}`,
    };
  }
  try {
    check(value, "");
    return undefined;
  } catch (error) {
    if (!(error instanceof Invalid)) throw error;
    return { file, at: error.at, message: error.message };
  }
}

/** A run record's fields but its graph and tasks: what a list of runs shows. */
export type RunHeader = Omit<RunRecord, "graph" | "tasks">;

/** A header read, or why not. */
export type HeaderResult = { ok: true; header: RunHeader } | { ok: false; problem: RecordProblem };

/** Where a record's graph begins: the first key of its text that no string can hold. */
const GRAPH_KEY = ',"graph":';

/**
 * The header of a record from the beginning of its text (`head`, as much as was read): the
 * fields before its graph, checked, without reading or parsing the rest (a record of 10,000
 * calls is 2.6 MB). `undefined` when `head` does not reach the graph (read the whole record
 * then, {@link parseRunRecord}). Inside a JSON string a quote is escaped, so the first
 * `,"graph":` of the text is the key.
 */
export function parseRunHeader(head: string, file = "<text>"): HeaderResult | undefined {
  const at = head.indexOf(GRAPH_KEY);
  if (at < 0) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(`${head.slice(0, at)}}`);
  } catch {
    return undefined; // not a record as memori writes it: the whole one says what is wrong
  }
  const problem = problemOf(header, value, file);
  return problem === undefined ? { ok: true, header: value as RunHeader } : { ok: false, problem };
}

/** Parse and check a record's text (see {@link checkRunRecord}). */
export function parseRunRecord(text: string, file = "<text>"): RecordResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return {
      ok: false,
      problem: { file, at: "", message: `not JSON (${(error as Error).message})` },
    };
  }
  return checkRunRecord(value, file);
}
