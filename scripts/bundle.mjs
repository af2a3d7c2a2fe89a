// `npm run build`, second step (after tsc, which builds the library's modules in dist/ with
// their .d.ts): the library as one ES module file, dist/lib/memori.js, which dist/index.js
// re-exports (see below), and the command-line programs, each as one CommonJS bundle run by a
// small launcher with V8's code cache, so that a skipped `memori -d DIR cmd` costs little more
// than starting Node (issue 13; see bench/README.md for what was measured). In dist/cli/:
//
// - memori.cjs, pathman.cjs: the programs (the package's bins), each src/cli/launch.cts.
// - memori.bundle.cjs, pathman.bundle.cjs: the programs themselves, one file each.
// - memori.bundle.cache, pathman.bundle.cache: V8's code cache of each bundle, made by running
//   it (a skipped call for memori), so it holds what such a run compiles.
// - hash-worker.js: files.ts starts its worker threads from ./hash-worker.js (an ES module).
//
// Why this shape, measured on Node 20:
// - One file per program, not code-split chunks: a loader's cost per file (resolving, reading)
//   outweighs compiling the code that only running a command needs. That code is still
//   evaluated only on demand: a module imported with `import()` becomes a function that runs
//   when it is first imported.
// - CommonJS, not an ES module: an ES module entry starts the ES module loader (about 0.1x
//   of a bare Node start). `import.meta.url` becomes the bundle's own URL (hash-worker.js beside
//   it, package.json two levels up, as from dist/hashing/). tinypool, an ES module only
//   package, is imported with the launcher's `import()`: code V8 took from a code cache cannot
//   `import()` on Node 20 (see launch.cts).
// - A code cache: compiling the functions a skip runs is most of what is left (about 0.1x).
//   The launcher writes it (MEMORI_CODE_CACHE_WRITE). Each bundle's first line is
//   `//memori-build <SHA-256 of the rest>`, and its cache starts with the same line: the
//   launcher offers V8 only a cache made from this very bundle.
// - `node:fs/promises` is loaded on first use (a plugin, below): it loads 10 more built-in
//   modules (readline's among them), about 1 ms, and a skip calls none of its functions.
// - Whitespace and syntax are minified (less to parse at each start); names are kept, so a
//   stack trace still names functions.
// - Packages stay external (installed beside memori), except fast-json-stable-stringify: a skip
//   needs it, and loading it is a second file to find and read. The library's bundle also holds
//   the parsers of code identity (acorn, acorn-walk, eslint-scope; see `bundledParsers`). The
//   licenses of what the bundles hold: dist/THIRD-PARTY-LICENSES.txt.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";
import { writeThirdPartyLicenses } from "./third-party-licenses.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outdir = path.join(root, "dist", "cli");
const manifest = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
const bundled = new Set(["fast-json-stable-stringify"]);
const external = Object.keys(manifest.dependencies ?? {}).filter((name) => !bundled.has(name));
const common = {
  absWorkingDir: root,
  outdir,
  bundle: true,
  splitting: false,
  platform: "node",
  target: "node20",
  external,
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: "warning",
  metafile: true,
};

/**
 * `node:fs/promises` for the programs: each function calls the module's own on first use
 * (looked up at each call, so one read tracking wraps later is the one called).
 */
const lazyFsPromises = {
  name: "lazy-fs-promises",
  setup(build) {
    build.onResolve({ filter: /^(node:)?fs\/promises$/ }, () => ({
      path: "fs/promises",
      namespace: "lazy",
    }));
    build.onLoad({ filter: /.*/, namespace: "lazy" }, async () => {
      const real = await import("node:fs/promises");
      const names = Object.keys(real).filter((name) => typeof real[name] === "function");
      const lines = names.map(
        (name) =>
          `export function ${name}(...args) { return require("node:fs").promises.${name}(...args); }`,
      );
      lines.push('export const constants = require("node:fs").constants;');
      return { contents: lines.join("\n"), loader: "js" };
    });
  },
};

/**
 * `node:path` for the programs, as one module: 44 of memori's modules import its default
 * export, and esbuild gives each such import its own copy of the module's properties (about
 * 0.3 ms at every start). Its functions never change (nothing wraps them, unlike `node:fs`'s),
 * so one module holding them serves every import.
 */
const onePath = {
  name: "one-path",
  setup(build) {
    build.onResolve({ filter: /^(node:)?path$/ }, (args) =>
      args.namespace === "one-path"
        ? { path: "node:path", external: true }
        : { path: "path", namespace: "one-path" },
    );
    build.onLoad({ filter: /.*/, namespace: "one-path" }, async () => {
      const names = Object.keys(await import("node:path")).filter((name) => name !== "default");
      return {
        contents: [
          'const path = require("node:path");',
          "export default path;",
          `export const { ${names.join(", ")} } = path;`,
        ].join("\n"),
        loader: "js",
      };
    });
  },
};

/**
 * The parsers of code identity (acorn, acorn-walk, eslint-scope) inside the library's bundle:
 * lazy-modules.ts loads each with `load("name")`, made here a `require("name")` that esbuild
 * bundles as a module run on first use. Compiled from their packages, they cost each process
 * that hashed a function about 7 ms; in the bundle, their code comes from its code cache.
 */
const parsers = ["acorn", "acorn-walk", "eslint-scope"];
const bundledParsers = {
  name: "bundled-parsers",
  setup(build) {
    build.onLoad({ filter: /[/\\]src[/\\]lazy-modules\.ts$/ }, (args) => {
      let contents = readFileSync(args.path, "utf8");
      for (const name of parsers) {
        const call = `load(${JSON.stringify(name)})`;
        if (!contents.includes(call)) throw new Error(`lazy-modules.ts no longer has ${call}`);
        contents = contents.replace(call, `require(${JSON.stringify(name)})`);
      }
      return { contents, loader: "ts" };
    });
  },
};

/**
 * `node:fs` as a default import (read-tracking.ts wraps the module's own functions;
 * untracked-fs.ts keeps the originals): the module itself, for the programs. esbuild gives a
 * default import of a CommonJS module a copy of all its properties (about 100 for `node:fs`,
 * 0.13 ms at each start for each of the two modules); these use only the module object.
 */
const fsDefault = {
  name: "fs-default",
  setup(build) {
    build.onResolve({ filter: /^(node:)?fs$/ }, (args) =>
      /[/\\](read-tracking|untracked-fs)\.ts$/.test(args.importer)
        ? { path: "fs", namespace: "fs-default" }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: "fs-default" }, () => ({
      contents: 'export default require("node:fs");',
      loader: "js",
    }));
  },
};

rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });

/**
 * A bundle src/code-cache.ts runs: CommonJS, `import.meta.url` its own URL, its `import()` the
 * one the code running it lends (lazy-modules.ts). The sources are ES modules, strict:
 * "use strict" comes first.
 */
const cachedBundle = {
  format: "cjs",
  outExtension: { ".js": ".cjs" },
  define: { "import.meta.url": "__memori.url", __memori_version: JSON.stringify(manifest.version) },
  // The bundle's URL when asked for (a skip never asks: making it costs about 0.3 ms).
  banner: {
    js:
      '"use strict";const __memori={get url(){return require("node:url").pathToFileURL(__filename).href}},' +
      "__memori_import=module.memoriImport;",
  },
};

const programs = await build({
  ...common,
  ...cachedBundle,
  entryPoints: { "memori.bundle": "src/cli/memori.ts", "pathman.bundle": "src/cli/pathman.ts" },
  plugins: [lazyFsPromises, onePath, fsDefault],
  write: false,
});
/**
 * A bundle as code-cache.ts runs it: a function's body (no `#!` line), its first line
 * `//memori-build <SHA-256 of the rest>`, the line its cache starts with.
 */
function stamped(text) {
  const body = text.startsWith("#!") ? text.slice(text.indexOf("\n") + 1) : text;
  return `//memori-build ${createHash("sha256").update(body).digest("hex")}\n${body}`;
}
for (const { path: file, text } of programs.outputFiles) writeFileSync(file, stamped(text));

const worker = await build({
  ...common,
  entryPoints: { "hash-worker": "src/hashing/hash-worker.ts" },
  format: "esm",
});

// The library, as `import "memori"` loads it. Importing tsc's 130-odd modules one by one cost
// about 60 ms in a fresh process (resolving, reading, compiling and linking each); one file,
// about 22 ms: more than a whole cached run of 1,000 stages (bench/README.md). And a run then
// compiled each function it called the first time: about a tenth of a cached run of 1,000
// stages, and of a first run. So, as for the programs:
//
// - dist/lib/memori.bundle.cjs: the library as one CommonJS file (`import.meta.url` its own
//   URL, its `import()` the facade's, as in the programs' bundles), stamped with its SHA-256.
// - dist/lib/memori.bundle.cache: V8's code cache of it, made by running a small pipeline
//   (first run, cached run, a map, a stage alone) with it (see below).
// - dist/lib/memori.js: an ES module that runs the bundle with its cache (src/code-cache.ts)
//   and exports its exports by name; dist/index.js re-exports it.
//
// Not minified: a stack trace reads as the source does (a function whose name another module's
// function has too is renamed, `record2`, as in the programs' bundles; no `keepNames`, which
// adds a `__name()` call each time a closure is made, hot paths included). The files sit two
// folders down, as tsc's modules do, so what the bundle finds from its own URL is where they
// find it (package.json two levels up, the package's root); the hashing worker and the
// worker-thread entry it starts by URL are built beside it. tsc's modules stay in dist/ for
// their types (dist/index.d.ts and the rest), and the one graph they make is never mixed with
// the bundle's.
const libdir = path.join(root, "dist", "lib");
const library = {
  ...common,
  outdir: libdir,
  external: Object.keys(manifest.dependencies ?? {}),
  minifyWhitespace: false,
  minifySyntax: false,
};
const libraryBundle = await build({
  ...library,
  ...cachedBundle,
  external: library.external.filter((name) => !parsers.includes(name)),
  plugins: [bundledParsers],
  entryPoints: { "memori.bundle": "src/index.ts" },
  write: false,
});
const [libraryFile] = libraryBundle.outputFiles;
mkdirSync(libdir, { recursive: true });
writeFileSync(libraryFile.path, stamped(libraryFile.text));
// The names the library exports, as an ES module build of it says.
const exported = await build({
  ...library,
  entryPoints: { memori: "src/index.ts" },
  format: "esm",
  write: false,
});
const names = Object.values(exported.metafile.outputs).flatMap((output) => output.exports);
if (names.length < 20 || names.includes("default")) {
  throw new Error(`the library's exports, as esbuild reads them: ${names.join(", ")}`);
}
await build({
  ...library,
  stdin: {
    contents: [
      'import { fileURLToPath } from "node:url";',
      'import { runCachedBundle } from "./src/code-cache.ts";',
      "const bundle = runCachedBundle(",
      '  fileURLToPath(new URL("./memori.bundle.cjs", import.meta.url)),',
      "  {",
      '    label: "memori library",',
      '    writeVariable: "MEMORI_LIBRARY_CODE_CACHE_WRITE",',
      "    // Resolved from here, beside the bundle.",
      "    memoriImport: (specifier) => import(specifier),",
      "  },",
      ");",
      `export const { ${names.join(", ")} } = bundle;`,
    ].join("\n"),
    resolveDir: root,
    sourcefile: "memori-facade.js",
    loader: "js",
  },
  outdir: undefined,
  outfile: path.join(libdir, "memori.js"),
  format: "esm",
  banner: {
    js:
      "// memori: runs the library bundled beside it (memori.bundle.cjs) with its V8 code\n" +
      "// cache (scripts/bundle.mjs, src/code-cache.ts), and exports what it exports.",
  },
});
await build({
  ...library,
  format: "esm",
  entryPoints: {
    "hash-worker": "src/hashing/hash-worker.ts",
    "worker-entry": "src/worker-entry.ts",
  },
});
writeThirdPartyLicenses(
  root,
  [programs.metafile, libraryBundle.metafile],
  path.join(root, "dist", "THIRD-PARTY-LICENSES.txt"),
);
writeFileSync(
  path.join(root, "dist", "index.js"),
  "// memori, bundled into one file (scripts/bundle.mjs); the types are tsc's, dist/index.d.ts.\n" +
    'export * from "./lib/memori.js";\n',
);

const launchers = await build({
  ...common,
  entryPoints: { memori: "src/cli/launch.cts", pathman: "src/cli/launch.cts" },
  format: "cjs",
  outExtension: { ".js": ".cjs" },
  banner: { js: "#!/usr/bin/env node" },
});
for (const file of Object.keys(launchers.metafile.outputs)) chmodSync(path.join(root, file), 0o755);

// The code caches: each program run as its users most often run it, the cache written at exit
// (so it holds the functions compiled while running, not only the top level).
const work = mkdtempSync(path.join(tmpdir(), "memori-code-cache-"));
try {
  const run = (name, args, env = {}) => {
    const result = spawnSync(process.execPath, [path.join(outdir, `${name}.cjs`), ...args], {
      cwd: work,
      encoding: "utf8",
      env: { ...process.env, ...env },
    });
    if (result.status !== 0) {
      throw new Error(`making the code cache: ${name} ${args.join(" ")}: ${result.stderr}`);
    }
    return result;
  };
  const cacheOf = (name) => ({
    MEMORI_CODE_CACHE_WRITE: path.join(outdir, `${name}.bundle.cache`),
  });
  // A skipped call that names an input, a dependent script and an output.
  writeFileSync(path.join(work, "in.txt"), "input\n");
  writeFileSync(path.join(work, "lib.sh"), "true\n");
  writeFileSync(
    path.join(work, "copy.sh"),
    '#!/bin/sh\n. ./lib.sh\necho ran >> runs.log\ncp "$1" "$2"\n',
  );
  chmodSync(path.join(work, "copy.sh"), 0o755);
  const memori = ["-d", "state", "-c", "./lib.sh", "-o", "out.txt", "--"];
  memori.push("./copy.sh", "in.txt", "out.txt");
  run("memori", memori);
  // The first call, finding no cache, wrote one of what it compiled (code-cache.ts): removed,
  // so that the cache holds what a skip compiles, not a first run's code too (a larger cache
  // costs a skip about 1 ms more to read and load).
  rmSync(path.join(outdir, "memori.bundle.cache"), { force: true });
  run("memori", memori, cacheOf("memori"));
  if (readFileSync(path.join(work, "runs.log"), "utf8") !== "ran\n") {
    throw new Error("making the code cache: the second memori call was not a skip");
  }
  run("pathman", ["/d/sub-01_T1w.nii.gz", "get_prefix"], cacheOf("pathman"));

  // The library's: a pipeline of 200 trivial stages, a map over 50 elements and a stage alone,
  // each run and then cached, in one process (what a pipeline script does on its first run and
  // on every run after).
  const script = path.join(work, "warm.mjs");
  writeFileSync(
    script,
    [
      `import { MappedStage, Pipeline, Stage } from ${JSON.stringify(pathToFileURL(path.join(root, "dist", "index.js")).href)};`,
      'const hashOutput = "library-state";',
      "const step = (x) => x + 1;",
      "for (let round = 0; round < 2; round++) {",
      "  const stages = Array.from({ length: 200 }, (_, i) =>",
      '    new Stage(step, { name: `s${i}`, outputs: "x", hashOutput }));',
      '  const definition = [["start", stages[0]]];',
      "  for (let i = 1; i < stages.length; i++) definition.push([stages[i - 1], stages[i]]);",
      "  const pipeline = new Pipeline(definition);",
      '  if ((await pipeline.run(0)).x !== 200) throw new Error("the pipeline\'s result");',
      '  const mapped = new MappedStage(new Stage(step, { name: "m", outputs: "y", hashOutput }), ["x"]);',
      "  await mapped.run({ x: Array.from({ length: 50 }, (_, i) => i) });",
      '  await new Stage(step, { name: "alone", outputs: "z", hashOutput }).run(1);',
      "}",
    ].join("\n"),
  );
  const warmed = spawnSync(process.execPath, [script], {
    cwd: work,
    encoding: "utf8",
    env: {
      ...process.env,
      MEMORI_LIBRARY_CODE_CACHE_WRITE: path.join(libdir, "memori.bundle.cache"),
    },
  });
  if (warmed.status !== 0) throw new Error(`making the library's code cache: ${warmed.stderr}`);
  for (const cache of [
    path.join(outdir, "memori.bundle.cache"),
    path.join(outdir, "pathman.bundle.cache"),
    path.join(libdir, "memori.bundle.cache"),
  ]) {
    if (!existsSync(cache)) throw new Error(`making the code caches: ${cache} was not written`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

// `node scripts/bundle.mjs --sizes`: what each program holds, largest modules first.
if (process.argv.includes("--sizes")) {
  const outputs = { ...programs.metafile.outputs, ...worker.metafile.outputs };
  for (const [file, output] of Object.entries(outputs)) {
    process.stdout.write(`${path.relative(root, file)}: ${output.bytes} bytes\n`);
    const inputs = Object.entries(output.inputs).sort(
      (a, b) => b[1].bytesInOutput - a[1].bytesInOutput,
    );
    for (const [input, { bytesInOutput }] of inputs) {
      process.stdout.write(`  ${String(bytesInOutput).padStart(7)}  ${input}\n`);
    }
  }
}
