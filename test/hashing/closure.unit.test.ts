// Bindings found in ways V8's scopes do not show, or that a name-based rule hid (regressions
// from an adversarial review of closure.ts): each edit must change the stage's identity.
import { describe, expect, it } from "vitest";
import { codeIdentity, hashFunction, knownCodeIdentity } from "../../src/hashing/hashable.js";

describe("what a stage reaches beyond its scopes (closure.ts)", () => {
  it("follows a class's extends, even to a class no function reads", () => {
    const make = (m: number) => {
      class Base {
        scale(x: number) {
          return x * m;
        }
      }
      class D extends Base {}
      return (x: number) => new D().scale(x);
    };
    expect(hashFunction(make(2))).toBe(hashFunction(make(2)));
    expect(hashFunction(make(2))).not.toBe(hashFunction(make(3)));
  });

  // `extends lib.Base`, `extends mix(Base)`: the names there are read once, when the class is
  // defined, and no scope keeps them; the class they gave is followed as the prototype, so
  // they are not named in a warning, and a change to that class counts.
  it("follows a class that extends a member or a mixin, with no warning about their names", async () => {
    const make = (m: number) => {
      const lib = {
        Base: class {
          scale(x: number) {
            return x * m;
          }
        },
      };
      const mix = (Parent: typeof lib.Base) => class extends Parent {};
      class FromMember extends lib.Base {}
      class FromMixin extends mix(lib.Base) {}
      return (x: number) => new FromMember().scale(x) + new FromMixin().scale(x);
    };
    for (const stage of [make(2), make(3)]) {
      expect((await codeIdentity(stage)).unhashable).toEqual([]);
    }
    expect(hashFunction(make(2))).not.toBe(hashFunction(make(3)));
  });

  it("counts properties added to a function or class after its definition", () => {
    const make = (factor: number) => {
      class K {
        static factor = 0;
      }
      K.factor = factor;
      function f() {
        return 1;
      }
      (f as unknown as { k: number }).k = factor;
      return () => K.factor + f();
    };
    expect(hashFunction(make(2))).not.toBe(hashFunction(make(3)));
  });

  it("does not take a namespace or an object's method named like a mutator for state", () => {
    const make = (delta: number) => {
      const ops = { add: (x: number) => x + delta, set: (x: number) => x };
      return (x: number) => ops.set(ops.add(x));
    };
    expect(hashFunction(make(1))).not.toBe(hashFunction(make(2)));
  });

  it("reads destructured env variables as inputs, and warns of process.env used whole", async () => {
    const destructured = () => {
      const { FSLOUTPUTTYPE, OMP_NUM_THREADS = "1" } = process.env;
      return `${FSLOUTPUTTYPE}${OMP_NUM_THREADS}`;
    };
    expect((await codeIdentity(destructured)).env).toEqual(["FSLOUTPUTTYPE", "OMP_NUM_THREADS"]);
    const whole = (name: string) => process.env[name];
    expect((await codeIdentity(whole)).unhashable).toEqual([
      expect.stringMatching(/^process\.env as a whole/),
    ]);
  });

  it("parses code that uses import.meta", async () => {
    const here = () => import.meta.url;
    expect(hashFunction(here)).toMatch(/^[0-9a-f]{64}$/);
  });

  it("hashes RegExps, URLs and typed arrays a stage reaches by content, at any depth", async () => {
    const make = (pattern: RegExp, url: string, bytes: number[]) => {
      const config = { pattern, where: new URL(url), weights: new Float32Array(bytes) };
      return (name: string) => config.pattern.test(name) && config.weights.length > 0;
    };
    const base = make(/_T1w\.nii(\.gz)?$/i, "https://example.org/a", [1, 2]);
    const same = make(/_T1w\.nii(\.gz)?$/i, "https://example.org/a", [1, 2]);
    const facts = await codeIdentity(base);
    expect(facts.unhashable).toEqual([]);
    expect((await codeIdentity(same)).code.hash).toBe(facts.code.hash);
    for (const other of [
      make(/_T1w\.nii(\.gz)?$/, "https://example.org/a", [1, 2]), // flags
      make(/_T2w\.nii(\.gz)?$/i, "https://example.org/a", [1, 2]), // source
      make(/_T1w\.nii(\.gz)?$/i, "https://example.org/b", [1, 2]), // URL
      make(/_T1w\.nii(\.gz)?$/i, "https://example.org/a", [1, 3]), // bytes
    ]) {
      expect((await codeIdentity(other)).code.hash).not.toBe(facts.code.hash);
    }
  });

  it("follows a function kept in a non-enumerable property of a plain object", async () => {
    const make = (factor: number) => {
      const box = {};
      Object.defineProperty(box, "fn", { value: (x: number) => x * factor, enumerable: false });
      return (x: number) => (box as { fn: (x: number) => number }).fn(x);
    };
    const two = await codeIdentity(make(2));
    expect(two.unhashable).toEqual([]);
    expect((await codeIdentity(make(3))).code.hash).not.toBe(two.code.hash);
  });

  it("knows a function's identity without computing it only once it was computed, and a declared one always", async () => {
    const fn = (x: number) => x + 1;
    expect(knownCodeIdentity(fn)).toBeUndefined();
    const facts = await codeIdentity(fn);
    expect(knownCodeIdentity(fn)).toBe(facts);
    expect(knownCodeIdentity(fn, {})).toBe(facts);
    // a declared identity does not come from the code: the same for any function, kept per version
    const v1 = knownCodeIdentity(fn, { codeVersion: "1" });
    expect(v1).toEqual(await codeIdentity((y: string) => y, { codeVersion: "1" }));
    expect(knownCodeIdentity(() => 0, { codeVersion: "1" })).toBe(v1);
    expect(v1!.code.callees).toEqual({ codeVersion: "version:1" });
    const v2 = knownCodeIdentity(fn, { codeVersion: "2" })!;
    expect(v2.code.hash).not.toBe(v1!.code.hash);
    expect(knownCodeIdentity(fn, { codeVersion: "" })!.code.hash).not.toBe(v2.code.hash);
    const ignored = knownCodeIdentity(fn, { ignoreCode: true, codeVersion: "1" })!;
    expect(ignored.code.callees).toEqual({});
    expect(ignored).toBe(knownCodeIdentity(() => 1, { ignoreCode: true }));
    expect(ignored.code.hash).not.toBe(v1!.code.hash);
  });
});
