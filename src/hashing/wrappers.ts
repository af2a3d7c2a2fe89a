/**
 * Functions that stand for other code: wrappers (a decorator, a worker-thread runner, a
 * script runner) name the function they wrap and what they add, and a library function may
 * carry its source already parsed. {@link sourceOf} reads a function's source once.
 */
import { withOriginalNames } from "./original-names.js";
import { parseSource, type ParsedSource } from "./source.js";

/** Symbol under which a wrapper keeps the function it wraps (like Python's `__wrapped__`). */
export const WRAPPED: unique symbol = Symbol.for("memori.wrapped");
/** Symbol under which a wrapper describes what it adds to the behaviour, for the hash. */
export const WRAPPER_ID: unique symbol = Symbol.for("memori.wrapperId");
/**
 * Symbol under which a function provides extra code identity computed at each run (e.g. the
 * content hashes of a script and its dependents).
 */
export const CODE_EXTRA: unique symbol = Symbol.for("memori.codeExtra");

/**
 * A wrapper's own files (a script and its dependents): part of its code, so never taken as
 * files the call read (under `codeVersion`, the version stands for them).
 */
export const CODE_FILES: unique symbol = Symbol.for("memori.codeFiles");

// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
type AnyFunction = Function;

/** The symbols a wrapper carries. */
export interface Wrapper {
  [WRAPPED]?: AnyFunction;
  [WRAPPER_ID]?: string;
  [CODE_EXTRA]?: () => Promise<Record<string, string>>;
  [CODE_FILES]?: () => Promise<string[]>;
  [PARSED]?: ParsedSource;
}

/**
 * How a function lists the files its code is read from when it runs (a script function's
 * script and dependents), if it has any: its own or its innermost wrapped function's.
 */
export function codeFilesOf(fn: AnyFunction): (() => Promise<string[]>) | undefined {
  const own = (fn as AnyFunction & Wrapper)[CODE_FILES];
  // Asked twice per call: a plain function (no wrapper) is answered without unwrapping.
  if (own !== undefined || (fn as AnyFunction & Wrapper)[WRAPPED] === undefined) return own;
  return (unwrap(fn).inner as AnyFunction & Wrapper)[CODE_FILES];
}

/**
 * Mark `inner` as wrapped by `wrapper`: memori reads parameter names and code from `inner`,
 * and hashes `id` (what the wrapper does, with its settings) with it; an empty `id` adds nothing.
 */
export function markWrapper<T extends AnyFunction>(wrapper: T, inner: AnyFunction, id: string): T {
  Object.defineProperty(wrapper, WRAPPED, { value: inner });
  Object.defineProperty(wrapper, WRAPPER_ID, { value: id });
  Object.defineProperty(wrapper, "name", { value: inner.name, configurable: true });
  return wrapper;
}

/** The innermost wrapped function, and the wrapper ids met on the way, outermost first. */
export function unwrap(fn: AnyFunction): { inner: AnyFunction; wrappers: string[] } {
  const wrappers: string[] = [];
  let current = fn as AnyFunction & Wrapper;
  const seen = new Set<AnyFunction>();
  while (current[WRAPPED] !== undefined && !seen.has(current)) {
    seen.add(current);
    const id = current[WRAPPER_ID] ?? "wrapper";
    if (id !== "") wrappers.push(id);
    current = current[WRAPPED] as AnyFunction & Wrapper;
  }
  return { inner: current, wrappers };
}

const parsed = new WeakMap<AnyFunction, ParsedSource>();

/**
 * Symbol under which a library function carries its source already parsed (parameters and
 * hash), so that acorn need not be loaded for it (the command line's script functions).
 */
export const PARSED: unique symbol = Symbol.for("memori.parsedSource");

/**
 * Parsed sources by their text: the closures a factory makes share one text, and parsing
 * (acorn, scope analysis) costs more than anything else about a function. Bounded, oldest out.
 */
const byText = new Map<string, ParsedSource>();
const MAX_TEXTS = 2000;

function parseText(fn: AnyFunction): ParsedSource {
  const text = Function.prototype.toString.call(fn);
  let result = byText.get(text);
  if (result === undefined) {
    result = parseSource(fn);
    if (byText.size >= MAX_TEXTS) byText.delete(byText.keys().next().value as string);
    byText.set(text, result);
  }
  return result;
}

/** {@link parseSource}, once per function object (and once per source text). */
export function sourceOf(fn: AnyFunction): ParsedSource {
  const given = (fn as unknown as Record<symbol, ParsedSource | undefined>)[PARSED];
  if (given !== undefined) return given;
  let result = parsed.get(fn);
  if (result === undefined) {
    result = withOriginalNames(fn, parseText(fn));
    parsed.set(fn, result);
  }
  return result;
}
