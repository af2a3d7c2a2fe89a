import { describe, expect, it } from "vitest";
import { runChild } from "../util/child.js";

describe("event listeners", () => {
  // Proves a rejecting async listener neither breaks the run nor leaves an unhandled rejection.
  it("ignores an async listener's rejected promise", async () => {
    const { status, signal, stdout, stderr } = await runChild("async-listener-child.mjs", [], {
      killAfterMs: 30_000,
    });
    expect({ status, signal }).toEqual({ status: 0, signal: null });
    expect(stdout.trim()).toBe("ok");
    expect(stderr).toContain("m = [2,4,6]");
    expect(stderr).toMatch(/heard (\d{2,}) events/); // the listener really was called, many times
    expect(stderr).not.toContain("Unhandled");
    expect(stderr).not.toContain("Error: x");
  });
});
