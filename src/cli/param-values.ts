/**
 * The values of a run's parameters and where each came from: the module's defaults, then a
 * JSON config file (`--config`), then the command line (`--param NAME=VALUE`), each later one
 * overriding (pydidas' precedence: presets in a file, changed per call on the command line).
 * Every value is checked against its declaration; every problem is collected, so one run of
 * `memori run` names all of them, each with where the bad value came from.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe } from "../errors.js";
import {
  checkParamValue,
  parseParamValue,
  showParamValue,
  type Checked,
  type ParamSpec,
  type ParamSpecs,
} from "../params.js";
import { jsonErrorOffset, lineColumn } from "./json-position.js";
import type { ParamArg } from "./run-args.js";

/** Where a parameter's value came from. */
export type ParamSource =
  { kind: "default" } | { kind: "config"; file: string } | { kind: "command-line" };

/** A parameter's value for this run. */
export interface ParamValue {
  readonly name: string;
  readonly value: unknown;
  readonly from: ParamSource;
}

/** What is wrong with the parameters given (each message says where). */
export interface ParamFailure {
  readonly reason:
    | "unknown-parameter"
    | "invalid-value"
    | "missing-value"
    | "unreadable-config"
    | "invalid-config";
  readonly message: string;
}

/** Where a run's values come from. */
export interface ParamInputs {
  /** The module's path: relative path defaults are relative to its directory. */
  readonly module: string;
  /** The config file, as given (relative to the working directory). */
  readonly config: string | undefined;
  readonly params: readonly ParamArg[];
}

export type Resolved = { ok: true; values: ParamValue[] } | { ok: false; failures: ParamFailure[] };

function known(specs: ParamSpecs): string {
  const names = Object.keys(specs);
  return names.length === 0 ? "the pipeline declares none" : `known: ${names.join(", ")}`;
}

/** The config file's object, or why there is none. */
function readConfig(
  file: string,
): { ok: true; values: object } | { ok: false; failure: ParamFailure } {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    const message = `config ${file}: cannot read it: ${(error as Error).message}`;
    return { ok: false, failure: { reason: "unreadable-config", message } };
  }
  let values: unknown;
  try {
    values = JSON.parse(text);
  } catch (error) {
    const offset = jsonErrorOffset(text);
    const { line, column } = lineColumn(text, offset === -1 ? text.length : offset);
    const why = (error as Error).message.replace(/\s*\n\s*/g, " ");
    const message = `config ${file}: not valid JSON at line ${line}, column ${column} (${why})`;
    return { ok: false, failure: { reason: "invalid-config", message } };
  }
  if (typeof values !== "object" || values === null || Array.isArray(values)) {
    const message = `config ${file}: expected a JSON object of parameter values ({"name": value, ...}), got ${describe(values)}`;
    return { ok: false, failure: { reason: "invalid-config", message } };
  }
  return { ok: true, values };
}

/** A value given for a parameter, not yet checked. */
interface Given {
  readonly check: () => Checked;
  readonly from: ParamSource;
  /** Names the value in a message: `--param fwhm=abc`. */
  readonly where: string;
}

/**
 * Each declared parameter's value, defaults < config file < command line, or every problem:
 * a name nothing declares, a value of the wrong type, a required parameter nobody gave, a
 * config file that cannot be read or is not a JSON object. Only the value that wins is
 * checked: a default path that does not exist is no problem when the command line gives
 * another.
 */
export function resolveParams(specs: ParamSpecs, inputs: ParamInputs): Resolved {
  const failures: ParamFailure[] = [];
  const given = new Map<string, Given>();
  const specOf = (name: string): ParamSpec | undefined =>
    Object.hasOwn(specs, name) ? specs[name] : undefined;
  const unknown = (name: string, where: string) =>
    failures.push({
      reason: "unknown-parameter",
      message: `${where}: no parameter \`${name}\` (${known(specs)})`,
    });
  const moduleDir = path.dirname(path.resolve(inputs.module));
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.default === undefined) continue;
    given.set(name, {
      check: () => checkParamValue(spec, spec.default, moduleDir),
      from: { kind: "default" },
      where: `the default of \`${name}\` in ${inputs.module}`,
    });
  }
  if (inputs.config !== undefined) {
    const config = readConfig(inputs.config);
    if (!config.ok) failures.push(config.failure);
    else {
      const base = path.dirname(path.resolve(inputs.config));
      const from = { kind: "config", file: inputs.config } as const;
      for (const [name, value] of Object.entries(config.values)) {
        const where = `config ${inputs.config}, "${name}"`;
        const spec = specOf(name);
        if (spec === undefined) unknown(name, where);
        else given.set(name, { check: () => checkParamValue(spec, value, base), from, where });
      }
    }
  }
  const cwd = process.cwd();
  for (const { name, text } of inputs.params) {
    const where = `--param ${name}=${text}`;
    const spec = specOf(name);
    if (spec === undefined) unknown(name, where);
    else {
      const check = () => parseParamValue(spec, text, cwd);
      given.set(name, { check, from: { kind: "command-line" }, where });
    }
  }
  const values: ParamValue[] = [];
  for (const name of Object.keys(specs)) {
    const winner = given.get(name);
    if (winner === undefined) {
      failures.push({
        reason: "missing-value",
        message: `parameter \`${name}\` has no default and is not given: give it with --param ${name}=VALUE or in a --config file`,
      });
      continue;
    }
    const checked = winner.check();
    if (checked.ok) values.push({ name, value: checked.value, from: winner.from });
    else failures.push({ reason: "invalid-value", message: `${winner.where}: ${checked.problem}` });
  }
  return failures.length > 0 ? { ok: false, failures } : { ok: true, values };
}

/** Where a value came from, in the parameter table: `default`, `config FILE`, `--param`. */
export function sourceText(from: ParamSource): string {
  switch (from.kind) {
    case "default":
      return "default";
    case "config":
      return `config ${from.file}`;
    case "command-line":
      return "--param";
  }
}

/** The rows of the parameter table: name, value, where it came from. */
export function paramRows(values: readonly ParamValue[]): string[][] {
  return [
    ["PARAMETER", "VALUE", "FROM"],
    ...values.map((v) => [v.name, showParamValue(v.value), sourceText(v.from)]),
  ];
}
