// `node scripts/report-screenshot.mjs` (after `npm run build`, with scripts/chromium.sh's
// Chromium): the README's picture of a run's report, docs/report.png. Runs the example pipeline
// module examples/pipelines/smooth.ts with `memori run` on four subjects, changes one subject's
// image, runs it again (that subject and the group average run, the rest is cached), writes
// that run's report with `memori report` and photographs it in headless Chromium.
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const memori = path.join(root, "dist", "cli", "memori.cjs");
// Run from the repository, as the examples are, so the report shows short relative paths.
const module = path.join("examples", "pipelines", "smooth.ts");
const work = path.join("examples", "work", "report");
rmSync(path.join(root, work), { recursive: true, force: true });

function memoriIn(...args) {
  const ran = spawnSync(process.execPath, [memori, ...args], { cwd: root, encoding: "utf8" });
  if (ran.status !== 0) throw new Error(`memori ${args.join(" ")}: ${ran.stderr}`);
  return ran;
}

function subject(i, shift) {
  const anat = path.join(root, work, "bids", `sub-0${i}`, "anat");
  mkdirSync(anat, { recursive: true });
  const voxels = Array.from({ length: 200_000 }, (_, v) => ((v * 7 + i * 13 + shift) % 101) / 10);
  writeFileSync(path.join(anat, `sub-0${i}_T1w.txt`), voxels.join("\n") + "\n");
}

try {
  for (let i = 1; i <= 4; i++) subject(i, 0);
  const derivatives = path.join(work, "derivatives");
  const params = ["--param", `bids=${path.join(work, "bids")}`, "--param", "fwhm=4"];
  params.push("--param", `derivatives=${derivatives}`);
  memoriIn("run", module, ...params, "--concurrency", "2");
  subject(3, 1); // sub-03's image changes: it and the group average run again
  memoriIn("run", module, ...params, "--concurrency", "2");
  const html = path.join(root, work, "report.html");
  memoriIn("report", "-d", path.join(derivatives, ".memori"), "-o", html);
  const browser = await chromium.launch({
    executablePath: process.env.MEMORI_CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    await page.goto(pathToFileURL(html).href);
    const out = path.join(root, "docs", "report.png");
    mkdirSync(path.dirname(out), { recursive: true });
    await page.screenshot({ path: out, fullPage: true });
    console.log(`wrote ${path.relative(root, out)}`);
  } finally {
    await browser.close();
  }
} finally {
  rmSync(path.join(root, work), { recursive: true, force: true });
}
