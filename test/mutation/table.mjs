// Prints the mutation score table of the last `npm run mutation` (reports/mutation/mutation.json)
// as Markdown, per mutated file: mutants, killed or timed out, survived, no coverage, errors,
// and the score (killed + timed out over all mutants, those without coverage included).
// With --survivors, also lists each mutant that survived or had no coverage (file:line, the
// mutator, the replacement), for deciding whether a test is missing or the mutant is equivalent.
// With --only=FILE (repeatable), only those files (a run over part of the scope: the report
// carries the other files' earlier results, which this run did not measure).
// usage: node test/mutation/table.mjs [--survivors] [--only=FILE...] [report.json]
import { readFileSync } from "node:fs";

const args = process.argv.slice(2);
const listSurvivors = args.includes("--survivors");
const only = args.filter((a) => a.startsWith("--only=")).map((a) => a.slice("--only=".length));
const file = args.find((a) => !a.startsWith("--")) ?? "reports/mutation/mutation.json";
const report = JSON.parse(readFileSync(file, "utf8"));
if (only.length > 0) {
  const missing = only.filter((f) => report.files[f] === undefined);
  if (missing.length > 0) throw new Error(`${file}: no results for ${missing.join(", ")}`);
  report.files = Object.fromEntries(only.map((f) => [f, report.files[f]]));
}
const rows = [];
const total = { mutants: 0, detected: 0, survived: 0, noCoverage: 0, errors: 0 };
for (const [file, { mutants }] of Object.entries(report.files).sort()) {
  const count = (...statuses) => mutants.filter((m) => statuses.includes(m.status)).length;
  const row = {
    mutants: mutants.filter((m) => m.status !== "Ignored").length,
    detected: count("Killed", "Timeout"),
    survived: count("Survived"),
    noCoverage: count("NoCoverage"),
    errors: count("RuntimeError", "CompileError"),
  };
  for (const key of Object.keys(total)) total[key] += row[key];
  rows.push([file, row]);
}
const score = (r) => (r.mutants ? ((100 * r.detected) / r.mutants).toFixed(1) : "n/a");
console.log("| file | mutants | killed or timed out | survived | no coverage | errors | score |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const [file, r] of [...rows, ["all", total]]) {
  console.log(
    `| \`${file}\` | ${r.mutants} | ${r.detected} | ${r.survived} | ${r.noCoverage} | ${r.errors} | ${score(r)}% |`,
  );
}

if (listSurvivors) {
  for (const [name, { mutants, source }] of Object.entries(report.files).sort()) {
    const lines = source.split("\n");
    for (const m of mutants) {
      if (m.status !== "Survived" && m.status !== "NoCoverage") continue;
      const { line, column } = m.location.start;
      const replacement = (m.replacement ?? "").replace(/\s+/g, " ").slice(0, 80);
      const code = (lines[line - 1] ?? "").trim().slice(0, 90);
      console.log(
        `${name}:${line}:${column} ${m.status} ${m.mutatorName}: ${replacement}\n    ${code}`,
      );
    }
  }
}
