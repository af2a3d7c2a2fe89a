import { relative } from "node:path";
import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * Under the mutation runner (one test at a time, stopping at the first failure): test files
 * that failed before run first (they killed the last mutants), then the fastest, so a mutant
 * is killed in seconds rather than after the slow process tests. Vitest's own order runs the
 * slowest first, which is right for a full run on many workers.
 */
class FastestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const { cache, config } = this.ctx;
    const known = (spec: TestSpecification) => {
      const key = `${spec.project.name}:${relative(config.root, spec.moduleId)}`;
      const results = cache.getFileTestResults(key);
      return {
        failed: results?.failed ?? false,
        duration: results?.duration ?? cache.getFileStats(key)?.size ?? Infinity,
      };
    };
    return [...files].sort((a, b) => {
      const [x, y] = [known(a), known(b)];
      if (x.failed !== y.failed) return x.failed ? -1 : 1;
      return x.duration - y.duration;
    });
  }
}

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Under the mutation runner, child processes run the code under test too.
    setupFiles: ["test/util/mutation.ts"],
    ...(process.env.STRYKER_MUTATOR_WORKER === undefined
      ? {}
      : { sequence: { sequencer: FastestFirst } }),
  },
});
