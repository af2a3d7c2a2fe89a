/**
 * The README's TypeScript examples, as a reader copies them: each one imports from "memori"
 * every export it uses, and only names memori exports.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import * as memori from "../src/index.js";

const root = path.resolve(import.meta.dirname, "..");

/** The names src/index.ts exports, types included (a type has no runtime value). */
async function exportedNames(): Promise<Set<string>> {
  const index = await readFile(path.join(root, "src", "index.ts"), "utf8");
  const names = new Set<string>();
  for (const [, list] of index.matchAll(/export\s+(?:type\s+)?\{([^}]*)\}/g)) {
    for (const item of list!.split(",")) {
      const name = item.trim().replace(/^type\s+/, "");
      if (name !== "") names.add(name);
    }
  }
  return names;
}

/** What is wrong with the imports of the TypeScript blocks of a Markdown text. */
function importProblems(markdown: string, exported: ReadonlySet<string>): string[] {
  const blocks = [...markdown.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const problems: string[] = [];
  for (const block of blocks) {
    const imported = new Set<string>();
    for (const [, list] of block.matchAll(/import\s*\{([^}]*)\}\s*from\s*"memori"/g)) {
      for (const item of list!.split(",")) if (item.trim() !== "") imported.add(item.trim());
    }
    const first = block.trim().split("\n")[0];
    for (const name of imported) {
      if (!exported.has(name)) problems.push(`${first}: imports ${name}, not an export`);
    }
    for (const name of exported) {
      // used as an identifier (not a property: `pm.getPathAndPrefix()` is a method)
      const used = new RegExp(`(?<![.\\w$])${name.replace(/\$/g, "\\$")}\\b`).test(block);
      if (used && !imported.has(name)) problems.push(`${first}: uses ${name} without importing it`);
    }
  }
  return problems;
}

describe("the README's examples", () => {
  it("import every memori export they use, and nothing memori does not export", async () => {
    const readme = await readFile(path.join(root, "README.md"), "utf8");
    const exported = await exportedNames();
    for (const name of Object.keys(memori)) expect(exported).toContain(name);
    expect([...readme.matchAll(/```ts\n/g)].length).toBeGreaterThan(10);
    expect(importProblems(readme, exported)).toEqual([]);
  });
});

describe("the migration guide's examples (docs/migrating-from-python-memori.md)", () => {
  it("import every memori export they use, and nothing memori does not export", async () => {
    const guide = await readFile(
      path.join(root, "docs", "migrating-from-python-memori.md"),
      "utf8",
    );
    expect([...guide.matchAll(/```ts\n/g)].length).toBeGreaterThanOrEqual(3);
    expect(importProblems(guide, await exportedNames())).toEqual([]);
  });
});
