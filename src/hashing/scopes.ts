/**
 * What a function's free identifiers are bound to at run time, read from V8 through an
 * in-process inspector session: the function's `[[Scopes]]` (closures, module scope) and where
 * its code was loaded from (`[[FunctionLocation]]` → script URL).
 *
 * The session is synchronous: `Session.post` on the main thread answers before it returns, so
 * reading scopes needs no `await`. Values are brought back as the objects themselves (not
 * copies) through a global slot, so `===` holds between a resolved binding and the value the
 * code sees.
 */
import type { Session } from "node:inspector";
import { inspector } from "../lazy-modules.js";
import { currentReading } from "./reading.js";

// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type -- any function or class
type AnyFunction = Function;

/** Where a name resolved. */
export type Binding =
  /** Bound in a closure, block or module scope of the function: `value` is what it holds. */
  | { readonly kind: "bound"; readonly value: unknown }
  /** Not bound in any of the function's scopes: a global or a built-in of the runtime. */
  | { readonly kind: "global" };

/** A function's scopes, as V8 sees them when asked. */
export interface FunctionScopes {
  /** The URL of the script the function's code is in (`file:///…`, `node:path`), if known. */
  readonly url: string | undefined;
  /** Where V8 places the function in that script (0-based), if known. */
  readonly location: { line: number; column: number } | undefined;
  /** For a bound function (`f.bind(…)`): the function it calls, and its bound `this`/args. */
  readonly bound: { target: AnyFunction; args: unknown[] } | undefined;
  /** Resolve a free identifier of the function. */
  resolve(name: string): Binding;
  /** Read these names now, in one call (later `resolve` calls for them cost nothing). */
  prefetch(names: readonly string[]): void;
}

interface RemoteObject {
  type: string;
  subtype?: string;
  value?: unknown;
  unserializableValue?: string;
  objectId?: string;
  description?: string;
}
interface PropertyDescriptor {
  name: string;
  value?: RemoteObject;
}
interface Properties {
  result: PropertyDescriptor[];
  internalProperties?: PropertyDescriptor[];
}

const SLOT = Symbol.for("memori.scopes.slot");
const SLOT_EXPRESSION = 'globalThis[Symbol.for("memori.scopes.slot")]';
const STORE = `function (value) { ${SLOT_EXPRESSION} = value; }`;
const GROUP = "memori-scopes";

type Slot = Record<symbol, unknown>;

let session: Session | undefined;
/** scriptId → URL, refreshed when a function's script is not in it. */
const scripts = new Map<string, string>();

function post<T>(method: string, params: object): T {
  if (session === undefined) {
    session = new (inspector().Session)();
    session.connect();
  }
  let result: T | undefined;
  let failure: Error | null = null;
  session.post(method, params, (error, answer) => {
    failure = error;
    result = answer as T;
  });
  if (failure !== null) throw failure as Error;
  if (result === undefined) throw new Error(`inspector: ${method} did not answer synchronously`);
  return result;
}

function argumentOf(remote: RemoteObject): object {
  if (remote.objectId !== undefined) return { objectId: remote.objectId };
  if (remote.unserializableValue !== undefined) {
    return { unserializableValue: remote.unserializableValue };
  }
  return { value: remote.value };
}

/** The value a remote object stands for, as the very object (through the slot). */
function valueOf(remote: RemoteObject, anchor: string): unknown {
  if (remote.type === "undefined") return undefined;
  post("Runtime.callFunctionOn", {
    objectId: anchor,
    functionDeclaration: STORE,
    arguments: [argumentOf(remote)],
    silent: true,
  });
  const slot = globalThis as unknown as Slot;
  const value = slot[SLOT];
  delete slot[SLOT];
  return value;
}

function urlOf(scriptId: string): string | undefined {
  if (!scripts.has(scriptId)) {
    // Best-effort coverage lists live scripts with their URLs without the debugger, whose
    // first enabling costs tens of milliseconds. It leaves out scripts with no compiled
    // function left (bytecode flushed), so the debugger, which lists every script, comes next.
    post("Profiler.enable", {});
    const coverage = post<{ result: { scriptId: string; url: string }[] }>(
      "Profiler.getBestEffortCoverage",
      {},
    );
    for (const script of coverage.result) scripts.set(script.scriptId, script.url);
  }
  if (!scripts.has(scriptId)) {
    const listen = (message: { params: { scriptId: string; url: string } }): void => {
      scripts.set(message.params.scriptId, message.params.url);
    };
    session?.on("Debugger.scriptParsed", listen);
    try {
      post("Debugger.enable", {});
      post("Debugger.disable", {});
    } finally {
      session?.off("Debugger.scriptParsed", listen);
    }
  }
  const url = scripts.get(scriptId);
  return url === "" ? undefined : url;
}

/**
 * Reads, in one call, what each name is bound to in a function's scopes, in order (closures,
 * blocks, module), stopping before the global scope. Runs with `this` = the `[[Scopes]]` list,
 * whose entries carry their variables in `object`.
 */
const READ = `function (names) {
  const found = new Map();
  for (let i = 0; i < this.length; i++) {
    const scope = this[i];
    if (scope.description === "Global") break;
    const variables = scope.object;
    for (const name of names) {
      if (!found.has(name) && Object.prototype.hasOwnProperty.call(variables, name)) {
        found.set(name, variables[name]);
      }
    }
  }
  ${SLOT_EXPRESSION} = found;
}`;

/** The inspector's handles of a function: its object and internal properties. */
interface Handles {
  anchor: string;
  internal: Map<string, RemoteObject>;
}

/** A function's handles: its object's, then its internal properties ({@link internalOf}). */
function acquire(fn: AnyFunction): Handles {
  const slot = globalThis as unknown as Slot;
  slot[SLOT] = fn;
  let anchor: string | undefined;
  try {
    const evaluated = post<{ result: RemoteObject }>("Runtime.evaluate", {
      expression: SLOT_EXPRESSION,
      objectGroup: GROUP,
      silent: true,
    });
    anchor = evaluated.result.objectId;
  } finally {
    delete slot[SLOT];
  }
  if (anchor === undefined) throw new Error("inspector: a function came back without an object id");
  return { anchor, internal: internalOf(anchor) };
}

/**
 * The internal properties of the function whose handle is `anchor`, as V8 makes them now: its
 * `[[Scopes]]` are copies of its variables made when asked for (asked again at each reading).
 */
function internalOf(anchor: string): Map<string, RemoteObject> {
  acquired++;
  const properties = post<Properties>("Runtime.getProperties", {
    objectId: anchor,
    ownProperties: true,
  });
  const internal = new Map<string, RemoteObject>();
  for (const p of properties.internalProperties ?? []) {
    if (p.value !== undefined) internal.set(p.name, p.value);
  }
  return internal;
}

/** Handles are valid until the next {@link releaseScopes}: this counts releases. */
let generation = 0;
/** Functions acquired since the last release; released in batches of this many. */
let acquired = 0;
const RELEASE_EVERY = 256;
const known = new WeakMap<AnyFunction, FunctionScopes>();

/**
 * The scopes of `fn`: where its code is, known once per function object and process, and what
 * each name is bound to, read once per reading of bindings (reading.ts): what it was bound to
 * when first asked in this reading (a stage's identity does not drift within a run; the next
 * run reads it again). Reading is synchronous; names asked for together are read in one
 * inspector call.
 */
export function scopesOf(fn: AnyFunction): FunctionScopes {
  const cached = known.get(fn);
  if (cached !== undefined) return cached;
  let handles = acquire(fn);
  let handlesOf = generation;
  const { internal, anchor } = handles;
  const location = internal.get("[[FunctionLocation]]")?.value as
    { scriptId?: string; lineNumber?: number; columnNumber?: number } | undefined;
  const url = location?.scriptId === undefined ? undefined : urlOf(location.scriptId);

  let bound: FunctionScopes["bound"];
  const target = internal.get("[[TargetFunction]]");
  if (target !== undefined) {
    const args = internal.get("[[BoundArgs]]");
    bound = {
      target: valueOf(target, anchor) as AnyFunction,
      args: args === undefined ? [] : (valueOf(args, anchor) as unknown[]),
    };
  }

  const read = new Set<string>();
  const found = new Map<string, unknown>();
  let readIn = currentReading();
  let internalIn = readIn;
  const readNames = (wanted: readonly string[]): void => {
    if (readIn !== currentReading()) {
      // A new reading: what the names held then may have changed since.
      read.clear();
      found.clear();
      readIn = currentReading();
    }
    const fresh = wanted.filter((name) => !read.has(name));
    if (fresh.length === 0) return;
    if (handlesOf !== generation) {
      handles = acquire(fn); // released: the function's handle too
      handlesOf = generation;
      internalIn = readIn;
    } else if (internalIn !== readIn) {
      handles = { anchor: handles.anchor, internal: internalOf(handles.anchor) };
      internalIn = readIn;
    }
    const list = handles.internal.get("[[Scopes]]")?.objectId;
    for (const name of fresh) read.add(name);
    if (list === undefined) return;
    const slot = globalThis as unknown as Slot;
    post("Runtime.callFunctionOn", {
      objectId: list,
      functionDeclaration: READ,
      arguments: [{ value: fresh }],
      silent: true,
    });
    const values = slot[SLOT] as Map<string, unknown> | undefined;
    delete slot[SLOT];
    for (const [name, value] of values ?? []) found.set(name, value);
  };

  const scopes: FunctionScopes = {
    url,
    location:
      location?.lineNumber === undefined || location.columnNumber === undefined
        ? undefined
        : { line: location.lineNumber, column: location.columnNumber },
    bound,
    resolve(name: string): Binding {
      readNames([name]);
      return found.has(name) ? { kind: "bound", value: found.get(name) } : { kind: "global" };
    },
    prefetch(names: readonly string[]): void {
      readNames(names);
    },
  };
  known.set(fn, scopes);
  return scopes;
}

/**
 * Release what the inspector holds for scopes read so far (remote object ids), once enough
 * have piled up; what was read stays known.
 */
export function releaseScopes(): void {
  // Releasing costs a round trip: let handles pile up a little first.
  if (session === undefined || acquired < RELEASE_EVERY) return;
  post("Runtime.releaseObjectGroup", { objectGroup: GROUP });
  acquired = 0;
  generation++;
}
