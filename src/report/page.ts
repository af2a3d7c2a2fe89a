/**
 * A run's report as one self-contained HTML page: styles and the one script inline, the DAG
 * and the timeline as inline SVG, no font, image or script from anywhere else (a
 * Content-Security-Policy forbids any), so the file can be mailed, archived or opened offline.
 */
import { dagSvg } from "./dag-svg.js";
import { failuresHtml } from "./failures.js";
import { text } from "./html.js";
import type { ReportModel } from "./model.js";
import { PAGE_ROWS, PAGE_SCRIPT } from "./page-script.js";
import { summaryHtml } from "./summary.js";
import { taskTable } from "./task-table.js";
import { timelineSvg } from "./timeline.js";

const STYLE = `
:root { color-scheme: light; }
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 0; color: #212121; background: #fafafa; }
header { background: #263238; color: #fff; padding: 12px 24px; }
header h1 { margin: 0; font-size: 20px; font-weight: 600; }
header p { margin: 2px 0 0; color: #b0bec5; }
main { padding: 8px 24px 32px; max-width: 1400px; }
section { background: #fff; border: 1px solid #e0e0e0; border-radius: 6px; padding: 12px 16px; margin: 16px 0; overflow-x: auto; }
h2 { font-size: 16px; margin: 0 0 8px; }
h3 { font-size: 14px; margin: 0 0 4px; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
.counts { display: flex; flex-wrap: wrap; gap: 8px; margin-bottom: 12px; }
.count { border-left: 6px solid; background: #f5f5f5; padding: 6px 12px; border-radius: 4px; }
.count .n { font-size: 20px; font-weight: 600; }
table { border-collapse: collapse; }
table.run th { text-align: left; padding: 2px 16px 2px 0; color: #616161; font-weight: 500; vertical-align: top; }
table.run td { padding: 2px 0; white-space: pre-wrap; }
ul.params { margin: 0; padding-left: 18px; }
svg text { font: 12px system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
svg.dag .dag-edge path { fill: none; stroke: #757575; stroke-width: 1.2; }
svg.dag .dag-edge text { fill: #616161; font-size: 11px; }
svg.timeline .tick { stroke: #eeeeee; }
svg.timeline .tick-label { fill: #757575; font-size: 10px; }
svg.timeline .row-label { fill: #424242; font-size: 11px; }
table.tasks { width: 100%; min-width: 900px; font-size: 12px; table-layout: fixed; }
table.tasks td { overflow-wrap: anywhere; }
table.tasks th { position: sticky; top: 0; background: #eceff1; text-align: left; padding: 4px 8px; cursor: pointer; user-select: none; white-space: nowrap; }
table.tasks th[aria-sort="ascending"]::after { content: " ▲"; }
table.tasks th[aria-sort="descending"]::after { content: " ▼"; }
table.tasks td { padding: 3px 8px; border-top: 1px solid #eeeeee; vertical-align: top; }
table.tasks tbody tr:hover { background: #f5f5f5; }
.table-wrap { max-height: 70vh; overflow: auto; }
.pager { margin: 0 0 8px; }
table.tasks[data-paged] tbody tr:nth-child(n+${PAGE_ROWS + 1}) { display: none; }
td.d-ran { color: #0d47a1; } td.d-cached { color: #1b5e20; } td.d-failed { color: #b71c1c; font-weight: 600; }
td.d-blocked, td.d-excluded, td.d-cancelled { color: #757575; }
.failure { border-left: 4px solid #c62828; padding: 4px 12px; margin: 8px 0; }
.failure .error { color: #b71c1c; white-space: pre-wrap; }
pre.frames { margin: 4px 0 8px; padding-left: 12px; white-space: pre-wrap; }
pre.log-tail { background: #263238; color: #eceff1; padding: 8px 12px; border-radius: 4px; overflow-x: auto; max-height: 24em; white-space: pre-wrap; }
.empty { color: #757575; font-style: italic; }
`;

/** Nothing may be loaded from anywhere: only the inline style and script run. */
const CSP =
  "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:";

/** The report of one run: a whole HTML document. */
export function reportPage(model: ReportModel): string {
  const title = `memori run ${model.runId}`;
  return [
    "<!DOCTYPE html>",
    '<html lang="en"><head><meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${CSP}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${text(title)}</title>`,
    `<style>${STYLE}</style></head><body>`,
    `<header><h1>${text(title)}</h1><p>${text(model.command ?? "")}</p></header><main>`,
    `<section id="summary"><h2>Summary</h2>${summaryHtml(model)}</section>`,
    `<section id="dag"><h2>Stages</h2>${dagSvg(model.stages, model.edges)}</section>`,
    `<section id="timeline"><h2>Timeline</h2>${timelineSvg(model.tasks, model.start)}</section>`,
    `<section id="failures"><h2>Failures</h2>${failuresHtml(model.tasks)}</section>`,
    `<section id="tasks"><h2>Tasks</h2><div class="table-wrap">${taskTable(model.tasks, model.start)}</div></section>`,
    `</main><script>${PAGE_SCRIPT}</script></body></html>`,
    "",
  ].join("\n");
}
