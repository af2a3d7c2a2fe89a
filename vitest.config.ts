import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Under the mutation runner, child processes run the code under test too.
    setupFiles: ["test/util/mutation.ts"],
  },
});
