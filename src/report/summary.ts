/**
 * The report's first section: what the run was (id, command, host, parameters, when) and how
 * it went (tasks by decision, wall time, CPU time).
 */
import { attr, text } from "./html.js";
import { countDecisions, DECISIONS, type ReportModel } from "./model.js";
import { BAR_COLOURS } from "./timeline.js";
import { clock, duration, MISSING } from "./units.js";

/** The run's CPU time: the record's, else the tasks' sum, or `undefined` if none says. */
export function totalCpuMs(model: ReportModel): number | undefined {
  if (model.cpuMs !== undefined) return model.cpuMs;
  let total: number | undefined;
  for (const task of model.tasks) {
    if (task.cpuMs !== undefined) total = (total ?? 0) + task.cpuMs;
  }
  return total;
}

function row(name: string, value: string): string {
  return `<tr><th scope="row">${text(name)}</th><td>${value}</td></tr>`;
}

/** The summary section's content. */
export function summaryHtml(model: ReportModel): string {
  const counts = countDecisions(model.tasks);
  const tiles = DECISIONS.filter(
    (d) => counts[d] > 0 || d === "ran" || d === "cached" || d === "failed" || d === "blocked",
  ).map(
    (d) =>
      `<div class="count"${attr("data-decision", d)}${attr("style", `border-color:${BAR_COLOURS[d]}`)}><span class="n">${counts[d]}</span> ${text(d)}</div>`,
  );
  const wall = model.end === undefined ? undefined : model.end - model.start;
  const params = Object.entries(model.parameters);
  const rows = [
    row("run", `<code>${text(model.runId)}</code>`),
    row("status", text(model.status ?? MISSING)),
    row("command", model.command === undefined ? MISSING : `<code>${text(model.command)}</code>`),
    row("host", text(model.host ?? MISSING)),
    row("started", text(clock(model.start))),
    row("ended", text(model.end === undefined ? "did not end" : clock(model.end))),
    row("wall time", text(duration(wall))),
    row("CPU time", text(duration(totalCpuMs(model)))),
    row(
      "parameters",
      params.length === 0
        ? "none"
        : `<ul class="params">${params.map(([k, v]) => `<li><code>${text(k)}</code> = <code>${text(v)}</code></li>`).join("")}</ul>`,
    ),
  ];
  return `<div class="counts">${tiles.join("")}</div><table class="run">${rows.join("")}</table>`;
}
