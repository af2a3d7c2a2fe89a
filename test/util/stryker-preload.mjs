// Loaded into every Node process a test starts while the mutation runner (Stryker) runs the
// suite (NODE_OPTIONS=--import, see test/util/mutation.ts): on exit, the process writes which
// mutants its code reached, so the test that started it counts as covering them.
import { writeFileSync } from "node:fs";
import path from "node:path";

const dir = process.env.MEMORI_MUTATION_COVERAGE_DIR;
if (dir) {
  process.on("exit", () => {
    const coverage = globalThis.__stryker__?.mutantCoverage;
    if (coverage === undefined) return;
    try {
      writeFileSync(path.join(dir, `${process.pid}.json`), JSON.stringify(coverage));
    } catch {
      // the test may have ended and removed the folder
    }
  });
}
