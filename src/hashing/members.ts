/**
 * What the walk of a function's bindings (closure.ts) looks into: the members of plain objects,
 * arrays, Maps and Sets that hold functions, and the members added to a function or class
 * beyond its text.
 */
import { isModuleNamespace } from "./packages.js";

/** What every function or class has of its own, whatever its code. */
export const OWN_OF_FUNCTION = new Set(["length", "name", "prototype", "arguments", "caller"]);
/** What every prototype has of its own. */
export const OWN_OF_PROTOTYPE = new Set(["constructor"]);

/**
 * The members of a function or class (or its prototype) that its text, `text`, does not
 * define: assigned outside its body (`K.factor = 2`, `K.prototype.f = …`: enumerable), or put
 * there by `Object.defineProperty` or a decorator (a method replaced by the function a
 * decorator returned: not enumerable, and not code of the class's text). A method or accessor
 * of the class's own body (its text inside `text`) is part of the class's code already.
 */
export function addedMembers(
  target: object,
  text: string,
  always: ReadonlySet<string>,
): [string, unknown][] {
  const added: [string, unknown][] = [];
  for (const name of Object.getOwnPropertyNames(target)) {
    if (always.has(name)) continue;
    const descriptor = Object.getOwnPropertyDescriptor(target, name)!;
    if (descriptor.enumerable) {
      added.push([name, (target as Record<string, unknown>)[name]]);
      continue;
    }
    const parts: [string, unknown][] =
      "value" in descriptor
        ? [[name, descriptor.value]]
        : [
            [`${name}<get>`, descriptor.get],
            [`${name}<set>`, descriptor.set],
          ];
    for (const [part, value] of parts) {
      if (value === undefined) continue;
      if (typeof value === "function" && text.includes(Function.prototype.toString.call(value)))
        continue; // the body's own
      added.push([part, value]);
    }
  }
  return added;
}

/** Whether `value` is a plain object or array (walked into for functions). */
export function isPlainContainer(value: object): boolean {
  if (Array.isArray(value)) return true;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Arrays, Maps and Sets: what calling `x.push()` or `x.set()` on changes. */
export function isCollection(value: unknown): boolean {
  return (
    Array.isArray(value) ||
    value instanceof Map ||
    value instanceof Set ||
    value instanceof WeakMap ||
    value instanceof WeakSet
  );
}

/** Functions, classes and module namespaces: what assigning to a member of is not state. */
export function isCode(value: unknown): boolean {
  if (typeof value === "function") return true;
  return typeof value === "object" && value !== null && isModuleNamespace(value);
}

export function containsFunction(value: unknown, seen: Set<object>): boolean {
  if (typeof value === "function") return true;
  if (typeof value !== "object" || value === null || seen.has(value)) return false;
  const members = isPlainContainer(value) ? ownMembers(value) : collectionMembers(value);
  if (members === undefined) return false;
  seen.add(value);
  return members.some(([, v]) => containsFunction(v, seen));
}

/**
 * A Map's or Set's members, named as the walk names them (`.get("scale")` for a Map's string
 * or number key, `<entry 2>`/`<item 2>` by position otherwise, the key itself as a member
 * too); `undefined` for anything else (a subclass included).
 */
export function collectionMembers(value: object): [string, unknown][] | undefined {
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto === Map.prototype) {
    const members: [string, unknown][] = [];
    let i = 0;
    for (const [k, v] of value as Map<unknown, unknown>) {
      if (typeof k === "string" || typeof k === "number")
        members.push([`.get(${JSON.stringify(k)})`, v]);
      else members.push([`<entry ${i}>`, [k, v]]);
      i++;
    }
    return members;
  }
  if (proto === Set.prototype)
    return [...(value as Set<unknown>)].map((v, i) => [`<item ${i}>`, v]);
  return undefined;
}

/**
 * A plain container's own members, non-enumerable ones included (a function kept in a
 * non-enumerable property is still called), an array's `length` aside. An accessor is its
 * getter and setter, as code (`db<get>`): never called here, so a getter that loads or
 * connects (or throws, not ready yet) does nothing while the stage is hashed.
 */
export function ownMembers(value: object): [string, unknown][] {
  const members: [string, unknown][] = [];
  for (const name of Object.getOwnPropertyNames(value)) {
    if (name === "length" && Array.isArray(value)) continue;
    const descriptor = Object.getOwnPropertyDescriptor(value, name)!;
    if ("value" in descriptor) members.push([name, descriptor.value]);
    else {
      if (descriptor.get !== undefined) members.push([`${name}<get>`, descriptor.get]);
      if (descriptor.set !== undefined) members.push([`${name}<set>`, descriptor.set]);
    }
  }
  return members;
}
