/** The failed tasks, each with its error and the end of its log. */
import { text } from "./html.js";
import { taskName, type ReportTask } from "./model.js";

/** Failures shown in full; the others are in the table of tasks. */
export const SHOWN_FAILURES = 50;

/** The failures section's content (`div.failure` per failed task, up to SHOWN_FAILURES). */
export function failuresHtml(tasks: readonly ReportTask[]): string {
  const failed = tasks.filter((t) => t.decision === "failed");
  if (failed.length === 0) return '<p class="empty">Nothing failed.</p>';
  const more =
    failed.length > SHOWN_FAILURES
      ? `<p class="more">The first ${SHOWN_FAILURES} of ${failed.length} failures (in the order they started); the table of tasks lists them all.</p>`
      : "";
  return (
    more +
    failed
      .slice(0, SHOWN_FAILURES)
      .map((task) => {
        const parts = [`<div class="failure"><h3>${text(taskName(task))}</h3>`];
        if (task.exit !== undefined) parts.push(`<p>exit status ${task.exit}</p>`);
        if (task.error !== undefined) parts.push(`<p class="error">${text(task.error)}</p>`);
        if (task.frames.length > 0)
          parts.push(`<pre class="frames">${text(task.frames.join("\n"))}</pre>`);
        if (task.logTail !== undefined && task.logTail !== "") {
          parts.push(`<pre class="log-tail">${text(task.logTail)}</pre>`);
        } else {
          parts.push('<p class="empty">No log was recorded.</p>');
        }
        parts.push("</div>");
        return parts.join("");
      })
      .join("")
  );
}
