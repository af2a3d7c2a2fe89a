// esbuild's keepNames (tsx, `memori run`) wraps every named function and class in
// `__name(fn, "name")`; tsc does not. Neither counts in a function's code identity, so a stage
// run under tsx is cached under tsc's output and back (keep-names.ts).
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { transformSync } from "esbuild";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { describeReason, hashFunction, type Reason } from "../../src/index.js";
import { tempDir, writeTree } from "../util/tmp.js";

type Module = Record<string, (...args: never[]) => unknown>;

/** Load functions from a real module source file, the way user code reaches memori. */
async function load(code: string): Promise<Module> {
  const file = path.join(await tempDir(), `m${Math.random().toString(36).slice(2)}.mjs`);
  await writeFile(file, code);
  return (await import(pathToFileURL(file).href)) as Module;
}

/** TypeScript as tsx compiles it (its esbuild options), and as tsc does. */
const byTsx = (source: string) =>
  load(
    transformSync(source, {
      loader: "ts",
      format: "esm",
      target: `node${process.versions.node}`,
      keepNames: true,
      minifyWhitespace: true,
    }).code,
  );
const byTsc = (source: string) =>
  load(
    ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText,
  );

/** Each shape esbuild's keepNames wraps: functions, arrows, classes, their expressions, members. */
const SHAPES = `
export const arrows = (x: number) => {
  const double = (y: number) => y * 2;
  const anon = function (y: number) { return y; };
  const named = function inner(y: number) { return y; };
  let later: () => number;
  later = () => 1;
  return double(x) + anon(x) + named(x) + later();
};
export function declarations(x: number) {
  function inc(y: number) { return y + 1; }
  async function af() { return 1; }
  function* gen() { yield 1; }
  return [inc(x), af, gen];
}
export function classes() {
  class Box { static unit = 1; w = 3; area(h: number) { return this.w * h * Box.unit; } }
  class Ext extends Box {}
  const Anon = class { v = 1; };
  const Named = class Inner { v = 2; };
  return [Box, Ext, Anon, Named];
}
export function members() {
  const obj = { f: () => 1, g: function () { return 2; }, h() { return 3; }, ["k"]: () => 4 };
  class Fields { a = () => 5; static b = () => 6; #c = () => 7; c() { return this.#c; } }
  const { dflt = () => 8 } = {} as { dflt?: () => number };
  return [obj, Fields, dflt];
}
class Scale { factor = 2; }
export const reachesClass = (x: number) => new Scale().factor * x;
`;

/** esbuild's helper as its runtime defines it, and code written as esbuild writes it. */
const HELPER = `var __defProp = Object.defineProperty;
var __name = (target, value) => __defProp(target, "name", { value, configurable: true });
`;

describe("esbuild's keepNames does not count in a function's code identity", () => {
  it("hashes each shape it wraps as tsc's output of the same source", async () => {
    const [tsx, tsc] = [await byTsx(SHAPES), await byTsc(SHAPES)];
    expect(Object.keys(tsx).sort()).toEqual(Object.keys(tsc).sort());
    for (const name of Object.keys(tsc)) {
      expect(hashFunction(tsx[name]!), name).toBe(hashFunction(tsc[name]!));
    }
    // what tsx runs does call __name, in each function (the class, in the one it reaches)
    for (const name of ["arrows", "declarations", "classes", "members"]) {
      expect(String(tsx[name]), name).toContain("__name(");
    }
  });

  it("leaves out exactly esbuild's calls: statements, static blocks, wrapped values", async () => {
    const m = await load(`${HELPER}
export const plain = (go) => { const f = () => 1; function g() {} class K { w = 1; } return [f, g, K]; };
export const wrapped = (go) => {
  const f = __name(() => 1, "f");
  function g() {}
  __name(g, "g");
  class K { static { __name(this, "K"); } w = 1; }
  return [f, g, K];
};
export const renamed = (go) => { const f = __name(() => 1, "h"); function g() {} __name(g, "x"); class K { static { __name(this, "Y"); } w = 1; } return [f, g, K]; };
export const emptyStatic = (go) => { const f = () => 1; function g() {} class K { static {} w = 1; } return [f, g, K]; };
export const ownStatic = (go) => { const f = () => 1; function g() {} class K { static { go(); } w = 1; } return [f, g, K]; };
export const mixedStatic = (go) => { const f = () => 1; function g() {} class K { static { __name(this, "K"); go(); } w = 1; } return [f, g, K]; };
export const threeArgs = (go) => { const f = __name(() => 1, "f", 3); function g() {} class K { w = 1; } return [f, g, K]; };
export const nameNotLiteral = (go) => { const f = __name(() => 1, go); function g() {} class K { w = 1; } return [f, g, K]; };
export const spread = (go) => { const f = __name(...go, "f"); function g() {} class K { w = 1; } return [f, g, K]; };
export const evaluated = (go) => { const f = () => 1; function g() {} __name(go(), "g"); class K { w = 1; } return [f, g, K]; };
`);
    const plain = hashFunction(m.plain!);
    expect(hashFunction(m.wrapped!)).toBe(plain);
    expect(hashFunction(m.renamed!)).toBe(plain); // the names are esbuild's, not the code's
    // a static block of the user's stays, empty or not; esbuild's call in it goes
    expect(hashFunction(m.emptyStatic!)).not.toBe(plain);
    expect(hashFunction(m.mixedStatic!)).toBe(hashFunction(m.ownStatic!));
    // other shapes are calls like any other
    for (const name of ["threeArgs", "nameNotLiteral", "spread", "evaluated"]) {
      expect(hashFunction(m[name]!), name).not.toBe(plain);
    }
  });

  it("counts a __name of the user's: what it does and how it is called", async () => {
    const own = (body: string) => `function __name(target, value) { return ${body}; }
export const a = () => __name(() => 1, "a");
export const b = () => __name(() => 1, "b");
export const bare = () => () => 1;
export const local = (x) => { const __name = (t, v) => t; return __name(x, "a"); };
export const localB = (x) => { const __name = (t, v) => t; return __name(x, "b"); };
`;
    const m = await load(own("target"));
    const other = await load(own("value"));
    expect(hashFunction(m.a!)).not.toBe(hashFunction(m.b!));
    expect(hashFunction(m.a!)).not.toBe(hashFunction(m.bare!));
    expect(hashFunction(m.a!)).not.toBe(hashFunction(other.a!));
    expect(hashFunction(m.local!)).not.toBe(hashFunction(m.localB!)); // bound inside: not esbuild's
  });

  // Hashes computed by memori before keep-names.ts (the build of 4660725): code that does not call
  // __name keeps its identity, so no state made before is invalidated.
  it("leaves the identity of code without __name as it was", async () => {
    const m = await load(`
export function plain(x, y = 2) {
  const double = (v) => v * 2;
  function inc(v) {
    return v + 1;
  }
  class Box {
    static unit = 1;
    w = 3;
    static {
      this.ready = true;
    }
    area(h) {
      return this.w * h * Box.unit;
    }
  }
  const Anon = class {};
  return [double(x), inc(y), new Box().area(x), new Anon(), \`t\${x}\`, { a: 1, "b": [2, 0x10] }];
}
export const arrow = async ({ a, b = 1 }) => a + b;
const SCALE = 3;
function helper(v) {
  return v * SCALE;
}
export function usesHelper(x) {
  return helper(x) + 1;
}
`);
    expect(hashFunction(m.plain!)).toBe(
      "4e5388a32aa2ad390c5d884172b521923fd0e6e96f041ebbb4ea6371c3f80e3a",
    );
    expect(hashFunction(m.arrow!)).toBe(
      "9031c2fc0ac356fb2b4cbb07e4974f30333853114eb8411d260b65b5a2e6c534",
    );
    expect(hashFunction(m.usesHelper!)).toBe(
      "d692741903d05b79c01151eb9d09481f9a9186ab10109ac9bc05c1bf2427333e",
    );
  });
});

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "..", "..");
const memori = path.join(root, "dist", "index.js");
const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc");
/** tsx's loader, as `node --import tsx` (and `memori run`) load it, from any directory. */
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;

/** A stage with a named inner arrow, function, class and class expression, and helpers. */
const MAIN = `
import { Stage } from ${JSON.stringify(memori)};

function offset(y: number): number {
  return y + 1;
}
class Scale {
  factor = 2;
  apply(y: number): number {
    return y * this.factor;
  }
}
const half = (y: number): number => y / 2;

const stage = new Stage(
  function compute(x: number): number {
    const double = (y: number) => y * 2;
    function inc(y: number) {
      return y + 1;
    }
    class Box {
      static unit = 1;
      w = 3;
      area(h: number) {
        return this.w * h * Box.unit;
      }
    }
    const Anon = class {
      v = 1;
    };
    const methods = { f: (y: number) => y, g() { return 0; } };
    return double(x) + inc(x) + new Box().area(x) + new Anon().v + methods.f(x) + methods.g() +
      offset(x) + new Scale().apply(x) + half(x);
  },
  { name: "compute", hashOutput: "state" },
);
const result = await stage.run(2);
const decision = stage.lastDecision;
console.log(JSON.stringify({ action: decision?.action, reason: decision?.reason, result }));
`;

interface Ran {
  action: "run" | "skip";
  reason: Reason;
  result: unknown;
}

describe("tsx and tsc give a stage the same code identity, in separate processes", () => {
  it("a stage run under tsx is cached when run from tsc's output, and back", async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      "package.json": JSON.stringify({ type: "module" }),
      "main.ts": MAIN,
      "tsconfig.json": JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "nodenext",
          moduleResolution: "nodenext",
          outDir: "out",
          skipLibCheck: true,
        },
        files: ["main.ts"],
      }),
    });
    await run(process.execPath, [tsc, "-p", "."], { cwd: dir });
    // What a run decided, as a reason reads: "first run", "cached", "function changed: ...".
    const under = async (args: string[]) => {
      const { stdout } = await run(process.execPath, args, { cwd: dir });
      const ran = JSON.parse(stdout) as Ran;
      return { action: ran.action, why: describeReason(ran.reason), result: ran.result };
    };
    const tsx = ["--import", tsxLoader, "main.ts"];
    const compiled = ["out/main.js"]; // the same state directory: `state`, under `dir`
    const result = { output: 4 + 3 + 6 + 1 + 2 + 0 + 3 + 4 + 1 };
    expect(await under(tsx)).toEqual({ action: "run", why: "first run", result });
    expect(await under(compiled)).toEqual({ action: "skip", why: "cached", result });
    expect(await under(tsx)).toEqual({ action: "skip", why: "cached", result });
  }, 60_000);
});
