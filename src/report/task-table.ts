/**
 * The table of tasks: one row per stage call or map element, with its decision, reason and
 * resources. Each cell that sorts carries its value in `data-v` (numbers as numbers, a missing
 * value as nothing), for the page's script to sort by when a header is clicked.
 */
import { attr, text } from "./html.js";
import { taskName, type ReportTask } from "./model.js";
import { PAGE_ROWS } from "./page-script.js";
import { bytes, duration, MISSING } from "./units.js";

interface Column {
  readonly title: string;
  /** `num` cells sort as numbers, missing last; others as text. */
  readonly kind: "text" | "num";
  /** Its share of the table's width, in percent (a fixed layout: see below). */
  readonly width: number;
  readonly cell: (
    task: ReportTask,
    runStart: number,
  ) => { shown: string; value: string | number | undefined };
}

function numeric(value: number | undefined, show: (n: number | undefined) => string) {
  return { shown: show(value), value };
}

function elapsed(task: ReportTask): number | undefined {
  return task.start === undefined || task.end === undefined ? undefined : task.end - task.start;
}

const COLUMNS: readonly Column[] = [
  {
    title: "task",
    width: 16,
    kind: "text",
    cell: (t) => ({ shown: taskName(t), value: taskName(t) }),
  },
  {
    title: "decision",
    width: 7,
    kind: "text",
    cell: (t) => ({ shown: t.decision, value: t.decision }),
  },
  {
    title: "reason",
    width: 30,
    kind: "text",
    cell: (t) => ({ shown: t.reason || MISSING, value: t.reason }),
  },
  {
    title: "start",
    width: 7,
    kind: "num",
    cell: (t, runStart) =>
      numeric(t.start === undefined ? undefined : t.start - runStart, (n) =>
        n === undefined ? MISSING : `+${duration(n)}`,
      ),
  },
  { title: "duration", width: 7, kind: "num", cell: (t) => numeric(elapsed(t), duration) },
  {
    title: "exit",
    width: 5,
    kind: "num",
    cell: (t) => numeric(t.exit, (n) => (n === undefined ? MISSING : String(n))),
  },
  { title: "CPU", width: 7, kind: "num", cell: (t) => numeric(t.cpuMs, duration) },
  { title: "peak RSS", width: 7, kind: "num", cell: (t) => numeric(t.peakRssBytes, bytes) },
  { title: "read", width: 7, kind: "num", cell: (t) => numeric(t.readBytes, bytes) },
  { title: "written", width: 7, kind: "num", cell: (t) => numeric(t.writtenBytes, bytes) },
];

/** The table (`table.tasks`, one `tbody tr` per task). */
export function taskTable(tasks: readonly ReportTask[], runStart: number): string {
  if (tasks.length === 0) return '<p class="empty">No tasks recorded.</p>';
  const head = COLUMNS.map(
    (c, i) =>
      `<th${attr("data-col", i)}${attr("data-kind", c.kind)} tabindex="0" aria-sort="none">${text(c.title)}</th>`,
  ).join("");
  const rows = tasks.map((task) => {
    const cells = COLUMNS.map((c) => {
      const { shown, value } = c.cell(task, runStart);
      const sortable = value === undefined ? "" : attr("data-v", value);
      const decision = c.title === "decision" ? ` class="d-${task.decision}"` : "";
      return `<td${sortable}${decision}>${text(shown)}</td>`;
    });
    return `<tr>${cells.join("")}</tr>`;
  });
  // A fixed layout (column widths from the first row): a table of 10,000 rows is laid out,
  // and sorted, without measuring every cell.
  const cols = COLUMNS.map((c) => `<col${attr("style", `width:${c.width}%`)}>`);
  // More than a page: the page's CSS shows the first page until its script takes over.
  const paged = tasks.length > PAGE_ROWS;
  const pager = paged
    ? `<div class="pager" hidden><button type="button" data-step="-1">previous</button> <span class="shown"></span> <button type="button" data-step="1">next</button></div>`
    : "";
  return `${pager}<table class="tasks"${paged ? " data-paged" : ""}><colgroup>${cols.join("")}</colgroup><thead><tr>${head}</tr></thead><tbody>${rows.join("\n")}</tbody></table>`;
}
