// `node bench/report.mjs [--elements N] [--runs R]` (after `npm run build`): what the HTML report
// of a large map costs. Writes a run record of a pipeline with one map of N elements (10,000 by
// default; 4 at a time, a third cached, one in 97 failed) to bench/data/report/.memori-runs/,
// then times `memori report` on it (the whole command-line process, R times, median), prints
// the report's size, and, where scripts/chromium.sh's Chromium runs, how long the browser
// takes to load it (navigation to the load event, median) and to sort its table by a column.
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { performance } from "node:perf_hooks";
import { bin, data, median } from "./lib.mjs";

const option = (name, fallback) => {
  const at = process.argv.indexOf(name);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
};
const elements = option("--elements", 10_000);
const runs = option("--runs", 5);

const start = Date.UTC(2026, 10, 26, 9, 50);
const id = "20261126-095000000-4242-beef";
const lanes = [start, start, start, start];
const tasks = [
  { id: 1, stage: "list", node: "s0", decision: "ran", reason: { kind: "first-run" } },
];
tasks[0].start = start;
tasks[0].end = tasks[0].start + 20;
tasks[0].ms = 20;
for (let i = 0; i < elements; i++) {
  const lane = i % lanes.length;
  const cached = i % 3 === 0;
  const failed = !cached && i % 97 === 1;
  const ms = cached ? 1 : 50 + ((i * 37) % 100);
  const t0 = lanes[lane] + 20;
  lanes[lane] = t0 + ms;
  tasks.push({
    id: 2 + i,
    stage: "register",
    node: "s1",
    element: `sub-${String(i).padStart(5, "0")}`,
    decision: failed ? "failed" : cached ? "cached" : "ran",
    reason: cached ? { kind: "cached" } : { kind: "first-run" },
    start: t0,
    end: t0 + ms,
    ms,
    ...(cached
      ? {}
      : {
          exit: failed ? 1 : 0,
          usage: {
            userMs: ms * 0.8,
            sysMs: ms * 0.1,
            peakRss: 50e6 + i * 1000,
            rchar: 1e6,
            wchar: 2e6,
            samples: 3,
          },
        }),
    ...(failed
      ? { error: { message: "register failed", stderrTail: `sub ${i}: bad header` } }
      : {}),
  });
}
const end = Math.max(...lanes);
const counts = { ran: 0, cached: 0, failed: 0, blocked: 0, cancelled: 0, excluded: 0 };
for (const t of tasks) counts[t.decision]++;
const record = {
  format: 1,
  id,
  start,
  end,
  ms: end - start,
  outcome: "failed",
  counts,
  command: { via: "api", argv: ["node", "pipeline.js"] },
  host: "bench",
  pid: 4242,
  cwd: "/bench",
  memori: "0.1.0",
  node: process.version,
  graph: {
    nodes: [
      { id: "s0", name: "list", mapped: false, state: "ran" },
      { id: "s1", name: "register", mapped: true, state: "failed" },
    ],
    edges: [{ from: "s0", to: "s1", label: "files" }],
  },
  tasks,
};
const dir = path.join(data, "report");
rmSync(dir, { recursive: true, force: true });
mkdirSync(path.join(dir, ".memori-runs"), { recursive: true });
const recordFile = path.join(dir, ".memori-runs", `${id}.json`);
writeFileSync(recordFile, JSON.stringify(record));
const html = path.join(dir, "report.html");

const made = [];
for (let r = 0; r < runs; r++) {
  const t0 = performance.now();
  const ran = spawnSync(process.execPath, [bin("memori"), "report", "-d", dir, "-o", html], {
    encoding: "utf8",
  });
  made.push(performance.now() - t0);
  if (ran.status !== 0) throw new Error(`memori report failed: ${ran.stderr}`);
}
const mib = (n) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
console.log(`a map of ${elements} elements: record ${mib(statSync(recordFile).size)}`);
console.log(`memori report (whole process): ${median(made).toFixed(0)} ms (median of ${runs})`);
console.log(`report: ${mib(statSync(html).size)}`);

let chromium;
try {
  ({ chromium } = await import("playwright-core"));
} catch {
  console.log("browser: skipped (playwright-core is not installed)");
  process.exit(0);
}
const executablePath = process.env.MEMORI_CHROMIUM || "/usr/bin/chromium";
let browser;
try {
  browser = await chromium.launch({ executablePath, args: ["--no-sandbox", "--disable-gpu"] });
} catch (error) {
  console.log(
    `browser: skipped (${executablePath} does not start: ${error.message.split("\n")[0]})`,
  );
  process.exit(0);
}
try {
  const loads = [];
  const sorts = [];
  for (let r = 0; r < runs; r++) {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(pathToFileURL(html).href, { waitUntil: "load" });
    // Run in the page (strings: the browser's globals, not Node's).
    loads.push(await page.evaluate('performance.getEntriesByType("navigation")[0].duration'));
    sorts.push(
      await page.evaluate(`(() => {
        const t0 = performance.now();
        document.querySelectorAll("table.tasks th")[4].click();
        void document.body.offsetHeight; // the layout the sort causes
        return performance.now() - t0;
      })()`),
    );
    await page.close();
  }
  console.log(
    `Chromium: load ${median(loads).toFixed(0)} ms, sort by duration ${median(sorts).toFixed(0)} ms (medians of ${runs})`,
  );
} finally {
  await browser.close();
}
