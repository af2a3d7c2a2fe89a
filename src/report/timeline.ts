/**
 * The run's timeline, like Nextflow's: one bar per task that started (a stage call or a map
 * element), from its start to its end, coloured by its decision; a cached call is a thin bar.
 * Up to ROW_PER_TASK tasks, each has a row of its own, labelled; above, each stage's tasks are
 * packed into as few rows ("lanes") as never overlap, so 10,000 elements stay a picture of the
 * run's concurrency rather than a page 10,000 rows tall.
 */
import { COLOURS } from "../diagram.js";
import { attr, text } from "./html.js";
import { taskName, type ReportTask, type TaskDecision } from "./model.js";
import { duration } from "./units.js";

/** Up to this many tasks, one row each. */
export const ROW_PER_TASK = 200;

const WIDTH = 1000;
const LABEL = 220;
const PLOT = WIDTH - LABEL - 16;
const AXIS = 24;

export const BAR_COLOURS: Record<TaskDecision, string> = {
  ran: COLOURS.ran.stroke,
  cached: COLOURS.cached.stroke,
  failed: COLOURS.failed.stroke,
  blocked: COLOURS.blocked.stroke,
  excluded: COLOURS.excluded.stroke,
  cancelled: COLOURS.blocked.stroke,
};

interface Timed {
  task: ReportTask;
  start: number;
  end: number;
}

/** A row of bars, at `y`, `height` tall, with a label (or none: a stage's later lanes). */
interface Row {
  label: string;
  bars: Timed[];
  y: number;
  height: number;
}

const TASK_ROW = 18;
const LABEL_ROW = 14;

/** One row per task, in the order they started. */
function taskRows(timed: readonly Timed[]): Row[] {
  return timed.map((t, i) => ({
    label: taskName(t.task),
    bars: [t],
    y: AXIS + i * TASK_ROW,
    height: TASK_ROW,
  }));
}

/**
 * Each stage's tasks in as few lanes as never overlap (greedy, by start); a stage's lanes share
 * its label, and are at least a label's height together.
 */
function laneRows(timed: readonly Timed[]): Row[] {
  const byStage = new Map<string, Timed[]>();
  for (const t of timed) {
    const list = byStage.get(t.task.stage);
    if (list === undefined) byStage.set(t.task.stage, [t]);
    else list.push(t);
  }
  const rows: Row[] = [];
  let y = AXIS;
  for (const [stage, list] of byStage) {
    const lanes: Timed[][] = [];
    const ends: number[] = [];
    for (const t of list) {
      let lane = ends.findIndex((end) => end <= t.start);
      if (lane === -1) {
        lane = lanes.length;
        lanes.push([]);
        ends.push(t.end);
      }
      lanes[lane]!.push(t);
      ends[lane] = t.end;
    }
    const lane = lanes.length > 50 ? 2 : lanes.length > 10 ? 4 : 8;
    const height = Math.max(LABEL_ROW, lanes.length * lane);
    const top = y + (height - lanes.length * lane) / 2;
    lanes.forEach((bars, i) => {
      rows.push({
        label: i === 0 ? `${stage} (${list.length})` : "",
        bars,
        y: top + i * lane,
        height: lane,
      });
    });
    y += height + 6;
  }
  return rows;
}

/** The middle of the lanes a labelled row starts (up to the next labelled row). */
function labelMiddle(rows: readonly Row[], row: Row): number {
  const i = rows.indexOf(row);
  let end = i + 1;
  while (end < rows.length && rows[end]!.label === "") end++;
  const lastLane = rows[end - 1]!;
  return Math.max((row.y + lastLane.y + lastLane.height) / 2, row.y + LABEL_ROW / 2);
}

/** Round tick spacing: 1, 2 or 5 times a power of ten, in milliseconds, about 8 ticks. */
function tickStep(span: number): number {
  const rough = span / 8;
  const power = 10 ** Math.floor(Math.log10(Math.max(rough, 1)));
  for (const m of [1, 2, 5, 10]) if (m * power >= rough) return m * power;
  return 10 * power;
}

/** The timeline as one `<svg>` element (`class="timeline"`, one `rect.bar` per task that started). */
export function timelineSvg(tasks: readonly ReportTask[], runStart: number): string {
  const timed: Timed[] = [];
  for (const task of tasks) {
    if (task.start === undefined) continue;
    timed.push({ task, start: task.start, end: Math.max(task.end ?? task.start, task.start) });
  }
  if (timed.length === 0) return '<p class="empty">No task started in this run.</p>';
  timed.sort((a, b) => a.start - b.start || a.end - b.end);
  const perTask = timed.length <= ROW_PER_TASK;
  const rows = perTask ? taskRows(timed) : laneRows(timed);
  const origin = Math.min(runStart, timed[0]!.start);
  const span = Math.max(1, ...timed.map((t) => t.end - origin));
  const scale = PLOT / span;
  const last = rows[rows.length - 1]!;
  const height = Math.ceil(Math.max(last.y + last.height, AXIS + LABEL_ROW)) + 8;
  const parts = [
    `<svg class="timeline" xmlns="http://www.w3.org/2000/svg"${attr("viewBox", `0 0 ${WIDTH} ${height}`)}${attr("width", WIDTH)}${attr("height", height)} role="img" aria-label="When each task ran">`,
  ];
  const step = tickStep(span);
  for (let t = 0; t <= span; t += step) {
    const x = (LABEL + t * scale).toFixed(1);
    parts.push(
      `<line class="tick"${attr("x1", x)}${attr("x2", x)} y1="${AXIS - 4}"${attr("y2", height)}/>`,
      `<text class="tick-label"${attr("x", x)} y="${AXIS - 8}" text-anchor="middle">${text(duration(t))}</text>`,
    );
  }
  for (const row of rows) {
    const { y, height: rowHeight } = row;
    if (row.label !== "") {
      const middle = perTask ? y + rowHeight / 2 : labelMiddle(rows, row);
      parts.push(
        `<text class="row-label" x="${LABEL - 6}"${attr("y", (middle + 4).toFixed(1))} text-anchor="end">${text(row.label.length > 32 ? `${row.label.slice(0, 31)}…` : row.label)}</text>`,
      );
    }
    for (const bar of row.bars) {
      const thin = bar.task.decision === "cached";
      const h = thin ? Math.max(2, rowHeight / 5) : Math.max(2, rowHeight - 4);
      const x = LABEL + (bar.start - origin) * scale;
      const w = Math.max(thin ? 2 : 1.5, (bar.end - bar.start) * scale);
      const title = `${taskName(bar.task)}: ${bar.task.decision}, ${duration(bar.end - bar.start)}`;
      parts.push(
        `<rect class="bar"${attr("data-decision", bar.task.decision)}${attr("x", x.toFixed(1))}${attr("y", (y + (rowHeight - h) / 2).toFixed(1))}${attr("width", w.toFixed(1))}${attr("height", h.toFixed(1))}${attr("fill", BAR_COLOURS[bar.task.decision])}><title>${text(title)}</title></rect>`,
      );
    }
  }
  parts.push("</svg>");
  return parts.join("");
}
