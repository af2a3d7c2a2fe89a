/**
 * Code identity of stage functions: the normalized-AST hash of the function itself, of every
 * function or class marked with {@link hashable} that it refers to (transitively, cycles
 * cut), and of anything a library wrapper adds (a script's content, a decorator's settings).
 */
import stringify from "fast-json-stable-stringify";
import { MemoriError, describe } from "../errors.js";
import { sha256, type Sha256Hex } from "./files.js";
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

// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
type AnyFunction = Function;

interface Wrapper {
  [WRAPPED]?: AnyFunction;
  [WRAPPER_ID]?: string;
  [CODE_EXTRA]?: () => Promise<Record<string, string>>;
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

/** {@link parseSource}, once per function object. */
export function sourceOf(fn: AnyFunction): ParsedSource {
  const given = (fn as unknown as Record<symbol, ParsedSource | undefined>)[PARSED];
  if (given !== undefined) return given;
  let result = parsed.get(fn);
  if (result === undefined) {
    result = parseSource(fn);
    parsed.set(fn, result);
  }
  return result;
}

const registry = new Map<string, Set<AnyFunction>>();
const HASHABLE_NAME: unique symbol = Symbol.for("memori.hashableName");

/**
 * Mark a function or class so that stage functions referring to it by name include its code
 * in their hash: change it, and every stage that uses it re-runs. Works transitively, and on
 * recursive or mutually recursive functions. Returns `fn` itself, so it is used exactly as
 * before; call it where `fn` is defined (module level), like a decorator.
 *
 * @param name the name stage code refers to it by. @default fn.name
 * @example
 * ```ts
 * const smooth = hashable(function smooth(x: number[]) { ... });
 * const stage = new Stage((data: number[]) => smooth(data), { name: "smoothing" });
 * ```
 */
export function hashable<T extends AnyFunction>(fn: T, name?: string): T {
  if (typeof fn !== "function") {
    throw new MemoriError(
      "invalid-argument",
      `hashable() takes a function or class, got ${describe(fn)}.`,
    );
  }
  const key = name ?? fn.name;
  if (!key) {
    throw new MemoriError(
      "invalid-argument",
      'hashable() needs a named function, or the name your code calls it by: hashable(fn, "helper").',
    );
  }
  const { inner } = unwrap(fn);
  sourceOf(inner); // fail now, not when a stage is hashed, if its source cannot be read
  let set = registry.get(key);
  if (set === undefined) registry.set(key, (set = new Set()));
  set.add(inner);
  Object.defineProperty(fn, HASHABLE_NAME, { value: key, configurable: true });
  return fn;
}

/** Whether `fn` was marked with {@link hashable}. */
export function isHashable(fn: AnyFunction): boolean {
  return (fn as unknown as Record<symbol, unknown>)[HASHABLE_NAME] !== undefined;
}

/** The code identity recorded in a `.stage` file. */
export interface CodeIdentity {
  /** Hash of everything below: equal hashes mean the same code. */
  hash: Sha256Hex;
  /** Hash of the stage function's own normalized AST. */
  self: Sha256Hex;
  /** For each hashable callee, by the name it is referred to: its hash. */
  callees: Record<string, Sha256Hex>;
  /** Wrappers around the function and what they add. */
  wrappers: string[];
  /** Extra identity a wrapper computes at run time (scripts' content hashes). */
  extras: Record<string, string>;
}

/** The hashable callees of a function, by name, and those that add code identity at run time. */
interface Callees {
  hashes: Record<string, Sha256Hex>;
  extras: [name: string, extra: () => Promise<Record<string, string>>][];
}

function calleesOf(root: ParsedSource): Callees {
  const hashes: Record<string, Sha256Hex> = {};
  const extras: Callees["extras"] = [];
  const seen = new Set<AnyFunction>();
  const names = [...root.identifiers];
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    const fns = registry.get(name);
    if (fns === undefined || name in hashes) continue;
    const sourceHashes: string[] = [];
    for (const fn of fns) {
      const source = sourceOf(fn);
      sourceHashes.push(source.hash);
      // A script function used as a helper: its script's content is part of its code.
      const extra = (fn as AnyFunction & Wrapper)[CODE_EXTRA];
      if (extra !== undefined) extras.push([name, extra]);
      if (!seen.has(fn)) {
        seen.add(fn);
        for (const identifier of source.identifiers) names.push(identifier);
      }
    }
    // Two hashables of the same name: both count (a change to either re-runs).
    hashes[name] =
      sourceHashes.length === 1
        ? (sourceHashes[0] as Sha256Hex)
        : sha256(sourceHashes.sort().join(","));
  }
  return { hashes, extras };
}

function identity(fn: AnyFunction, callees: Callees, extras: Record<string, string>): CodeIdentity {
  const { inner, wrappers } = unwrap(fn);
  const self = sourceOf(inner).hash;
  const hash = sha256(stringify({ self, callees: callees.hashes, wrappers, extras }));
  return { hash, self, callees: callees.hashes, wrappers, extras };
}

/**
 * The code identity of a stage function, with what its wrappers and its hashable callees
 * compute at run time (the content of scripts they run).
 */
export async function codeIdentity(fn: AnyFunction): Promise<CodeIdentity> {
  const extra =
    (fn as AnyFunction & Wrapper)[CODE_EXTRA] ??
    (unwrap(fn).inner as AnyFunction & Wrapper)[CODE_EXTRA];
  const extras = extra ? await extra() : {};
  const callees = calleesOf(sourceOf(unwrap(fn).inner));
  for (const [name, calleeExtra] of callees.extras) {
    for (const [key, value] of Object.entries(await calleeExtra()))
      extras[`${name}:${key}`] = value;
  }
  return identity(fn, callees, extras);
}

/**
 * The hash memori records for a function's code: its normalized AST plus its hashable
 * callees. Formatting and comments do not change it; changes to what the code does do.
 *
 * @example
 * ```ts
 * hashFunction((a, b) => a + b) === hashFunction((a,b)=>a+b) // true
 * ```
 */
export function hashFunction(fn: AnyFunction): string {
  return identity(fn, calleesOf(sourceOf(unwrap(fn).inner)), {}).hash;
}
