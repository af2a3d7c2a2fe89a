/**
 * The report of a real run, loaded in a real headless Chromium: a known pipeline (a stage, a
 * map over three subjects, a process stage, a failing process stage with `<script>` and `&` in
 * its name and log, a stage it blocks) run with `memori run`, then `memori report`. The page
 * loads with no console error, shows one DAG node per stage and one timeline bar per task that
 * started, and the failure's log tail as text; a screenshot goes to reports/ (ignored by git).
 * Skipped without Chromium, failing in CI (test/util/chromium.ts; scripts/chromium.sh).
 */
import { mkdir, writeFile, cp } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { findRecord } from "../../src/report/record-file.js";
import { hasChromium, launchChromium } from "../util/chromium.js";
import { run } from "../util/cli.js";
import { largeMapRecord } from "../util/large-record.js";
import { tempDir, memoriProject } from "../util/tmp.js";
import { fromRunRecord } from "../../src/report/from-record.js";
import { reportPage } from "../../src/report/page.js";

const root = path.resolve(import.meta.dirname, "..", "..");
const screenshots = path.join(root, "reports");

/** A project with the fixture pipeline and three subjects; memori installed one level up. */
async function project(): Promise<string> {
  const project = await memoriProject();
  await cp(
    path.join(root, "test", "fixtures", "report", "study.mjs"),
    path.join(project, "study.mjs"),
  );
  for (const [subject, words] of [
    ["sub-01", "a b c"],
    ["sub-02", "d e"],
    ["sub-03", "f g h i"],
  ] as const) {
    await mkdir(path.join(project, "bids", subject), { recursive: true });
    await writeFile(path.join(project, "bids", subject, "words.txt"), `${words}\n`);
  }
  return project;
}

describe.runIf(hasChromium())("the report in a real Chromium", () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  /** Load a report file; what the page said on its console and threw. */
  async function load(file: string) {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("dialog", (d) => problems.push(`a dialog opened: ${d.message()}`));
    page.on("request", (r) => {
      if (r.url() !== pathToFileURL(file).href) problems.push(`requested ${r.url()}`);
    });
    await page.goto(pathToFileURL(file).href, { waitUntil: "load" });
    return { page, problems };
  }

  it("shows a real run: every stage, one bar per task, the failure's log as text", async () => {
    const dir = await project();
    const ran = await run("memori", ["run", "study.mjs", "--param", "bids=bids"], dir);
    expect(ran.status, ran.stderr).not.toBe(0); // qc fails
    const reported = await run("memori", ["report", "-d", ".memori", "-o", "report.html"], dir);
    expect(reported.stderr).toBe("");
    expect(reported.status).toBe(0);
    const found = findRecord(path.join(dir, ".memori"), undefined);
    if (!found.ok) throw new Error(JSON.stringify(found.failure));
    const { record } = found;
    expect(record.graph.nodes.map((n) => n.name).sort()).toEqual(
      ["countWords", "findSubjects", "publish", "qc<script>&", "total"].sort(),
    );
    const started = record.tasks.filter((t) => t.start !== undefined);
    expect(started.length).toBe(6); // findSubjects, 3 × countWords, total, qc; publish blocked

    const { page, problems } = await load(path.join(dir, "report.html"));
    await page.screenshot({ path: path.join(screenshots, "browser-test.png"), fullPage: true });
    expect(problems).toEqual([]);
    expect(await page.locator("svg.dag g.dag-node").count()).toBe(5);
    expect(await page.locator("svg.timeline rect.bar").count()).toBe(started.length);
    expect(await page.locator("table.tasks tbody tr").count()).toBe(record.tasks.length);
    const qc = page.locator('svg.dag g.dag-node[data-stage="qc<script>&"]');
    expect(await qc.getAttribute("data-state")).toBe("failed");
    expect(await qc.locator("text").first().textContent()).toBe("qc<script>&");
    const tail = page.locator("#failures pre.log-tail");
    await expect.poll(() => tail.isVisible()).toBe(true);
    expect(await tail.textContent()).toContain("<script>alert(1)</script> & the header is bad");
    expect(await page.locator("#failures h3").textContent()).toBe("qc<script>&");
    expect(await page.locator("script").count()).toBe(1); // the page's own only
    const blocked = page.locator('svg.dag g.dag-node[data-stage="publish"]');
    expect(await blocked.getAttribute("data-state")).toBe("blocked");
    await page.close();
  });

  it("sorts the table by a column, and pages a 10,000-element map", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "large.html");
    await writeFile(file, reportPage(fromRunRecord(largeMapRecord(10_000))));
    const { page, problems } = await load(file);
    expect(await page.locator("svg.timeline rect.bar").count()).toBe(10_003);
    expect(await page.locator("table.tasks tbody tr").count()).toBe(500);
    expect(await page.locator(".pager .shown").textContent()).toBe("rows 1–500 of 10003");
    const durations = async () =>
      page
        .locator("table.tasks tbody tr td:nth-child(5)")
        .evaluateAll((cells) => cells.map((c) => Number(c.getAttribute("data-v"))));
    await page.locator("table.tasks th", { hasText: "duration" }).click();
    const up = await durations();
    expect(up).toEqual([...up].sort((a, b) => a - b));
    await page.locator("table.tasks th", { hasText: "duration" }).click();
    const down = await durations();
    expect(down[0]).toBe(1647); // the longest of all pages: the sample record's convert[b]
    expect(down).toEqual([...down].sort((a, b) => b - a));
    await page.locator(".pager button[data-step='1']").click();
    expect(await page.locator(".pager .shown").textContent()).toBe("rows 501–1000 of 10003");
    await page.screenshot({ path: path.join(screenshots, "browser-test-large.png") });
    expect(problems).toEqual([]);
    await page.close();
  });
});
