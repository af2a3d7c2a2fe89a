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
  /**
   * Used only in a class's `extends` expression (`extends base.Model`, `extends mix(Base)`):
   * evaluated once, when the class was defined, so no scope of the class keeps it; what it gave
   * is followed as the class's prototype.
   */
  extendsOnly?: true;
}

/**
 * What a function's code reads by name of one free identifier, for when it turns out to be the
 * process or its environment (scopes.ts tells at run time).
 */
export interface EnvReads {
  /** Read as `name.env.NAME`, `name.env["NAME"]`, or destructured from `name.env`. */
  env: string[];
  /** `name.env` used otherwise (passed on, aliased, indexed by a computed name). */
  envWhole: boolean;
  /** Read as `name.NAME`, `name["NAME"]`, or destructured from `name`. */
  keys: string[];
  /** `name` used otherwise. */
  keysWhole: boolean;
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
  env: Record<string, EnvReads>;
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
  const env: Record<string, EnvReads> = {};
  const readsOf = (name: string) =>
    (env[name] ??= { env: [], envWhole: false, keys: [], keysWhole: false });
  const superClass = node.superClass as AnyNode | null | undefined;
  const outsideExtends = new Set<string>();
  for (const reference of through) {
    const { identifier } = reference;
    const id = identifier as unknown as AnyNode;
    const name = identifier.name;
    if (superClass == null || !isInside(id, superClass, parents)) outsideExtends.add(name);
    const parent = parents.get(id);
    const member = literalMember(parent, id);
    const change = reference.isWrite() ? "assigned" : changedInPlace(id, parents);
    if (change !== undefined && state.get(name) !== "assigned") state.set(name, change);
    // What is read of it by name, should it be the environment (`env` imported from
    // `node:process`): `env.NAME`, `env["NAME"]`, `const { NAME } = env`.
    const keys = namesRead(id, parents);
    const reads = readsOf(name);
    if (keys === undefined) reads.keysWhole = true;
    else reads.keys.push(...keys);
    // ... and of its `env`, should it be the process (`process`, global or imported):
    // `process.env.NAME`, `const { NAME } = process.env`.
    if (member === "env" && parent !== undefined) {
      const variables = namesRead(parent, parents);
      if (variables === undefined) reads.envWhole = true;
      else reads.env.push(...variables);
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
      ...(outsideExtends.has(name) ? {} : { extendsOnly: true as const }),
    };
  });
  for (const reads of Object.values(env)) {
    reads.env = [...new Set(reads.env)].sort();
    reads.keys = [...new Set(reads.keys)].sort();
  }
  return { free, env, locals };
}

/** Whether `node` is `ancestor` or inside it. */
function isInside(node: AnyNode, ancestor: AnyNode, parents: Map<AnyNode, AnyNode>): boolean {
  for (let at: AnyNode | undefined = node; at !== undefined; at = parents.get(at)) {
    if (at === ancestor) return true;
  }
  return false;
}

/**
 * The names used of what `node` evaluates to: `[NAME]` for `node.NAME` or `node["NAME"]` (read
 * or written), the keys of `const { A, B = 1 } = node`, none for `node = ...`; `undefined` when
 * it is used otherwise (passed on, aliased, indexed by a computed name).
 */
function namesRead(node: AnyNode, parents: Map<AnyNode, AnyNode>): string[] | undefined {
  const parent = parents.get(node);
  const member = literalMember(parent, node);
  if (member !== undefined) return [member];
  if (parent?.type === "AssignmentExpression" && parent.left === node) return [];
  if (parent?.type === "VariableDeclarator" && parent.init === node) {
    const pattern = parent.id as AnyNode;
    if (pattern.type !== "ObjectPattern") return undefined;
    const names: string[] = [];
    for (const property of pattern.properties as AnyNode[]) {
      const key = property.key as AnyNode | undefined;
      if (property.type !== "Property" || property.computed || key === undefined) return undefined;
      names.push(key.type === "Identifier" ? (key.name as string) : String(key.value));
    }
    return names;
  }
  return undefined;
}
