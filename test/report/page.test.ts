/**
 * The report page as text: every section, every record string escaped, what a record lacks
 * shown as "–", and a 10,000-element map still one bar per task in a file of bounded size.
 * test/report/browser.test.ts loads pages in a real Chromium.
 */
import { describe, expect, it } from "vitest";
import { fromRunRecord } from "../../src/report/from-record.js";
import { reportPage } from "../../src/report/page.js";
import { ROW_PER_TASK } from "../../src/report/timeline.js";
import { MAX_DRAWN } from "../../src/report/dag-svg.js";
import { largeMapRecord, longChainRecord } from "../util/large-record.js";
import { sampleRecord } from "../util/run-records.js";

const count = (html: string, pattern: RegExp): number => html.match(pattern)?.length ?? 0;

describe("the report page", () => {
  it("has the summary, the DAG, the timeline, the failures and the tasks", () => {
    const html = reportPage(fromRunRecord(sampleRecord()));
    expect(html.startsWith("<!DOCTYPE html>")).toBe(true);
    for (const id of ["summary", "dag", "timeline", "failures", "tasks"]) {
      expect(html).toContain(`<section id="${id}">`);
    }
    expect(count(html, /<g class="dag-node"/g)).toBe(2);
    expect(count(html, /<rect class="bar"/g)).toBe(3);
    expect(count(html, /<tr><td/g)).toBe(3);
    expect(html).toContain('<div class="count" data-decision="failed"');
    expect(html).toContain("lab-01");
    expect(html).toContain("first run");
    expect(html).toContain('<pre class="log-tail">no such file</pre>');
    expect(html).toContain("200 MiB"); // convert[a]'s peak RSS
  });

  it("loads nothing from anywhere: no URL, one inline script, a policy forbidding the rest", () => {
    const html = reportPage(fromRunRecord(sampleRecord()));
    expect(html).not.toMatch(/\b(src|href)=/);
    expect(html).not.toMatch(/@import|url\(http|@font-face/);
    expect(count(html, /<script/g)).toBe(1);
    expect(html).toContain("default-src 'none'");
  });

  it("shows every string of the record as text, never as markup", () => {
    const record = sampleRecord();
    const evil = `<script>alert("x")</script> & 'co'`;
    record.graph.nodes[1]!.name = evil;
    for (const task of record.tasks) if (task.node === "s1") task.stage = evil;
    record.tasks[2]!.element = "<b>b</b>";
    record.tasks[2]!.error = { message: `${evil} failed`, stderrTail: `tail ${evil}\n</pre>` };
    record.graph.edges[1]!.label = "<i>files</i>";
    record.host = "<host>";
    record.command = {
      via: "run",
      argv: ["memori", "run", "<m>.ts"],
      params: [{ name: "<pname>", value: "a&b", from: "--param" }],
    };
    const html = reportPage(fromRunRecord(record));
    expect(count(html, /<script/g)).toBe(1); // the page's own
    expect(html).not.toContain("<b>b</b>");
    expect(html).not.toContain("<i>files</i>");
    expect(html).not.toContain("<host>");
    expect(html).not.toContain("<pname>");
    expect(html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;co&#39;");
    expect(html).toContain("tail &lt;script&gt;");
    expect(html).toContain("&lt;/pre&gt;");
    expect(html).toContain("a&amp;b (--param)");
  });

  it("shows what a record lacks as a dash, and a reason of an unknown kind by its kind", () => {
    const record = sampleRecord();
    record.tasks[1]!.reason = { kind: "from-the-future" } as never;
    delete record.tasks[0]!.end;
    delete record.cpuMs;
    record.tasks.push({ id: 4, stage: "convert", node: "s1", element: "c", decision: "blocked" });
    const model = fromRunRecord(record);
    expect(model.tasks[1]!.reason).toBe("from-the-future");
    expect(model.tasks[3]!.reason).toBe("something it needs failed");
    const html = reportPage(model);
    expect(count(html, /<rect class="bar"/g)).toBe(3); // the blocked element never started
    expect(count(html, /<tr><td/g)).toBe(4);
    expect(html).toContain("<td>–</td>");
    expect(html).toContain("CPU time</th><td>900 ms"); // the tasks' sum
  });

  it("shows a process gone before its first sample as not measured, not as 0 B", () => {
    const record = sampleRecord();
    const zeros = { userMs: 0, sysMs: 0, peakRss: 0, rchar: 0, wchar: 0, samples: 1 };
    record.tasks[1]!.usage = zeros;
    const task = fromRunRecord(record).tasks[1]!;
    expect([task.cpuMs, task.peakRssBytes, task.readBytes, task.writtenBytes]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });

  it("names memori's own command line as memori, not as node and a bundle's path", () => {
    const record = sampleRecord();
    record.command = {
      via: "run",
      argv: ["/usr/bin/node", "/p/node_modules/memori/dist/cli/memori.cjs", "run", "m.ts", "a b"],
    };
    expect(fromRunRecord(record).command).toBe('memori run m.ts "a b"');
    record.command = { via: "api", argv: ["/usr/bin/node", "/p/memori.js"] };
    expect(fromRunRecord(record).command).toBe("/usr/bin/node /p/memori.js");
  });

  it("keeps a 10,000-element map usable: one bar per task, in lanes, a bounded file", () => {
    const record = largeMapRecord(10_000);
    const html = reportPage(fromRunRecord(record));
    expect(count(html, /<rect class="bar"/g)).toBe(10_003);
    expect(count(html, /<tr><td/g)).toBe(10_003);
    // Lanes: each stage's tasks in as few rows as never overlap (4 at a time here), not a row each.
    expect(10_003).toBeGreaterThan(ROW_PER_TASK);
    expect(count(html, /class="row-label"/g)).toBe(3);
    expect(html).toContain("register (10000)");
    expect(Buffer.byteLength(html)).toBeLessThan(8 * 1024 * 1024);
  });

  it("draws the DAG of a chain of 1,000 stages, and says why one of 10,000 is not drawn", () => {
    const drawn = reportPage(fromRunRecord(longChainRecord(1000)));
    expect(count(drawn, /<g class="dag-node"/g)).toBe(1000);
    // A layout that overflows the stack (dagre recurses along a chain) is said, not thrown.
    const deep = reportPage(fromRunRecord(longChainRecord(MAX_DRAWN)));
    expect(count(deep, /<g class="dag-node"/g) === MAX_DRAWN || deep.includes("failed (")).toBe(
      true,
    );
    // dagre's layout of a chain of 3,000 overflowed the stack: the report threw instead.
    const html = reportPage(fromRunRecord(longChainRecord(10_000)));
    expect(count(html, /<g class="dag-node"/g)).toBe(0);
    expect(html).toContain("The DAG is not drawn: 10000 stages are too many to draw.");
    expect(count(html, /<tr><td/g)).toBe(10_000);
    expect(count(html, /<rect class="bar"/g)).toBe(10_000);
  });
});
