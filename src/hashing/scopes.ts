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
import { Session } from "node:inspector";

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
    session = new Session();
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

interface Scope {
  objectId: string;
  global: boolean;
  /** Its variables, read on first use. */
  variables?: Map<string, RemoteObject>;
}

/**
 * The scopes of `fn`. Reading them is synchronous and costs a few inspector round trips; the
 * caller caches what it derives per function object.
 */
export function scopesOf(fn: AnyFunction): FunctionScopes {
  const slot = globalThis as unknown as Slot;
  slot[SLOT] = fn;
  let anchor: string;
  let properties: Properties;
  try {
    const evaluated = post<{ result: RemoteObject }>("Runtime.evaluate", {
      expression: SLOT_EXPRESSION,
      objectGroup: GROUP,
      silent: true,
    });
    if (evaluated.result.objectId === undefined) {
      throw new Error("inspector: a function came back without an object id");
    }
    anchor = evaluated.result.objectId;
    properties = post<Properties>("Runtime.getProperties", {
      objectId: anchor,
      ownProperties: true,
    });
  } finally {
    delete slot[SLOT];
  }
  const internal = new Map(
    (properties.internalProperties ?? []).map((p) => [p.name, p.value] as const),
  );
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

  const scopes: Scope[] = [];
  const scopeList = internal.get("[[Scopes]]");
  if (scopeList?.objectId !== undefined) {
    const list = post<Properties>("Runtime.getProperties", {
      objectId: scopeList.objectId,
      ownProperties: true,
    });
    for (const entry of list.result) {
      if (entry.value?.objectId === undefined || !/^\d+$/.test(entry.name)) continue;
      scopes.push({
        objectId: entry.value.objectId,
        global: entry.value.description === "Global",
      });
    }
  }

  const resolved = new Map<string, Binding>();
  return {
    url,
    location:
      location?.lineNumber === undefined || location.columnNumber === undefined
        ? undefined
        : { line: location.lineNumber, column: location.columnNumber },
    bound,
    resolve(name: string): Binding {
      let binding = resolved.get(name);
      if (binding !== undefined) return binding;
      binding = { kind: "global" };
      for (const scope of scopes) {
        if (scope.global) break;
        if (scope.variables === undefined) {
          const variables = post<Properties>("Runtime.getProperties", {
            objectId: scope.objectId,
            ownProperties: true,
          });
          scope.variables = new Map();
          for (const v of variables.result) {
            if (v.value !== undefined) scope.variables.set(v.name, v.value);
          }
        }
        const remote = scope.variables.get(name);
        if (remote !== undefined) {
          binding = { kind: "bound", value: valueOf(remote, anchor) };
          break;
        }
      }
      resolved.set(name, binding);
      return binding;
    },
  };
}

/** Release what the inspector holds for scopes read so far (remote object ids). */
export function releaseScopes(): void {
  if (session !== undefined) post("Runtime.releaseObjectGroup", { objectGroup: GROUP });
}
