/**
 * Code identity of stage functions: the normalized-AST hash of the function itself, of
 * everything it reaches through its bindings (helpers, imports, constants, captured values,
 * package versions: see closure.ts), and of anything a library wrapper adds (a script's
 * content, a decorator's settings).
 */
import stringify from "fast-json-stable-stringify";
import { MemoriError, describe } from "../errors.js";
import { sha256, type Sha256Hex } from "./files.js";
import { dependenciesOf } from "./closure.js";
import { CODE_EXTRA, sourceOf, unwrap, type Wrapper } from "./wrappers.js";
import { encodePlainValue } from "./values.js";
import { PerReading, newReading } from "./reading.js";

// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
type AnyFunction = Function;

const HASHABLE_NAME: unique symbol = Symbol.for("memori.hashableName");

/**
 * Mark a function or class as a helper of stage code. Stage code identity already includes
 * every function, class and value a stage reaches through its bindings, marked or not; the
 * mark checks early (where the helper is defined) that its source can be read, and is kept
 * for code written for earlier versions. Returns `fn` itself.
 *
 * @param name a name for messages. @default fn.name
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
  const { inner } = unwrap(fn);
  sourceOf(inner); // fail now, not when a stage is hashed, if its source cannot be read
  Object.defineProperty(fn, HASHABLE_NAME, {
    value: name ?? (fn.name || "<anonymous>"),
    configurable: true,
  });
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
  /**
   * What the code reaches through its bindings, by the path it is reached by (`helper`,
   * `helper>SCALE`, `config.steps[0]`): `code:<hash>`, `package:<name>@<version>`,
   * `value:<hash>`.
   */
  callees: Record<string, string>;
  /** Wrappers around the function and what they add. */
  wrappers: string[];
  /** Extra identity a wrapper computes at run time (scripts' content hashes). */
  extras: Record<string, string>;
}

/** A stage function's code identity, with what comes with it but is not recorded as code. */
export interface CodeFacts {
  code: CodeIdentity;
  /** Environment variables the code reads by a literal name: inputs of each call. */
  env: readonly string[];
  /** Values the code reaches that cannot be hashed, left out of the identity (with why). */
  unhashable: readonly string[];
}

/** The part of a code identity known without running anything: all but wrappers' extras. */
interface Reached {
  callees: Record<string, string>;
  extras: [key: string, extra: () => Promise<Record<string, string>>][];
  env: readonly string[];
  unhashable: string[];
}

const reachedBy = new PerReading<AnyFunction, Reached>();

/** Code identities of functions with no wrapper computing anything at run time. */
const plainIdentities = new PerReading<AnyFunction, CodeFacts>();

/**
 * What `fn` reaches, resolved and encoded the first time it is asked for in this reading of
 * bindings (reading.ts): each run reads it again; within a run it does not drift.
 */
function reached(fn: AnyFunction): Reached {
  let found = reachedBy.get(fn);
  if (found === undefined) {
    found = resolveReached(fn);
    reachedBy.set(fn, found);
  }
  return found;
}

/**
 * A value as code identity sees it: built-in objects that state files cannot store but whose
 * content is plain to read (a RegExp's source and flags, a URL, the bytes of a typed array) are
 * replaced by that content, at any depth; anything else is left for the value codec to take or
 * reject.
 */
function forIdentity(value: unknown, seen: Map<object, unknown>): unknown {
  if (typeof value !== "object" || value === null) return value;
  const done = seen.get(value);
  if (done !== undefined) return done;
  let out: unknown = value;
  if (value instanceof RegExp) out = { "\0regexp": [value.source, value.flags] };
  else if (value instanceof URL) out = { "\0url": value.href };
  else if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
    const bytes = ArrayBuffer.isView(value)
      ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
      : new Uint8Array(value);
    out = { "\0bytes": [value.constructor.name, sha256(bytes)] };
  } else if (Array.isArray(value)) {
    const copy: unknown[] = [];
    seen.set(value, copy);
    for (const item of value) copy.push(forIdentity(item, seen));
    return copy;
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    const copy: Record<string, unknown> = {};
    seen.set(value, copy);
    for (const [key, item] of Object.entries(value)) {
      const inner = forIdentity(item, seen);
      Object.defineProperty(copy, key, { value: inner, enumerable: true, writable: true });
    }
    return copy;
  }
  seen.set(value, out);
  return out;
}

/**
 * The hash of each object a dependency was bound to, as the process first read it: an object
 * (or array, Map...) keeps it for as long as it lives. Each reading finds what a name is bound
 * to now, so a variable bound to another object, or to another number or string, counts; the
 * content of one object changed in place does not. What code keeps in a captured container (a
 * cache it fills, a list it pushes to, through any helper) is state, not what its result is
 * made of: hashing it again at each run would run the stage again at each run, and after a
 * run that found it cached (and so filled nothing), again.
 */
const objectCallees = new WeakMap<object, string>();

function valueCallee(value: unknown, key: string, fn: AnyFunction): string {
  const isObject = typeof value === "object" && value !== null;
  if (isObject) {
    const known = objectCallees.get(value);
    if (known !== undefined) return known;
  }
  const json = encodePlainValue(forIdentity(value, new Map()), key, fn.name || "<anonymous>");
  const callee = `value:${sha256(stringify(json))}`;
  if (isObject) objectCallees.set(value, callee);
  return callee;
}

function resolveReached(fn: AnyFunction): Reached {
  const found = dependenciesOf(unwrap(fn).inner);
  const callees: Record<string, string> = {};
  const extras: Reached["extras"] = [];
  const unhashable: string[] = [];
  for (const dependency of found.dependencies) {
    if (dependency.kind === "code") {
      const { inner, wrappers } = unwrap(dependency.fn);
      const code = sourceOf(inner).hash;
      callees[dependency.key] =
        wrappers.length === 0 ? `code:${code}` : `code:${sha256(stringify({ code, wrappers }))}`;
      // A script function used as a helper: its script's content is part of its code.
      const extra =
        (dependency.fn as AnyFunction & Wrapper)[CODE_EXTRA] ??
        (inner as AnyFunction & Wrapper)[CODE_EXTRA];
      if (extra !== undefined) extras.push([dependency.key, extra]);
    } else if (dependency.kind === "package") {
      callees[dependency.key] = `package:${dependency.package}`;
    } else {
      try {
        callees[dependency.key] = valueCallee(dependency.value, dependency.key, fn);
      } catch (error) {
        if (!(error instanceof MemoriError) || error.reason !== "unserializable") throw error;
        unhashable.push(`${dependency.key} (${describe(dependency.value)})`);
      }
    }
  }
  for (const name of found.unresolved) {
    unhashable.push(
      name === "process.env"
        ? "process.env as a whole (memori sees only variables read by name; list others in env)"
        : `${name} (bound where memori cannot see it, such as a class's computed key)`,
    );
  }
  return { callees, extras, env: found.env, unhashable };
}

function identity(
  fn: AnyFunction,
  callees: Record<string, string>,
  extras: Record<string, string>,
): CodeIdentity {
  const { inner, wrappers } = unwrap(fn);
  return withHash({ self: sourceOf(inner).hash, callees, wrappers, extras });
}

/** A code identity from its parts, with the hash of them all. */
export function withHash(parts: Omit<CodeIdentity, "hash">): CodeIdentity {
  const { self, callees, wrappers, extras } = parts;
  return { hash: sha256(stringify({ self, callees, wrappers, extras })), ...parts };
}

/** How a stage's code counts: automatically (the default), by a version string, or not. */
export interface CodePolicy {
  readonly codeVersion?: string | undefined;
  readonly ignoreCode?: boolean;
}

/** Declared identities made so far, by version (`undefined`: `ignoreCode`). */
const declared = new Map<string | undefined, CodeFacts>();

/** A code identity that does not come from the code: a version the user gives, or none. */
function declaredIdentity(policy: CodePolicy): CodeFacts {
  const version = policy.ignoreCode ? undefined : (policy.codeVersion ?? "");
  let facts = declared.get(version);
  if (facts === undefined) {
    const self = sha256(version === undefined ? "memori.ignoreCode" : "memori.codeVersion");
    const callees: Record<string, string> =
      version === undefined ? {} : { codeVersion: `version:${version}` };
    const code = withHash({ self, callees, wrappers: [], extras: {} });
    facts = { code, env: [], unhashable: [] };
    declared.set(version, facts);
  }
  return facts;
}

/**
 * The code identity of a stage function when it is known without computing anything: a
 * declared one, or one computed before for this function that has nothing computed at run
 * time (see {@link codeIdentity}); `undefined` otherwise.
 */
export function knownCodeIdentity(fn: AnyFunction, policy: CodePolicy = {}): CodeFacts | undefined {
  if (policy.ignoreCode || policy.codeVersion !== undefined) {
    const declared = declaredIdentity(policy);
    const env = envReadBy(fn);
    return env.length === 0 ? declared : { ...declared, env };
  }
  return plainIdentities.get(fn);
}

/** What {@link envReadBy} found, by function, for this reading of bindings. */
const declaredEnv = new PerReading<AnyFunction, readonly string[]>();

/**
 * The environment variables `fn` and what it reaches read by name: inputs of each call even
 * when the code does not count (`codeVersion`, `ignoreCode`), as the options promise. None
 * when its code cannot be read (a version stands for code memori cannot follow).
 */
function envReadBy(fn: AnyFunction): readonly string[] {
  let env = declaredEnv.get(fn);
  if (env === undefined) {
    try {
      env = reached(fn).env;
    } catch {
      env = [];
    }
    declaredEnv.set(fn, env);
  }
  return env;
}

/**
 * The code identity of a stage function: its own code, everything it reaches through its
 * bindings (helpers, imports, constants, captured values, package versions), and what its
 * wrappers compute at run time (the content of scripts they run). With a `codeVersion` or
 * `ignoreCode`, the code is not read: the version (or nothing) stands for it.
 */
export async function codeIdentity(fn: AnyFunction, policy: CodePolicy = {}): Promise<CodeFacts> {
  const known = knownCodeIdentity(fn, policy);
  if (known !== undefined) return known;
  const extra =
    (fn as AnyFunction & Wrapper)[CODE_EXTRA] ??
    (unwrap(fn).inner as AnyFunction & Wrapper)[CODE_EXTRA];
  const found = reached(fn);
  if (extra === undefined && found.extras.length === 0) {
    // Nothing is computed at run time: the identity is fixed for the process, like `reached`.
    const facts = {
      code: identity(fn, { ...found.callees }, {}),
      env: found.env,
      unhashable: found.unhashable,
    };
    plainIdentities.set(fn, facts);
    return facts;
  }
  const extras = extra ? await extra() : {};
  for (const [key, calleeExtra] of found.extras) {
    for (const [name, value] of Object.entries(await calleeExtra()))
      extras[`${key}:${name}`] = value;
  }
  return {
    code: identity(fn, { ...found.callees }, extras),
    env: found.env,
    unhashable: found.unhashable,
  };
}

/**
 * The hash memori records for a function's code: its normalized AST and everything it reaches
 * through its bindings (helpers, constants, captured values, package versions). Formatting and
 * comments do not change it; changes to what the code does do. What it reaches is read as it
 * is at each call: a captured variable reassigned since the last call changes the hash. (Scripts
 * that wrappers run are hashed when a stage runs, not here.)
 *
 * @example
 * ```ts
 * hashFunction((a, b) => a + b) === hashFunction((a,b)=>a+b) // true
 * ```
 */
export function hashFunction(fn: AnyFunction): string {
  newReading(); // what it reaches as it is now
  return identity(fn, reached(fn).callees, {}).hash;
}
