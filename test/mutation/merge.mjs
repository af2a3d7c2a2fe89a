// Merges mutation reports (Stryker's JSON, as in stryker-incremental.json) into one, so that a
// scope too slow for one sitting can be run in parts (`npx stryker run --mutate A,B
// --incrementalFile part.json`) and `npm run mutation` then reuses every part's results.
// Stryker still re-tests any mutant whose code or covering tests changed since its part ran.
// Test ids are per report: each test (file and name) gets one id in the merged report, and the
// mutants' coveredBy/killedBy lists are renumbered to match. A mutated file present in
// several parts is taken from the last one given.
// usage: node test/mutation/merge.mjs OUT.json PART.json...
import { readFileSync, writeFileSync } from "node:fs";

const [out, ...parts] = process.argv.slice(2);
if (out === undefined || parts.length === 0) {
  process.stderr.write("usage: node test/mutation/merge.mjs OUT.json PART.json...\n");
  process.exit(2);
}

const ids = new Map(); // `${testFile}\0${name}` -> merged id
const testFiles = {}; // testFile -> { ...entry, tests: [...] }
const files = {};
let base;
for (const part of parts) {
  const report = JSON.parse(readFileSync(part, "utf8"));
  base ??= report;
  if (report.schemaVersion !== base.schemaVersion) {
    throw new Error(`${part}: schema ${report.schemaVersion}, not ${base.schemaVersion}`);
  }
  const local = new Map(); // this report's id -> merged id
  for (const [file, entry] of Object.entries(report.testFiles ?? {})) {
    testFiles[file] ??= { ...entry, tests: [] };
    for (const test of entry.tests) {
      const key = `${file}\0${test.name}`;
      let id = ids.get(key);
      if (id === undefined) {
        id = String(ids.size);
        ids.set(key, id);
        testFiles[file].tests.push({ ...test, id });
      }
      local.set(test.id, id);
    }
  }
  const renumber = (list) => list?.map((id) => local.get(id) ?? `unknown:${id}`);
  for (const [file, entry] of Object.entries(report.files)) {
    files[file] = {
      ...entry,
      mutants: entry.mutants.map((m) => ({
        ...m,
        ...(m.coveredBy ? { coveredBy: renumber(m.coveredBy) } : {}),
        ...(m.killedBy ? { killedBy: renumber(m.killedBy) } : {}),
      })),
    };
  }
}
writeFileSync(out, JSON.stringify({ ...base, files, testFiles }, null, 2));
const count = Object.values(files).reduce((n, f) => n + f.mutants.length, 0);
process.stdout.write(
  `${out}: ${Object.keys(files).length} files, ${count} mutants, ${ids.size} tests\n`,
);
