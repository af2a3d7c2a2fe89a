// Preloaded (NODE_OPTIONS=--require) into a process a test starts, to see what it did by its
// exit: the built-in modules it loaded (`fs`, `crypto`, `child_process`, ...; internal ones
// too), one per line, to the file MEMORI_TEST_LOADED names; how many threads it had (Linux,
// /proc/self/task) to the file MEMORI_TEST_THREADS names. CommonJS, so that loading it starts
// no ES module loader (which would load modules of its own and read files asynchronously).
// See test/cli/startup.test.ts.
"use strict";
const { readdirSync, writeFileSync } = require("node:fs");

process.on("exit", () => {
  const loaded = process.env.MEMORI_TEST_LOADED;
  if (loaded) {
    const prefix = "NativeModule ";
    const builtins = process.moduleLoadList
      .filter((entry) => entry.startsWith(prefix))
      .map((entry) => entry.slice(prefix.length));
    writeFileSync(loaded, builtins.join("\n") + "\n");
  }
  const threads = process.env.MEMORI_TEST_THREADS;
  if (threads) writeFileSync(threads, `${readdirSync("/proc/self/task").length}\n`);
});
