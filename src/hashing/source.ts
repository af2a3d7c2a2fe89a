/**
 * Reading a function's source: its parameter names and a hash of its normalized AST.
 *
 * The AST (acorn) is serialized without positions, raw literal text, comments or
 * parentheses, so formatting, quote style and comments do not change the hash, while any
 * change to what the code does changes it.
 */
import type { Node } from "acorn";
import { MemoriError } from "../errors.js";
import { sha256, type Sha256Hex } from "./files.js";
import { freeReferences, isNode, type EnvReads, type FreeReference } from "./free-references.js";
import { isKeepNamesCall, isKeepNamesOnly, KEEP_NAMES_HELPER } from "./keep-names.js";
import { acornModule, acornWalk } from "../lazy-modules.js";

export type { FreeReference } from "./free-references.js";

/** A parameter of a stage function. */
export interface Parameter {
  /** The name arguments are matched by. */
  name: string;
  /** Whether the source gives it a default value. */
  hasDefault: boolean;
  /** Where its name starts in the function's source text (positional parameters). */
  at?: number;
}

/** What memori reads from a function's source. */
export interface ParsedSource {
  /**
   * `positional`: parameters are matched by position and name, as in `(a, b = 2) => ...`.
   * `object`: the function takes one destructured object, `({ a, b }) => ...`; its keys are
   * the parameters and the function is called with one object.
   */
  mode: "positional" | "object";
  parameters: Parameter[];
  /** The name of a rest parameter (`...files`), if any. */
  rest: string | undefined;
  /** SHA-256 of the normalized AST (esbuild's `keepNames` calls left out: keep-names.ts). */
  hash: Sha256Hex;
  /**
   * SHA-256 of the normalized AST with the calls of `__name` that {@link hash} leaves out, when
   * it left out any: what counts of them when `__name` is not esbuild's helper (closure.ts).
   */
  asWritten?: Sha256Hex;
  /** Every identifier the code refers to (candidates for hashable callees). */
  identifiers: Set<string>;
  /** The free identifiers of the code (bound outside it), by name. */
  free: FreeReference[];
  /**
   * What the code reads by name of each free identifier, should it be the process
   * (`process.env.NAME`) or its environment (`env.NAME`, `env` imported from `node:process`).
   */
  env: Record<string, EnvReads>;
  /**
   * Where V8 says the function starts, in its source text: an arrow function's first
   * character, any other function's parameter list `(`. With V8's location of the function,
   * this places each parameter in the script, for source maps.
   */
  start?: number | undefined;
  /** A class's `extends` name, when it is a plain name (its value is the class's prototype). */
  superName?: string;
}

type AnyNode = Node & Record<string, unknown>;

// acorn is loaded on first use: the command line often needs no parsing at all.
let acorn: typeof import("acorn") | undefined;
let walk: typeof import("acorn-walk") | undefined;

function parser(): {
  parse: typeof import("acorn").parse;
  tokenizer: typeof import("acorn").tokenizer;
  full: typeof import("acorn-walk").full;
} {
  acorn ??= acornModule();
  walk ??= acornWalk();
  return { parse: acorn.parse, tokenizer: acorn.tokenizer, full: walk.full };
}

const SKIPPED_KEYS = new Set(["start", "end", "loc", "range", "raw", "sourceFile", "shorthand"]);

/** Nodes whose non-computed `key` is a property's name, never a binding. */
const KEYED = new Set(["Property", "MethodDefinition", "PropertyDefinition"]);

/**
 * A canonical string for an AST node: type and fields, no positions or raw text; identifiers
 * of local bindings by the names `locals` gives them. (`{ a }` and `{ a: a }` are the same.)
 * With `keepNames`, what esbuild's `keepNames` adds is left out (keep-names.ts).
 */
function normalize(
  node: unknown,
  locals: ReadonlyMap<unknown, string>,
  keepNames: boolean,
  isKey = false,
): string {
  if (Array.isArray(node)) {
    const kept = keepNames ? node.filter((n) => !isKeepNamesOnly(n, locals)) : node;
    return `[${kept.map((n) => normalize(n, locals, keepNames)).join(",")}]`;
  }
  if (keepNames && isKeepNamesCall(node, locals)) {
    return normalize((node as { arguments: unknown[] }).arguments[0], locals, keepNames);
  }
  if (node === null || node === undefined) return "null";
  if (typeof node === "bigint") return `${node}n`;
  // Exact numbers: JSON would write 1e999 (Infinity) as null, the same as the literal null.
  if (typeof node === "number") return Object.is(node, -0) ? "-0" : String(node);
  if (typeof node !== "object") return JSON.stringify(node);
  if (node instanceof RegExp) return JSON.stringify(String(node));
  const record = node as Record<string, unknown>;
  if (record.type === "Identifier" && !isKey) {
    const local = locals.get(node);
    if (local !== undefined) return `{"name":${JSON.stringify(local)},"type":"Identifier"}`;
  }
  const parts: string[] = [];
  for (const key of Object.keys(record).sort()) {
    // A literal's `raw` is its spelling (quotes, 0x10 for 16); a template element's raw text
    // is what String.raw and other tags read, so it stays.
    if (key === "raw" && record.type === undefined) {
      parts.push(`"raw":${JSON.stringify(record.raw)}`);
      continue;
    }
    if (SKIPPED_KEYS.has(key)) continue;
    // A literal's `value` is enough; `regex` and `bigint` say the rest.
    const name = key === "key" && KEYED.has(record.type as string) && record.computed !== true;
    parts.push(`${JSON.stringify(key)}:${normalize(record[key], locals, keepNames, name)}`);
  }
  return `{${parts.join(",")}}`;
}

const NATIVE = /\{\s*\[native code\]\s*\}\s*$/;

function parseExpression(code: string): AnyNode | undefined {
  // As a script first (code from CommonJS may be sloppy-mode), then as a module: code from an
  // ES module may use `import.meta`, which only a module may.
  for (const sourceType of ["script", "module"] as const) {
    try {
      const program = parser().parse(code, {
        ecmaVersion: "latest",
        sourceType,
        ranges: true, // eslint-scope reads them; the hash skips them
      }) as unknown as AnyNode;
      const body = program.body as AnyNode[];
      const statement = body[0];
      if (body.length !== 1 || statement?.type !== "ExpressionStatement") return undefined;
      return statement.expression as AnyNode;
    } catch {
      // try the next way
    }
  }
  return undefined;
}

/**
 * Find the function (or class) node for a function's `toString()`: a function or arrow
 * expression, a class, or a method (`name(a) {...}`, `async *name() {...}`, getters).
 */
function functionNode(source: string): { node: AnyNode; shift: number } | undefined {
  const asExpression = parseExpression(`(${source}\n)`);
  if (
    asExpression?.type === "FunctionExpression" ||
    asExpression?.type === "ArrowFunctionExpression" ||
    asExpression?.type === "ClassExpression"
  ) {
    return { node: asExpression, shift: 1 };
  }
  const asMethod = parseExpression(`({${source}\n})`);
  const property = (asMethod?.properties as AnyNode[] | undefined)?.[0];
  if (asMethod?.type === "ObjectExpression" && isNode(property?.value)) {
    return { node: property.value, shift: 2 };
  }
  const asClassMember = parseExpression(`(class {${source}\n})`);
  const member = ((asClassMember?.body as AnyNode | undefined)?.body as AnyNode[] | undefined)?.[0];
  if (member && isNode(member.value)) return { node: member.value, shift: 8 };
  return undefined;
}

/** The offset of V8's start position of a function in its source text (see ParsedSource). */
function v8Start(source: string, node: AnyNode, shift: number): number | undefined {
  const params = node.params as AnyNode[] | undefined;
  const first = params?.[0];
  if (first === undefined) return undefined;
  // V8 starts an arrow function where its text starts (`async`, `(` or its one parameter)...
  if (node.type === "ArrowFunctionExpression") return 0;
  // ...and any other function at the "(" of its parameter list.
  const at = (first.start as number) - shift;
  // Tokens between the function's start and its first parameter: the last "(" opens the list.
  let open: number | undefined;
  try {
    for (const token of parser().tokenizer(source.slice(0, at), { ecmaVersion: "latest" })) {
      if (token.type.label === "(") open = token.start;
    }
  } catch {
    return undefined;
  }
  return open;
}

function parameterName(node: AnyNode, index: number, fnName: string, shift: number): Parameter {
  if (node.type === "Identifier") {
    return { name: node.name as string, hasDefault: false, at: (node.start as number) - shift };
  }
  const left = node.left as AnyNode | undefined;
  if (node.type === "AssignmentPattern" && left?.type === "Identifier") {
    return { name: left.name as string, hasDefault: true, at: (left.start as number) - shift };
  }
  throw new MemoriError(
    "source-unavailable",
    `function "${fnName}": parameter ${index + 1} is a destructuring pattern, so memori cannot match arguments to it by name. Give it a name, or make the function take a single destructured object ({ a, b }).`,
  );
}

function objectParameters(pattern: AnyNode, fnName: string): Parameter[] | undefined {
  const parameters: Parameter[] = [];
  for (const property of pattern.properties as AnyNode[]) {
    if (property.type !== "Property" || property.computed) return undefined;
    const key = property.key as AnyNode;
    const name = key.type === "Identifier" ? (key.name as string) : String(key.value);
    const value = property.value as AnyNode;
    parameters.push({ name, hasDefault: value.type === "AssignmentPattern" });
  }
  if (parameters.length === 0) {
    throw new MemoriError(
      "source-unavailable",
      `function "${fnName}" takes an empty destructured object, so it has no named inputs.`,
    );
  }
  return parameters;
}

/**
 * Parse a function's source. Throws a {@link MemoriError} (`source-unavailable`) for native
 * and bound functions, whose source JavaScript does not expose.
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type -- any function or class
export function parseSource(fn: Function): ParsedSource {
  const fnName = fn.name || "<anonymous>";
  const source = Function.prototype.toString.call(fn);
  if (NATIVE.test(source)) {
    throw new MemoriError(
      "source-unavailable",
      `function "${fnName}" is native or bound (its source reads "[native code]"), so memori cannot hash its code. Wrap it in a function of your own: (x) => ${fn.name.replace(/^bound /, "") || "fn"}(x).`,
    );
  }
  const found = functionNode(source);
  if (found === undefined) {
    throw new MemoriError(
      "source-unavailable",
      `function "${fnName}": its source could not be parsed as JavaScript, so memori cannot hash it.`,
    );
  }
  const { node, shift } = found;
  const identifiers = new Set<string>();
  parser().full(node, (n) => {
    if (n.type === "Identifier") identifiers.add((n as unknown as { name: string }).name);
  });
  // The function's own name is left out: renaming does not change what it does (the stage
  // name, which keys the state files, is separate).
  const { free, env, locals } = freeReferences(node);
  const asWritten = sha256(normalize({ ...node, id: null }, locals, false));
  // Code esbuild transformed with `keepNames` (tsx) calls `__name`: only such code hashes
  // otherwise than as written (keep-names.ts).
  const hash = identifiers.has(KEEP_NAMES_HELPER)
    ? sha256(normalize({ ...node, id: null }, locals, true))
    : asWritten;
  const superClass = node.superClass as AnyNode | null | undefined;
  const facts = {
    hash,
    ...(hash === asWritten ? {} : { asWritten }),
    identifiers,
    free,
    env,
    start: v8Start(source, node, shift),
    ...(superClass?.type === "Identifier" ? { superName: superClass.name as string } : {}),
  };
  if (node.type === "ClassExpression") {
    return { mode: "positional", parameters: [], rest: undefined, ...facts };
  }
  const params = node.params as AnyNode[];
  const first = params[0];
  if (params.length === 1 && first?.type === "ObjectPattern") {
    const parameters = objectParameters(first, fnName);
    if (parameters !== undefined) return { mode: "object", parameters, rest: undefined, ...facts };
  }
  let rest: string | undefined;
  const parameters: Parameter[] = [];
  params.forEach((param, index) => {
    if (param.type === "RestElement" && (param.argument as AnyNode).type === "Identifier") {
      rest = (param.argument as AnyNode).name as string;
    } else {
      parameters.push(parameterName(param, index, fnName, shift));
    }
  });
  return { mode: "positional", parameters, rest, ...facts };
}
