/**
 * What esbuild's `keepNames` adds to code, told apart so that it does not count in a
 * function's code identity. tsx (and so `memori run`) transforms with `keepNames`, tsc does
 * not: without this, a stage with a named inner function, arrow or class would re-run when its
 * project switches between them. esbuild (its parser's `keepNames` lowering, Node targets, where
 * classes have static blocks) adds exactly these, all calls of its helper `__name`:
 *
 * - `__name(EXPR, "name")` around a named arrow, function or class expression (`const f =
 *   __name(() => 1, "f")`, an object's or class's property, a default value);
 * - the statement `__name(inc, "inc");` after a function declaration;
 * - `static { __name(this, "Box"); }`, first in a class's body (a declaration or an expression).
 *
 * In a function's normalized AST, the first reads as `EXPR`; the other two are left out, and so
 * is a static block they alone made. Only that shape counts: a call of `__name` (bound outside
 * the function) with exactly two arguments, the second a string literal, the first no spread;
 * a statement only when the first argument is a name or `this` (nothing to evaluate).
 *
 * Whether the `__name` a function calls is esbuild's helper is known only at run time (its
 * bindings, closure.ts): esbuild's is not a dependency, while a function of the user's that
 * happens to be called `__name` is one, and the calls as written count too (see
 * `asWritten` in source.ts). (In a module esbuild transformed, a name `__name` of the
 * user's is renamed `__name2`, so there a free `__name` is always the helper.)
 *
 * Not covered: targets without static blocks (below ES2022), where esbuild also lowers class
 * fields and so differs from tsc beyond names; minified identifiers (the helper renamed).
 */
import type { Node } from "acorn";

type AnyNode = Node & Record<string, unknown>;

/** The name of esbuild's helper, in code it transformed with `keepNames`. */
export const KEEP_NAMES_HELPER = "__name";

function isObject(value: unknown): value is AnyNode {
  return typeof value === "object" && value !== null;
}

/**
 * Whether `node` is a call `__name(EXPR, "name")` of a `__name` not bound inside the function
 * (`locals` holds the identifiers of bindings declared in it).
 */
export function isKeepNamesCall(node: unknown, locals: ReadonlyMap<unknown, string>): boolean {
  if (!isObject(node) || node.type !== "CallExpression" || node.optional === true) return false;
  const callee = node.callee as AnyNode;
  if (callee.type !== "Identifier" || callee.name !== KEEP_NAMES_HELPER) return false;
  if (locals.has(callee)) return false;
  const args = node.arguments as AnyNode[];
  const [target, name] = args;
  return (
    args.length === 2 &&
    target?.type !== "SpreadElement" &&
    name?.type === "Literal" &&
    typeof name.value === "string"
  );
}

/** Whether `node` is a statement `__name(inc, "inc");` or `__name(this, "Box");`. */
function isKeepNamesStatement(node: unknown, locals: ReadonlyMap<unknown, string>): boolean {
  if (!isObject(node) || node.type !== "ExpressionStatement") return false;
  const call = node.expression as AnyNode;
  if (!isKeepNamesCall(call, locals)) return false;
  const target = (call.arguments as AnyNode[])[0];
  return target?.type === "Identifier" || target?.type === "ThisExpression";
}

/**
 * Whether an element of a list of statements (or of class members) is esbuild's alone: a
 * `__name` statement, or a static block holding nothing else (an empty `static {}` written by
 * hand stays).
 */
export function isKeepNamesOnly(node: unknown, locals: ReadonlyMap<unknown, string>): boolean {
  if (isKeepNamesStatement(node, locals)) return true;
  if (!isObject(node) || node.type !== "StaticBlock") return false;
  const body = node.body as unknown[];
  return body.length > 0 && body.every((statement) => isKeepNamesStatement(statement, locals));
}

/** esbuild's helper, as its runtime writes it (whitespace aside; `!0` when minified). */
const HELPER_TEXTS = new Set([
  '(target,value)=>__defProp(target,"name",{value,configurable:true})',
  '(target,value)=>__defProp(target,"name",{value,configurable:!0})',
]);

/** Whether `value` is esbuild's `__name` helper, by its source text. */
export function isKeepNamesHelper(value: unknown): boolean {
  if (typeof value !== "function") return false;
  const text = Function.prototype.toString.call(value).replace(/\s+/g, "");
  return HELPER_TEXTS.has(text);
}
