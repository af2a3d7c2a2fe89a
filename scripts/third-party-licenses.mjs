// The licenses of the packages memori's bundles hold (scripts/bundle.mjs): their code is copied
// into the bundles (the packages stay installed as dependencies too), so their notices travel
// with it, in dist/THIRD-PARTY-LICENSES.txt.
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";

/** A package's license text: its license file, else its license's name and its main file's notice. */
function licenseOf(dir) {
  const manifest = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8"));
  const file = readdirSync(dir).find((name) => /^licen[cs]e/i.test(name));
  if (file !== undefined) return readFileSync(path.join(dir, file), "utf8").trim();
  // No license file (esrecurse): the notice its code opens with.
  const main = path.join(dir, manifest.main ?? "index.js");
  const notice = existsSync(main) ? /^\s*\/\*[\s\S]*?\*\//.exec(readFileSync(main, "utf8")) : null;
  return [manifest.license, notice?.[0].trim()].filter(Boolean).join("\n\n");
}

/**
 * Write `file`: the name, version and license of each package under `root`'s node_modules whose
 * code esbuild's `metafiles` say the bundles hold.
 */
export function writeThirdPartyLicenses(root, metafiles, file) {
  const packages = new Map();
  for (const metafile of metafiles) {
    for (const input of Object.keys(metafile.inputs)) {
      const found = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
      if (found) packages.set(found[1], path.join(root, "node_modules", found[1]));
    }
  }
  const sections = [...packages]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, dir]) => {
      const { version } = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8"));
      const title = `${name} ${version}`;
      return `${title}\n${"-".repeat(title.length)}\n\n${licenseOf(dir)}\n`;
    });
  writeFileSync(
    file,
    "The bundles in dist/lib/ and dist/cli/ hold the code of these packages, under these licenses.\n\n" +
      sections.join("\n"),
  );
}
