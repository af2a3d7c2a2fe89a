/**
 * Parameters of a runnable pipeline module (`memori run`): how one is declared (type, default,
 * help), how a declaration is checked, and how one value is checked or read from the command
 * line's text. Where a run's values come from (defaults < a config file < `--param`) is
 * src/cli/param-values.ts; the module that declares them is src/pipeline-module.ts.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { MemoriError, describe } from "./errors.js";

/** What a parameter declaration has whatever its type. */
interface Declared<T> {
  /**
   * Its value when neither a config file nor the command line gives one. Without a default,
   * the parameter is required: a run that does not give it is an error.
   */
  readonly default?: T;
  /** One line for `memori run MODULE --help`. */
  readonly help?: string;
}

/** Text. */
export interface StringParam extends Declared<string> {
  /** A string parameter. */
  readonly type: "string";
  /** The only values allowed, if any (`["fast", "accurate"]`). */
  readonly choices?: readonly string[];
}

/** A finite number (`--param fwhm=6`). */
export interface NumberParam extends Declared<number> {
  /** A number parameter. */
  readonly type: "number";
}

/** `true` or `false` (`--param qc=yes`: also yes/no, on/off, 1/0). */
export interface BooleanParam extends Declared<boolean> {
  /** A boolean parameter. */
  readonly type: "boolean";
}

/**
 * A file or directory. Its value is made absolute: a default relative to the module's
 * directory, a config file's value relative to the config file's, a command line's relative to
 * the working directory.
 */
export interface PathParam extends Declared<string> {
  /** A path parameter. */
  readonly type: "path";
  /** The path must exist when the run starts. @default false */
  readonly mustExist?: boolean;
}

/**
 * A list: on the command line comma-separated (`--param subjects=sub-01,sub-02`, empty: the
 * empty list) or a JSON array (`'--param subjects=["a,b", "c"]'`); in a config file a JSON
 * array.
 */
export interface ListParam extends Declared<readonly string[] | readonly number[]> {
  /** A list parameter. */
  readonly type: "list";
  /** What the items are: paths are made absolute like a `path` parameter. @default "string" */
  readonly items?: "string" | "number" | "path";
}

/** A parameter's declaration. */
export type ParamSpec = StringParam | NumberParam | BooleanParam | PathParam | ListParam;

/** A pipeline's parameters, by name. */
export type ParamSpecs = Readonly<Record<string, ParamSpec>>;

/** The value a declaration gives its stages: `fwhm: { type: "number" }` gives a `number`. */
export type ParamValue<S extends ParamSpec> = S extends { type: "number" }
  ? number
  : S extends { type: "boolean" }
    ? boolean
    : S extends { type: "list"; items: "number" }
      ? number[]
      : S extends { type: "list" }
        ? string[]
        : S extends { type: "string"; choices: readonly (infer C extends string)[] }
          ? C
          : string;

/** The values of a pipeline's parameters, by name. */
export type ParamValues<P extends ParamSpecs> = { -readonly [K in keyof P]: ParamValue<P[K]> };

/** A value checked against its declaration, or what is wrong with it. */
export type Checked = { ok: true; value: unknown } | { ok: false; problem: string };

const TYPES = ["string", "number", "boolean", "path", "list"];
const KEYS: Record<ParamSpec["type"], readonly string[]> = {
  string: ["type", "default", "help", "choices"],
  number: ["type", "default", "help"],
  boolean: ["type", "default", "help"],
  path: ["type", "default", "help", "mustExist"],
  list: ["type", "default", "help", "items"],
};
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function invalid(name: string, message: string): never {
  throw new MemoriError("invalid-option", `parameter \`${name}\`: ${message}`);
}

/**
 * Check parameter declarations (at `definePipeline`): names are identifiers (they are also
 * the names stages fed by `"start"` receive them by), each has a known type, only the keys of
 * its type, and a default of that type. Throws `invalid-option`, naming the parameter.
 */
export function checkParamSpecs(params: unknown): asserts params is ParamSpecs {
  if (typeof params !== "object" || params === null || Array.isArray(params)) {
    throw new MemoriError(
      "invalid-option",
      `expected \`params\` to be an object of parameter declarations, got ${describe(params)}.`,
    );
  }
  for (const [name, spec] of Object.entries(params)) {
    if (!NAME.test(name)) {
      invalid(name, "a parameter name is an identifier (letters, digits, _; not first a digit).");
    }
    if (typeof spec !== "object" || spec === null || Array.isArray(spec)) {
      invalid(
        name,
        `expected a declaration such as { type: "number", default: 6 }, got ${describe(spec)}.`,
      );
    }
    const { type } = spec as { type?: unknown };
    if (typeof type !== "string" || !TYPES.includes(type)) {
      invalid(name, `expected \`type\` to be one of ${TYPES.join(", ")}, got ${describe(type)}.`);
    }
    const s = spec as ParamSpec;
    for (const key of Object.keys(s)) {
      if (!KEYS[s.type].includes(key)) {
        invalid(
          name,
          `unknown key \`${key}\` for a ${s.type}; the keys are ${KEYS[s.type].join(", ")}.`,
        );
      }
    }
    if (s.help !== undefined && typeof s.help !== "string") {
      invalid(name, `expected \`help\` to be a string, got ${describe(s.help)}.`);
    }
    if (s.type === "string" && s.choices !== undefined) {
      const { choices } = s;
      if (
        !Array.isArray(choices) ||
        choices.length === 0 ||
        !choices.every((c) => typeof c === "string")
      ) {
        invalid(
          name,
          `expected \`choices\` to be a non-empty array of strings, got ${describe(choices)}.`,
        );
      }
    }
    if (s.type === "path" && s.mustExist !== undefined && typeof s.mustExist !== "boolean") {
      invalid(name, `expected \`mustExist\` to be a boolean, got ${describe(s.mustExist)}.`);
    }
    if (
      s.type === "list" &&
      s.items !== undefined &&
      !["string", "number", "path"].includes(s.items)
    ) {
      invalid(
        name,
        `expected \`items\` to be "string", "number" or "path", got ${describe(s.items)}.`,
      );
    }
    if (s.default !== undefined) {
      // Only the type: a path default is resolved (and checked to exist) when a run starts.
      const checked = checkParamValue({ ...s, mustExist: false } as ParamSpec, s.default, "/");
      if (!checked.ok) invalid(name, `its \`default\`: ${checked.problem}`);
    }
  }
}

function typeName(spec: ParamSpec): string {
  if (spec.type !== "list") return spec.type === "number" ? "a number" : `a ${spec.type}`;
  return `a list of ${spec.items ?? "string"}s`;
}

function checkPath(value: string, base: string, mustExist: boolean): Checked {
  if (value === "") return { ok: false, problem: "expected a path, got an empty string" };
  if (value.includes("\0")) return { ok: false, problem: "a path cannot contain NUL" };
  const absolute = path.resolve(base, value);
  if (mustExist && !existsSync(absolute)) {
    return { ok: false, problem: `${absolute}: no such file or directory` };
  }
  return { ok: true, value: absolute };
}

/**
 * Check a value (a default, or a config file's JSON value) against its declaration: the value
 * to use (a path made absolute against `base`), or what is wrong with it.
 */
export function checkParamValue(spec: ParamSpec, value: unknown, base: string): Checked {
  const wrong: Checked = {
    ok: false,
    problem: `expected ${typeName(spec)}, got ${describe(value)}`,
  };
  switch (spec.type) {
    case "string":
      if (typeof value !== "string") return wrong;
      if (spec.choices !== undefined && !spec.choices.includes(value)) {
        return {
          ok: false,
          problem: `expected one of ${spec.choices.map((c) => JSON.stringify(c)).join(", ")}, got ${JSON.stringify(value)}`,
        };
      }
      return { ok: true, value };
    case "number":
      return typeof value === "number" && Number.isFinite(value) ? { ok: true, value } : wrong;
    case "boolean":
      return typeof value === "boolean" ? { ok: true, value } : wrong;
    case "path":
      return typeof value === "string" ? checkPath(value, base, spec.mustExist === true) : wrong;
    case "list": {
      if (!Array.isArray(value)) return wrong;
      const items = spec.items ?? "string";
      const out: unknown[] = [];
      for (const [i, item] of value.entries()) {
        const expected = items === "number" ? "number" : "string";
        if (typeof item !== expected || (items === "number" && !Number.isFinite(item))) {
          return { ok: false, problem: `item ${i}: expected a ${items}, got ${describe(item)}` };
        }
        if (items !== "path") {
          out.push(item);
          continue;
        }
        const checked = checkPath(item as string, base, false);
        if (!checked.ok) return { ok: false, problem: `item ${i}: ${checked.problem}` };
        out.push(checked.value);
      }
      return { ok: true, value: out };
    }
  }
}

const TRUE = ["true", "yes", "on", "1"];
const FALSE = ["false", "no", "off", "0"];

/** Read a value from the command line's text (`--param name=text`), then check it. */
export function parseParamValue(spec: ParamSpec, text: string, base: string): Checked {
  switch (spec.type) {
    case "number": {
      const n = Number(text);
      if (text.trim() === "" || !Number.isFinite(n)) {
        return { ok: false, problem: `expected a number, got ${JSON.stringify(text)}` };
      }
      return { ok: true, value: n };
    }
    case "boolean": {
      const word = text.trim().toLowerCase();
      if (TRUE.includes(word)) return { ok: true, value: true };
      if (FALSE.includes(word)) return { ok: true, value: false };
      return {
        ok: false,
        problem: `expected true or false (or yes/no, on/off, 1/0), got ${JSON.stringify(text)}`,
      };
    }
    case "list": {
      let items: unknown;
      if (text.trimStart().startsWith("[")) {
        try {
          items = JSON.parse(text);
        } catch (error) {
          return { ok: false, problem: `not a JSON array: ${(error as Error).message}` };
        }
      } else {
        const words = text.trim() === "" ? [] : text.split(",").map((w) => w.trim());
        if (spec.items !== "number") items = words;
        else {
          items = words.map((w) => (w === "" ? NaN : Number(w)));
          const bad = words.find((w) => w === "" || !Number.isFinite(Number(w)));
          if (bad !== undefined) {
            return { ok: false, problem: `expected numbers, got ${JSON.stringify(bad)}` };
          }
        }
      }
      return checkParamValue(spec, items, base);
    }
    default:
      return checkParamValue(spec, text, base);
  }
}

/** A value as the parameter table shows it: a list comma-separated (shortened when long). */
export function showParamValue(value: unknown, width = 60): string {
  const text = Array.isArray(value)
    ? value.length === 0
      ? "(empty list)"
      : value.map(String).join(",")
    : String(value);
  if (text.length <= width) return text;
  const count = Array.isArray(value) ? ` (${value.length} items)` : "";
  return `${text.slice(0, width - 1 - count.length)}…${count}`;
}
