/**
 * The free identifiers of a function's code (bound outside it), found with eslint-scope on the
 * acorn AST: which names, which members of them are read, which the code keeps state in, and
 * which environment variables it reads by name. What they are bound to is read at run time
 * (scopes.ts, closure.ts).
 */
import type { Node } from "acorn";
import { eslintScopeModule } from "../lazy-modules.js";

type AnyNode = Node & Record<string, unknown>;

/** A free identifier of a function's code. */
export interface FreeReference {
  name: string;
  /**
   * The members read from it when every use is `name.member` or `name["member"]` (so a
   * module namespace counts only for what is used); `undefined` when it is used whole.
   */
  members: string[] | undefined;
  /**
   * Whether the code assigns it or changes it in place: `"assigned"` (`n++`, `calls.n += 1`),
   * `"method"` (`seen.add(x)`, state only if it holds an array, Map or Set): a variable the code
   * keeps state in, not something its result is built from.
   */
  state: "assigned" | "method" | undefined;
}

/** Methods of arrays, Maps and Sets that change them in place. */
const MUTATORS = new Set([
  "push",
  "pop",
  "shift",
  "unshift",
  "splice",
  "sort",
  "reverse",
  "fill",
  "copyWithin",
  "set",
  "add",
  "delete",
  "clear",
]);

let scope: EslintScope | undefined;

/** A reference as eslint-scope gives it. */
interface ScopeReference {
  identifier: Node & { name: string };
  isWrite(): boolean;
}

/** The part of eslint-scope (which ships no types) that memori uses. */
interface EslintScope {
  analyze(
    program: object,
    options: { ecmaVersion: number; sourceType: "script"; fallback: "iteration" },
  ): {
    globalScope: { through: ScopeReference[] };
    scopes: {
      type: string;
      variables: { identifiers: Node[]; references: ScopeReference[] }[];
    }[];
  };
}
function eslintScope(): EslintScope {
  scope ??= eslintScopeModule() as EslintScope;
  return scope;
}

/** Whether a value is an AST node. */
export function isNode(value: unknown): value is AnyNode {
  return typeof value === "object" && value !== null && typeof (value as Node).type === "string";
}

/** The name of a member read with a literal key: `a.b`, `a["b"]`. */
function literalMember(parent: AnyNode | undefined, child: AnyNode): string | undefined {
  if (parent?.type !== "MemberExpression" || parent.object !== child) return undefined;
  const property = parent.property as AnyNode;
  if (!parent.computed && property.type === "Identifier") return property.name as string;
  if (parent.computed && property.type === "Literal" && typeof property.value === "string") {
    return property.value;
  }
  return undefined;
}

/**
 * How `id` is changed in place, if it is: `"assigned"` (`id.a = …`, `id.a.b++`, `delete id.a`),
 * `"method"` (`id.push(…)`, `id.set(…)`: state only if `id` is an array, Map or Set).
 */
function changedInPlace(
  id: AnyNode,
  parents: Map<AnyNode, AnyNode>,
): "assigned" | "method" | undefined {
  let node = id;
  let parent = parents.get(node);
  let member: string | undefined;
  while (parent?.type === "MemberExpression" && parent.object === node) {
    member = literalMember(parent, node);
    node = parent;
    parent = parents.get(node);
  }
  if (node === id || parent === undefined) return undefined;
  if (parent.type === "AssignmentExpression" && parent.left === node) return "assigned";
  if (parent.type === "UpdateExpression") return "assigned";
  if (parent.type === "UnaryExpression" && parent.operator === "delete") return "assigned";
  const called =
    parent.type === "CallExpression" &&
    parent.callee === node &&
    member !== undefined &&
    MUTATORS.has(member);
  return called ? "method" : undefined;
}

/**
 * The free identifiers of a function node, the environment variables it reads, and a name for
 * each identifier of a binding declared inside it, by the order of declaration (`$0`, `$1`,
 * ...): local names do not count in the code's identity, so a compiler that renames a local
 * binding (esbuild turns a parameter `outDir` that shadows a top-level `outDir` into
 * `outDir2`) or a local renamed by hand changes nothing.
 */
export function freeReferences(node: AnyNode): {
  free: FreeReference[];
  env: string[];
  envWhole: boolean;
  locals: Map<AnyNode, string>;
} {
  const parents = new Map<AnyNode, AnyNode>();
  const visit = (n: AnyNode): void => {
    for (const [key, value] of Object.entries(n)) {
      if (key === "loc") continue;
      for (const item of Array.isArray(value) ? value : [value]) {
        if (isNode(item)) {
          parents.set(item, n);
          visit(item);
        }
      }
    }
  };
  visit(node);
  const program = {
    type: "Program",
    sourceType: "script",
    body: [{ type: "ExpressionStatement", expression: node }],
  };
  const manager = eslintScope().analyze(program, {
    ecmaVersion: 2022,
    sourceType: "script",
    fallback: "iteration",
  });
  const { through } = manager.globalScope;
  const locals = new Map<AnyNode, string>();
  let count = 0;
  for (const scope of manager.scopes) {
    if (scope.type === "global") continue;
    for (const variable of scope.variables) {
      if (variable.identifiers.length === 0) continue; // `arguments`
      const local = `$${count++}`;
      for (const id of variable.identifiers) locals.set(id as unknown as AnyNode, local);
      for (const ref of variable.references)
        locals.set(ref.identifier as unknown as AnyNode, local);
    }
  }
  const byName = new Map<string, Set<string> | undefined>();
  const state = new Map<string, "assigned" | "method">();
  const env = new Set<string>();
  let envWhole = false;
  for (const reference of through) {
    const { identifier } = reference;
    const id = identifier as unknown as AnyNode;
    const name = identifier.name;
    const parent = parents.get(id);
    const member = literalMember(parent, id);
    const change = reference.isWrite() ? "assigned" : changedInPlace(id, parents);
    if (change !== undefined && state.get(name) !== "assigned") state.set(name, change);
    if (name === "process" && member === "env" && parent !== undefined) {
      const above = parents.get(parent);
      const variable = literalMember(above, parent);
      const destructured = above?.type === "VariableDeclarator" && above.init === parent;
      const pattern = destructured ? (above.id as AnyNode) : undefined;
      if (variable !== undefined) env.add(variable);
      else if (pattern?.type === "ObjectPattern") {
        // const { FSLDIR, OMP_NUM_THREADS = "1" } = process.env
        for (const property of pattern.properties as AnyNode[]) {
          const key = property.key as AnyNode | undefined;
          if (property.type !== "Property" || property.computed || key === undefined) {
            envWhole = true;
          } else env.add(key.type === "Identifier" ? (key.name as string) : String(key.value));
        }
      } else if (!(above?.type === "AssignmentExpression" && above.left === parent)) {
        envWhole = true; // passed on, aliased, or indexed by a computed name
      }
    }
    if (!byName.has(name)) byName.set(name, new Set());
    const members = byName.get(name);
    if (member === undefined) byName.set(name, undefined);
    else members?.add(member);
  }
  const free = [...byName.keys()].sort().map((name) => {
    const members = byName.get(name);
    return {
      name,
      members: members === undefined ? undefined : [...members].sort(),
      state: state.get(name),
    };
  });
  return { free, env: [...env].sort(), envWhole, locals };
}
