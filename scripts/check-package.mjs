// `npm run check-package` (CI runs it): the package as `npm pack` makes it, from the sources
// (`prepare` builds), checked before anyone installs it:
//
// 1. the tarball holds every file the manifest points at (`main`, `types`, `exports`, `bin`),
//    what they load beside them (the bundles, their V8 code caches, the workers), and
//    nothing that is not the package's (sources, tests, source maps, temporary files);
// 2. publint, with warnings as errors: the manifest's fields and the files they name;
// 3. @arethetypeswrong/cli: the types resolve, and match the JavaScript, under each module
//    resolution a TypeScript user may have. Profile `esm-only`: memori is an ES module only
//    package, on purpose (README, "Install"), so the CommonJS resolutions are not checked.
//
// A failure prints what is wrong and exits 1. The tarball is removed afterwards.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const manifest = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
const bin = (name) => path.join(root, "node_modules", ".bin", name);

function run(program, args) {
  const result = spawnSync(program, args, { cwd: root, encoding: "utf8", stdio: "pipe" });
  if (result.error !== undefined) throw result.error;
  return result;
}

const work = mkdtempSync(path.join(tmpdir(), "memori-check-package-"));
let failed = false;
try {
  // 1. npm pack, which runs `prepare` (the build) first.
  const packed = run("npm", ["pack", "--json", "--pack-destination", work]);
  if (packed.status !== 0) {
    process.stderr.write(packed.stdout + packed.stderr);
    throw new Error("npm pack failed");
  }
  const [{ filename, files, size, unpackedSize }] = JSON.parse(packed.stdout);
  const tarball = path.join(work, path.basename(filename));
  const inside = new Set(files.map((file) => file.path));
  const problems = [];
  const wanted = new Set([
    manifest.main,
    manifest.types,
    ...Object.values(manifest.bin),
    ...Object.values(manifest.exports).flatMap((target) =>
      typeof target === "string" ? [target] : Object.values(target),
    ),
  ]);
  for (const name of ["memori", "pathman"]) {
    wanted.add(`dist/cli/${name}.bundle.cjs`);
    wanted.add(`dist/cli/${name}.bundle.cache`);
  }
  wanted.add("dist/cli/hash-worker.js");
  wanted.add("dist/worker-entry.js");
  // The library as `import "memori"` loads it (dist/index.js re-exports it): the module that
  // runs the bundle with its code cache, and what the bundle starts.
  for (const file of [
    "memori.js",
    "memori.bundle.cjs",
    "memori.bundle.cache",
    "hash-worker.js",
    "worker-entry.js",
  ])
    wanted.add(`dist/lib/${file}`);
  wanted.add("LICENSE"); // the MIT license asks for its notice in every copy
  wanted.add("dist/THIRD-PARTY-LICENSES.txt"); // and the bundled packages' licenses theirs
  for (const file of wanted) {
    const normalized = path.posix.normalize(file);
    if (!inside.has(normalized)) problems.push(`missing: ${normalized}`);
  }
  for (const file of inside) {
    const allowed =
      file === "package.json" ||
      file === "README.md" ||
      file === "CHANGELOG.md" ||
      file === "LICENSE" ||
      file === "dist/THIRD-PARTY-LICENSES.txt" ||
      (file.startsWith("dist/") && /\.(js|cjs|d\.ts|cache)$/.test(file));
    if (!allowed) problems.push(`not the package's: ${file}`);
  }
  // npm runs only `prepare` for a git dependency (`npm install github:...`), not `prepack`.
  if (!/\bnpm run build\b/.test(manifest.scripts?.prepare ?? "")) {
    problems.push("scripts.prepare must run the build: a git install would have no dist/");
  }
  if (problems.length > 0) {
    failed = true;
    process.stderr.write(`check-package: the tarball is wrong:\n  ${problems.join("\n  ")}\n`);
  } else {
    const kB = (bytes) => `${(bytes / 1024).toFixed(0)} KiB`;
    process.stdout.write(
      `check-package: ${filename}: ${inside.size} files, ${kB(size)} packed, ${kB(unpackedSize)} unpacked\n`,
    );
  }

  // 2. publint on the tarball itself, warnings as errors.
  const publint = run(bin("publint"), ["run", tarball, "--strict"]);
  process.stdout.write(publint.stdout);
  process.stderr.write(publint.stderr);
  if (publint.status !== 0) failed = true;

  // 3. attw on the tarball.
  const attw = run(bin("attw"), [tarball, "--profile", "esm-only", "--format", "table-flipped"]);
  process.stdout.write(attw.stdout);
  process.stderr.write(attw.stderr);
  if (attw.status !== 0) failed = true;
} finally {
  rmSync(work, { recursive: true, force: true });
}
if (failed) {
  process.stderr.write("check-package: failed\n");
  process.exit(1);
}
