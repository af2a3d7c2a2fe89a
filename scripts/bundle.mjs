// `npm run build`, second step (after tsc, which builds the library in dist/ with its .d.ts):
// the command-line programs as single-file bundles, dist/cli/memori.js and dist/cli/pathman.js,
// so that starting one reads one file instead of some sixty modules (issue 13: a skipped
// `memori -d DIR cmd` should cost about what starting Node costs; see bench/README.md for
// what was measured).
//
// - One file per program, not code-split chunks: measured on Node 20, the ES module loader's
//   cost per file (resolving, reading, the package scope lookup) outweighs compiling the code
//   that only running a command needs. That code is still evaluated only on demand: a module
//   imported with `import()` becomes a function that runs when it is first imported.
// - hash-worker.js beside them: files.ts starts its worker threads from ./hash-worker.js.
// - Whitespace and syntax are minified (less to parse at each start); names are kept, so a
//   stack trace still names functions.
// - Packages stay external (installed beside memori), except fast-json-stable-stringify:
//   a skip needs it, and as a CommonJS module it would start the CommonJS loader.
import { rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outdir = path.join(root, "dist", "cli");
const manifest = JSON.parse(await readFile(path.join(root, "package.json"), "utf8"));
const bundled = new Set(["fast-json-stable-stringify"]);
const external = Object.keys(manifest.dependencies ?? {}).filter((name) => !bundled.has(name));

rmSync(outdir, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: {
    memori: "src/cli/memori.ts",
    pathman: "src/cli/pathman.ts",
    "hash-worker": "src/hashing/hash-worker.ts",
  },
  outdir,
  bundle: true,
  splitting: false,
  format: "esm",
  platform: "node",
  target: "node20",
  external,
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: "warning",
  metafile: true,
});

// `node scripts/bundle.mjs --sizes`: what each program holds, largest modules first.
if (process.argv.includes("--sizes")) {
  for (const [file, output] of Object.entries(result.metafile.outputs)) {
    process.stdout.write(`${path.relative(root, file)}: ${output.bytes} bytes\n`);
    const inputs = Object.entries(output.inputs).sort(
      (a, b) => b[1].bytesInOutput - a[1].bytesInOutput,
    );
    for (const [input, { bytesInOutput }] of inputs) {
      process.stdout.write(`  ${String(bytesInOutput).padStart(7)}  ${input}\n`);
    }
  }
}
