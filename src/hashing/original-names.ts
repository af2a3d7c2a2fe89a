/**
 * Parameter names as the author wrote them, when a compiler renamed them. esbuild (tsx,
 * vitest) renames a parameter that shadows a top-level name (`outDir` becomes `outDir2`), so
 * arguments named `outDir` would match nothing. Where the running code has a source map
 * (tsx and vitest enable them), each parameter's position in the running script maps back to
 * the name in the original source.
 */
import { findSourceMap } from "node:module";
import { releaseScopes, scopesOf } from "./scopes.js";
import type { Parameter, ParsedSource } from "./source.js";

// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type -- any function or class
type AnyFunction = Function;

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** The line and column (0-based) of `offset` in `text`, given where `start` is. */
function place(
  text: string,
  start: number,
  at: { line: number; column: number },
  offset: number,
): { line: number; column: number } {
  const between = text.slice(start, offset);
  const breaks = between.split("\n").length - 1;
  if (breaks === 0) return { line: at.line, column: at.column + (offset - start) };
  return { line: at.line + breaks, column: offset - (text.lastIndexOf("\n", offset - 1) + 1) };
}

/** `parsed` with its positional parameters named as in the original source, if renamed. */
export function withOriginalNames(fn: AnyFunction, parsed: ParsedSource): ParsedSource {
  const enabled = (process as { sourceMapsEnabled?: boolean }).sourceMapsEnabled ?? false;
  const { start } = parsed;
  if (!enabled || start === undefined || parsed.mode !== "positional") return parsed;
  if (!parsed.parameters.some((p) => p.at !== undefined)) return parsed;
  let scopes;
  try {
    scopes = scopesOf(fn);
  } finally {
    releaseScopes();
  }
  const { url, location } = scopes;
  if (url === undefined || location === undefined) return parsed;
  const map = findSourceMap(url);
  if (map === undefined) return parsed;
  const text = Function.prototype.toString.call(fn);
  let changed = false;
  const parameters = parsed.parameters.map((parameter): Parameter => {
    if (parameter.at === undefined) return parameter;
    const { line, column } = place(text, start, location, parameter.at);
    const entry = map.findEntry(line, column) as { name?: unknown };
    const name = entry.name;
    if (typeof name !== "string" || name === parameter.name || !IDENTIFIER.test(name)) {
      return parameter;
    }
    changed = true;
    return { ...parameter, name };
  });
  return changed ? { ...parsed, parameters } : parsed;
}
