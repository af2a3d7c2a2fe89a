import { writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Pipeline, Stage } from "../src/index.js";
import { recordingLogger, tempDir } from "./util/tmp.js";

const quiet = recordingLogger().logger;

function build(dir: string, fail = false) {
  const load = new Stage((a: number, b: number) => a + b, {
    name: "load",
    outputs: "c",
    aliases: { d: "c" },
    hashOutput: dir,
    logger: quiet,
  });
  const left = new Stage((c: number) => c + 1, {
    name: "left",
    outputs: "e",
    hashOutput: dir,
    logger: quiet,
  });
  const right = new Stage(
    (d: number) => {
      if (fail) throw new Error("no");
      return d + 2;
    },
    { name: "right", outputs: "f", hashOutput: dir, logger: quiet },
  );
  const join = new Stage((e: number, f: number) => e * f, {
    name: "join",
    outputs: "g",
    hashOutput: dir,
    logger: quiet,
  });
  return new Pipeline(
    [
      ["start", load],
      [load, left],
      [load, right],
      [[left, right], join],
    ],
    { keepGoing: true },
  );
}

describe("the DAG as a picture", () => {
  it("draws stages and labelled edges in Mermaid and DOT", () => {
    const p = build("/nonexistent-dir");
    const mermaid = p.toMermaid();
    expect(mermaid.split("\n")[0]).toBe("flowchart LR");
    expect(mermaid).toContain('s0["load"]');
    expect(mermaid).toContain('start -->|"a, b"| s0');
    expect(mermaid).toContain('s0 -->|"c"| s1');
    expect(mermaid).toContain('s0 -->|"d"| s2');
    expect(mermaid).toContain('s1 -->|"e"| s3');
    expect(mermaid).toContain('s2 -->|"f"| s3');
    const dot = p.toDot();
    expect(dot).toMatch(/^digraph pipeline \{/);
    expect(dot).toContain('s0 -> s2 [label="d"];');
    expect(dot).toContain('start -> s0 [label="a, b"];');
  });

  it("colours nodes by state after a dry run and after a run", async () => {
    const dir = await tempDir();
    const p = build(dir);
    await p.explain(1, 2);
    expect(p.toMermaid()).toContain("class s0 would_run");
    expect(p.toMermaid()).toContain("class s3 would_run"); // no state yet: it runs anyway
    expect(p.toDot()).toMatch(/s0 \[label="load\\n\(would run\)", fillcolor="#ffe0b2"/);
    await p.run(1, 2);
    expect(p.toMermaid()).toMatch(/class s0 ran\n/);
    await p.explain(1, 2);
    expect(p.toMermaid()).toContain("class s3 cached");
    expect(p.toMermaid()).toContain("classDef cached fill:#d4edda");
    await p.explain(5, 2); // load would run: what follows depends on its outputs
    expect(p.toMermaid()).toContain("class s3 run_if_upstream_changes");
    const failing = build(path.join(dir, "other"), true);
    await failing.run(1, 2).catch(() => undefined);
    const mermaid = failing.toMermaid();
    expect(mermaid).toContain("class s2 failed");
    expect(mermaid).toContain("class s3 blocked");
    expect(mermaid).toContain("class s1 ran");
    await writeFile(path.join(dir, "diagram.mmd"), mermaid);
  });
});
