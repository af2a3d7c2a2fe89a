// Preloaded (NODE_OPTIONS=--import) into a process a test starts, to see what the process
// loaded: at exit it writes the names of the built-in modules it loaded (`fs`, `crypto`,
// `child_process`, ...; internal ones too), one per line, to the file named by
// MEMORI_TEST_LOADED. See test/cli/startup.test.ts.
import { writeFileSync } from "node:fs";

const out = process.env.MEMORI_TEST_LOADED;
if (out) {
  process.on("exit", () => {
    const prefix = "NativeModule ";
    const builtins = process.moduleLoadList
      .filter((entry) => entry.startsWith(prefix))
      .map((entry) => entry.slice(prefix.length));
    writeFileSync(out, builtins.join("\n") + "\n");
  });
}
