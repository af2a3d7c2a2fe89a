// Bindings found in ways V8's scopes do not show, or that a name-based rule hid (regressions
// from an adversarial review of closure.ts): each edit must change the stage's identity.
import { describe, expect, it } from "vitest";
import { codeIdentity, hashFunction } from "../../src/hashing/hashable.js";

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
});
