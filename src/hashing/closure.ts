/**
 * Everything a function's code depends on beyond its own text, found by binding: each free
 * identifier of its source (acorn + eslint-scope) is resolved in the function's run-time
 * scopes (V8, through {@link scopesOf}), and what it holds becomes a dependency:
 *
 * - a function or class of the user's code: its normalized AST, and recursively what it
 *   depends on (cycles cut at the first function met twice);
 * - a function or class from an installed package: the package's name and version;
 * - a built-in (a global, a `node:` module's code): nothing;
 * - any other value (a constant, a config object, a captured variable): the value itself,
 *   encoded like an argument (strings stay strings: no file is hashed for code identity);
 * - `process.env.NAME` / `process.env["NAME"]`: the environment variable, as an input.
 *
 * Dependencies are named by the path of bindings from the stage function (`helper`,
 * `helper>SCALE`, `config.steps[1]`), so a reason can say what changed, and names do not
 * depend on where the project lives on disk.
 */
import { builtinExports, isBuiltinModule, isModuleNamespace, packageOf } from "./packages.js";
import {
  OWN_OF_FUNCTION,
  OWN_OF_PROTOTYPE,
  addedMembers,
  collectionMembers,
  containsFunction,
  isCode,
  isCollection,
  isPlainContainer,
  ownMembers,
} from "./members.js";
import { PerReading } from "./reading.js";
import { scopesOf, releaseScopes, type FunctionScopes } from "./scopes.js";
import { CODE_EXTRA, PARSED, WRAPPED, sourceOf, unwrap, type Wrapper } from "./wrappers.js";
import { isKeepNamesHelper, KEEP_NAMES_HELPER } from "./keep-names.js";

/** Symbol under which a function that only observes another names it (read tracking). */
const STANDS_FOR = Symbol.for("memori.standsFor");
import type { FreeReference, ParsedSource } from "./source.js";
import type { EnvReads } from "./free-references.js";

// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type -- any function or class
type AnyFunction = Function;

/** One thing a function depends on, under the name it is reached by. */
export type Dependency =
  | { readonly kind: "code"; readonly key: string; readonly fn: AnyFunction }
  | { readonly kind: "package"; readonly key: string; readonly package: string }
  | { readonly kind: "value"; readonly key: string; readonly value: unknown };

/** What {@link dependenciesOf} found. */
export interface Dependencies {
  readonly dependencies: readonly Dependency[];
  /** Environment variables the code reads by a literal name. */
  readonly env: readonly string[];
  /** Free names bound to nothing memori can see (named in a warning). */
  readonly unresolved: readonly string[];
}

const NATIVE = /\{\s*\[native code\]\s*\}\s*$/;

function memberKey(key: string, member: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(member)
    ? `${key}.${member}`
    : `${key}[${JSON.stringify(member)}]`;
}

class Walk {
  readonly dependencies: Dependency[] = [];
  readonly env = new Set<string>();
  /** Free names bound to nothing memori can see. */
  readonly unresolved = new Set<string>();
  private readonly visited = new Set<AnyFunction>();
  /** Plain objects and arrays walked into (they hold functions). */
  private readonly expanded = new Set<object>();
  /** The runtime's modules' exports, read when first needed. */
  private builtins: WeakSet<object> | undefined;

  /** Functions whose free references are still to walk, breadth first (shortest names). */
  private readonly queue: [AnyFunction, string][] = [];

  /** Walk `root` and everything it reaches. */
  run(root: AnyFunction): void {
    this.visited.add(root);
    this.queue.push([root, ""]);
    for (let next = this.queue.shift(); next !== undefined; next = this.queue.shift()) {
      this.function(...next);
    }
  }

  /** The free references of `fn`, naming its dependencies under `prefix`. */
  private function(fn: AnyFunction, prefix: string): void {
    const source = sourceOf(fn);
    if (source.free.length === 0) return;
    const scopes = this.scopes(fn);
    scopes.prefetch(source.free.map((reference) => reference.name));
    for (const reference of source.free) {
      const reads = source.env[reference.name];
      if (reads !== undefined && this.environment(scopes, reference.name, reads)) continue;
      if (reference.name === KEEP_NAMES_HELPER && this.keepNames(scopes, source, prefix)) continue;
      this.reference(scopes, reference, prefix, source.superName);
    }
  }

  /**
   * Whether `__name` is esbuild's `keepNames` helper (tsx): then no dependency. Any other
   * `__name` is one, and its calls the code's hash leaves out count as written (keep-names.ts).
   */
  private keepNames(scopes: FunctionScopes, source: ParsedSource, prefix: string): boolean {
    const binding = scopes.resolve(KEEP_NAMES_HELPER);
    const global = Object.getOwnPropertyDescriptor(globalThis, KEEP_NAMES_HELPER)?.value;
    if (isKeepNamesHelper(binding.kind === "bound" ? binding.value : global)) return true;
    const key = `${prefix === "" ? "" : `${prefix}>`}${KEEP_NAMES_HELPER}(calls)`;
    if (source.asWritten) this.dependencies.push({ kind: "value", key, value: source.asWritten });
    return false;
  }

  /**
   * The environment variables the code reads through `name`, when it is the process (global,
   * or imported from `node:process`: `process.env.NAME`) or its environment (`env.NAME`):
   * inputs, as if listed in `env`. Whether `name` is the environment itself (then it is not
   * walked as a value).
   */
  private environment(scopes: FunctionScopes, name: string, reads: EnvReads): boolean {
    const binding = scopes.resolve(name);
    const value =
      binding.kind === "bound" ? binding.value : name === "process" ? process : undefined;
    if (value === process) {
      for (const variable of reads.env) this.env.add(variable);
      if (reads.envWhole) this.unresolved.add(`${name}.env`);
      return false;
    }
    if (value !== process.env) return false;
    for (const variable of reads.keys) this.env.add(variable);
    if (reads.keysWhole) this.unresolved.add(name);
    return true;
  }

  private reference(
    scopes: FunctionScopes,
    reference: FreeReference,
    prefix: string,
    superName: string | undefined,
  ): void {
    const binding = scopes.resolve(reference.name);
    if (binding.kind === "global") {
      // Found as the class's prototype (attached): `extends Model`, `extends base.Model`.
      if (superName === reference.name || reference.extendsOnly) return;
      // Not in the function's scopes and not a global: bound where V8 keeps no trace of it for
      // this function (a class's `extends` or computed key, read once when it was defined).
      if (!(reference.name in globalThis)) this.unresolved.add(reference.name);
      else
        this.global(reference.name, prefix === "" ? reference.name : `${prefix}>${reference.name}`);
      return;
    }
    // A variable the code keeps state in (a counter, a cache it fills) is not what its result
    // is built from, and its value depends on how often the code ran in this process. Calling
    // `set` or `sort` on a function, a class or a module namespace changes nothing of it.
    if (reference.state === "assigned" && !isCode(binding.value)) return;
    if (reference.state === "method" && isCollection(binding.value)) return;
    const key = prefix === "" ? reference.name : `${prefix}>${reference.name}`;
    const value = binding.value;
    if (
      reference.members !== undefined &&
      typeof value === "object" &&
      value !== null &&
      isModuleNamespace(value)
    ) {
      // `ns.member`: only the members used count, so an unrelated export can change freely.
      for (const member of reference.members) {
        this.value((value as Record<string, unknown>)[member], memberKey(key, member));
      }
      return;
    }
    this.value(value, key);
  }

  /**
   * A global the code reads. A function or class of the user's that is a global counts by its
   * code: in the Node REPL and in a notebook (code run as a script), a top-level `function` or
   * `class` is a global, not a binding of a module (and `globalThis.helper = ...` makes one
   * anywhere). The runtime's globals and the packages' count for nothing, and so do globals
   * that are not functions: memori cannot tell a setting of the user's from the runtime's.
   */
  private global(name: string, key: string): void {
    // A data property only: the runtime's lazy globals (`crypto`, `fetch`) are getters that load
    // a module when read, and a declaration is never one.
    const value = Object.getOwnPropertyDescriptor(globalThis, name)?.value as unknown;
    if (typeof value !== "function" || this.visited.has(value as AnyFunction)) return;
    if (NATIVE.test(Function.prototype.toString.call(value))) return; // a built-in
    const url = this.scopes(value as AnyFunction).url;
    if (url === undefined || url.startsWith("node:") || packageOf(url) !== undefined) return;
    this.callable(value as AnyFunction, key);
  }

  /** A value reached under `key`. */
  value(value: unknown, key: string): void {
    if (typeof value === "function") {
      this.callable(value as AnyFunction, key);
      return;
    }
    if (typeof value === "object" && value !== null) {
      if (isBuiltinModule(value, (this.builtins ??= builtinExports()))) return;
      if (isModuleNamespace(value)) {
        for (const member of Object.keys(value).sort()) {
          this.value((value as Record<string, unknown>)[member], memberKey(key, member));
        }
        return;
      }
      if (isPlainContainer(value) && containsFunction(value, new Set())) {
        if (this.expanded.has(value)) return; // a cycle: already counted
        this.expanded.add(value);
        for (const [member, inner] of ownMembers(value)) {
          this.value(inner, Array.isArray(value) ? `${key}[${member}]` : memberKey(key, member));
        }
        return;
      }
      // A Map or Set holding functions (a table of operations): walked like a plain object.
      const members = collectionMembers(value);
      if (members !== undefined && containsFunction(value, new Set())) {
        if (this.expanded.has(value)) return;
        this.expanded.add(value);
        for (const [member, inner] of members) this.value(inner, `${key}${member}`);
        return;
      }
    }
    this.dependencies.push({ kind: "value", key, value });
  }

  private callable(fn: AnyFunction, key: string): void {
    if (this.visited.has(fn)) return; // a cycle, or reached before under another name
    // A function that only observes another (memori's read tracking of fs) is that other.
    const original = (fn as unknown as Record<symbol, AnyFunction | undefined>)[STANDS_FOR];
    if (typeof original === "function") {
      this.callable(original, key);
      return;
    }
    const marked = fn as AnyFunction & Wrapper;
    if (marked[WRAPPED] !== undefined || marked[CODE_EXTRA] !== undefined || marked[PARSED]) {
      // memori's own wrappers (scripts, worker threads, decorators): what they wrap and add.
      this.visited.add(fn);
      this.dependencies.push({ kind: "code", key, fn });
      const { inner } = unwrap(fn);
      if (inner !== fn && !this.visited.has(inner)) {
        this.visited.add(inner);
        this.queue.push([inner, key]);
      }
      return;
    }
    const scopes = this.scopes(fn);
    if (scopes.bound !== undefined) {
      this.callable(scopes.bound.target, key);
      if (scopes.bound.args.length > 0) this.value(scopes.bound.args, `${key}(bound)`);
      return;
    }
    const url = scopes.url;
    // node:…: the runtime's own code, which changes with Node (not asked for by default).
    if (url !== undefined && url.startsWith("node:")) {
      this.captured(fn, scopes, key);
      return;
    }
    const pkg = url === undefined ? undefined : packageOf(url);
    if (pkg !== undefined) {
      this.dependencies.push({ kind: "package", key, package: pkg });
      this.captured(fn, scopes, key);
      return;
    }
    if (NATIVE.test(Function.prototype.toString.call(fn))) return; // a built-in
    this.dependencies.push({ kind: "code", key, fn });
    this.visited.add(fn);
    this.queue.push([fn, key]);
    this.attached(fn, key);
  }

  /**
   * What a function or class carries beyond its text: the class it extends (evaluated once,
   * when the class was defined, so not in any scope), and properties added to it or to its
   * prototype outside its body (`K.factor = 2`, `K.prototype.f = …`, `fn.options = {…}`).
   */
  private attached(fn: AnyFunction, key: string): void {
    const parent = Object.getPrototypeOf(fn) as unknown;
    if (typeof parent === "function" && parent !== Function.prototype) {
      this.callable(parent, `${key}>extends`);
    }
    const text = Function.prototype.toString.call(fn);
    for (const [name, value] of addedMembers(fn, text, OWN_OF_FUNCTION)) {
      this.value(value, memberKey(key, name));
    }
    const prototype = (fn as { prototype?: unknown }).prototype;
    if (typeof prototype === "object" && prototype !== null) {
      for (const [name, value] of addedMembers(prototype, text, OWN_OF_PROTOTYPE)) {
        this.value(value, `${key}.prototype.${name}`);
      }
    }
  }

  /**
   * Code of the user's that a package's or the runtime's function holds in its closure:
   * `memoize(helper)`, `util.promisify(readConfig)` return a function of the package's whose
   * behaviour is the user's function. The package's code counts by its version; the user's
   * functions it captured count by their code.
   */
  private captured(fn: AnyFunction, scopes: FunctionScopes, key: string, depth = 0): void {
    if (this.visited.has(fn)) return;
    this.visited.add(fn);
    let free: readonly FreeReference[];
    try {
      free = sourceOf(fn).free;
    } catch {
      return; // native, or not parsable: nothing of the user's to see
    }
    if (free.length === 0) return;
    scopes.prefetch(free.map((reference) => reference.name));
    for (const { name } of free) {
      const binding = scopes.resolve(name);
      if (binding.kind === "bound") this.capturedValue(binding.value, `${key}(${name})`, depth + 1);
    }
  }

  /**
   * A value held in a package's closure: the user's functions in it count by their code,
   * looking through the package's own functions and plain containers (`{ fn }`, `[...fns]`,
   * a helper of the package that calls `fn`), a few levels deep.
   */
  private capturedValue(value: unknown, key: string, depth: number): void {
    if (depth > 3) return; // a package's internals, not the user's code, that deep
    if (typeof value === "function") {
      const inner = value as AnyFunction;
      if (this.visited.has(inner) || NATIVE.test(Function.prototype.toString.call(inner))) return;
      const scopes = this.scopes(inner);
      const where = scopes.url;
      if (where === undefined) return;
      if (where.startsWith("node:") || packageOf(where) !== undefined) {
        this.captured(inner, scopes, key, depth); // the package's: look inside it
      } else {
        this.callable(inner, key); // the user's: its code counts
      }
      return;
    }
    if (typeof value === "object" && value !== null && isPlainContainer(value)) {
      if (this.expanded.has(value)) return;
      this.expanded.add(value);
      for (const [member, inner] of Object.entries(value)) {
        const at = Array.isArray(value) ? `${key}[${member}]` : memberKey(key, member);
        this.capturedValue(inner, at, depth + 1);
      }
    }
  }

  private scopes(fn: AnyFunction): FunctionScopes {
    return scopesOf(fn); // its bindings read once per reading (reading.ts)
  }
}

const cache = new PerReading<AnyFunction, Dependencies>();

/**
 * What `fn` depends on beyond its own text, resolved now and remembered for this function
 * object in this reading of bindings (reading.ts: once per run).
 */
export function dependenciesOf(fn: AnyFunction): Dependencies {
  let found = cache.get(fn);
  if (found !== undefined) return found;
  const walk = new Walk();
  try {
    walk.run(fn);
  } finally {
    releaseScopes();
  }
  found = {
    dependencies: walk.dependencies,
    env: [...walk.env].sort(),
    unresolved: [...walk.unresolved].sort(),
  };
  cache.set(fn, found);
  return found;
}
