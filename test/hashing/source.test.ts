import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { transformSync } from "esbuild";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { hashFunction, hashable, MemoriError } from "../../src/index.js";
import { tempDir } from "../util/tmp.js";

/** Load functions from real module source files, the way user code reaches memori. */
async function load(code: string): Promise<Record<string, (...args: never[]) => unknown>> {
  const dir = await tempDir();
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `m${Math.random().toString(36).slice(2)}.mjs`);
  await writeFile(file, code);
  return (await import(pathToFileURL(file).href)) as Record<string, (...args: never[]) => unknown>;
}

describe("function hashing", () => {
  it("ignores formatting, comments, quote style and parentheses", async () => {
    const m = await load(`
export function a(x, y) { return x + "s" + (y * 2); }
export function b(x,y){
  // a comment
  return ((x) + 's') + /* inline */ y*2;
}
export function c(x, y) { return x + "s" + y * 3; }
export function d(x, y) { return x - "s" + y * 2; }
export function e(x, z) { return x + "s" + z * 2; }
`);
    expect(hashFunction(m.a!)).toBe(hashFunction(m.b!));
    expect(hashFunction(m.a!)).not.toBe(hashFunction(m.c!));
    expect(hashFunction(m.a!)).not.toBe(hashFunction(m.d!));
    // A parameter renamed throughout does the same: local names do not count (below).
    expect(hashFunction(m.a!)).toBe(hashFunction(m.e!));
  });

  // Compilers rename locals (esbuild: a parameter shadowing a top-level name gets a suffix),
  // and so do people: neither changes what the code does. What it refers to outside, and
  // property names, do.
  it("does not count the names of local bindings, only what they are bound to", async () => {
    const m = await load(`
const outDir = "/top";
const scale = 2;
export function a(inFile, outDir) { const n = inFile.length * scale; return { outDir, n }; }
export function b(inFile, outDir2) { const count = inFile.length * scale; return { outDir: outDir2, n: count }; }
export function swapped(inFile, outDir) { const n = outDir.length * scale; return { outDir: inFile, n }; }
export function otherKey(inFile, outDir) { const n = inFile.length * scale; return { out: outDir, n }; }
export function otherFree(inFile, outDir) { const n = inFile.length * outDir.length; return { outDir, n }; }
export function nested(xs) { return xs.map((x) => { let y = x; try { y = f(y); } catch (e) { return e; } return y; }); }
export function nested2(list) { return list.map((item) => { let v = item; try { v = f(v); } catch (err) { return err; } return v; }); }
export const top = () => outDir;
`);
    expect(hashFunction(m.a!)).toBe(hashFunction(m.b!));
    expect(hashFunction(m.a!)).not.toBe(hashFunction(m.swapped!));
    expect(hashFunction(m.a!)).not.toBe(hashFunction(m.otherKey!));
    expect(hashFunction(m.a!)).not.toBe(hashFunction(m.otherFree!));
    expect(hashFunction(m.nested!)).toBe(hashFunction(m.nested2!));
  });

  it("distinguishes literals whose raw text differs in meaning, not in spelling", async () => {
    const m = await load(`
export const a = () => 0x10;
export const b = () => 16;
export const c = () => 17;
export const r1 = () => /ab+/g;
export const r2 = () => /ab+/i;
export const t1 = () => \`x\${1}\`;
export const t2 = () => \`y\${1}\`;
`);
    expect(hashFunction(m.a!)).toBe(hashFunction(m.b!));
    expect(hashFunction(m.a!)).not.toBe(hashFunction(m.c!));
    expect(hashFunction(m.r1!)).not.toBe(hashFunction(m.r2!));
    expect(hashFunction(m.t1!)).not.toBe(hashFunction(m.t2!));
  });

  it("hashes literals by their exact value, and a template's raw text", async () => {
    const m = await load(`
export const nul = () => null;
export const inf = () => 1e999;
export const inf2 = () => 2e999;
export const zero = () => 0;
export const negZero = () => -0;
export const raw1 = () => String.raw\`\\x6e\`;
export const raw2 = () => String.raw\`n\`;
export const cooked1 = () => \`\\x6e\`;
export const cooked2 = () => \`n\`;
`);
    expect(m.cooked1!()).toBe(m.cooked2!()); // the same text...
    expect(m.raw1!()).not.toBe(m.raw2!()); // ...but not the same raw text, which tags read
    expect(hashFunction(m.nul!)).not.toBe(hashFunction(m.inf!));
    expect(hashFunction(m.inf!)).toBe(hashFunction(m.inf2!)); // both Infinity
    expect(hashFunction(m.zero!)).not.toBe(hashFunction(m.negZero!));
    expect(hashFunction(m.raw1!)).not.toBe(hashFunction(m.raw2!));
  });

  it("hashes functions compiled from TypeScript by tsc and esbuild, consistently", async () => {
    const source = `
export function register(moving: string, fixed: string, dof: number = 12): string {
  const out: string = moving.replace(".nii", "_reg.nii");
  return \`\${out}:\${fixed}:\${dof}\`;
}
export const smooth = async (input: string, fwhm = 6): Promise<string> => input + fwhm;
`;
    const byTsc = await load(
      ts.transpileModule(source, {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      }).outputText,
    );
    const byEsbuild = await load(transformSync(source, { loader: "ts", format: "esm" }).code);
    const { Stage } = await import("../../src/index.js");
    for (const m of [byTsc, byEsbuild]) {
      expect(new Stage(m.register!).inputs).toEqual(["moving", "fixed", "dof"]);
      expect(new Stage(m.smooth!, { name: "smooth" }).inputs).toEqual(["input", "fwhm"]);
      expect(hashFunction(m.register!)).toMatch(/^[0-9a-f]{64}$/);
    }
    // the same compiler output hashes the same in a fresh module
    const again = await load(transformSync(source, { loader: "ts", format: "esm" }).code);
    expect(hashFunction(again.register!)).toBe(hashFunction(byEsbuild.register!));
  });

  it("includes the helpers a function reaches by binding, transitively, and terminates on recursion", () => {
    const make = (inner: (x: number) => number) => {
      const helper = (x: number) => inner(x) * 2;
      const even: (n: number) => boolean = (n) => (n === 0 ? true : odd(n - 1));
      const odd: (n: number) => boolean = (n) => (n === 0 ? false : even(n - 1));
      return function stageFn(x: number) {
        return helper(x) + (even(x) ? 1 : 0);
      };
    };
    const before = hashFunction(make((x) => x + 1));
    // a fresh closure over the same code and values: the same identity
    expect(hashFunction(make((x) => x + 1))).toBe(before);
    // the helper's helper, two bindings away, changed: a new identity
    expect(hashFunction(make((x) => x + 2))).not.toBe(before);
  });

  it("takes any function in hashable(), anonymous too, and refuses what is not one", () => {
    const anonymous = [(x: number) => x][0]!;
    expect(hashable(anonymous)).toBe(anonymous);
    expect(() => hashable(42 as never)).toThrow(MemoriError);
    const named = hashable([(x: number) => x * 3][0]!, "tripler");
    expect(named(2)).toBe(6);
  });

  it("hashes classes marked hashable", () => {
    class Scaler {
      factor = 2;
      apply(x: number) {
        return x * this.factor;
      }
    }
    hashable(Scaler);
    const user = function useScaler(x: number) {
      return new Scaler().apply(x);
    };
    expect(hashFunction(user)).toMatch(/^[0-9a-f]{64}$/);
    expect(new (hashable(Scaler))().apply(2)).toBe(4);
  });
});
