/**
 * The table of `memori run --dry-run`: one row per stage, in run order, and under a map one
 * row per element (or, with `--only`, per element chosen by label; the map's own row then says
 * what those elements would do).
 */
import type { Explanation, Reason } from "../decision.js";
import { PRECEDENCE } from "../engine/report.js";

/** One row of the dry run's table. */
export interface DryRunRow {
  readonly stage: string;
  readonly action: Explanation["action"];
  readonly reason: Reason;
}

function chosen(elements: readonly Explanation[], only: readonly string[]): Explanation[] {
  if (only.length === 0) return [...elements];
  return elements.filter((e) => e.element !== undefined && only.includes(e.element));
}

/** The rows for a dry run's explanations; `only`: the labels of the elements to show. */
export function dryRunRows(
  explanations: readonly Explanation[],
  only: readonly string[],
): DryRunRow[] {
  const rows: DryRunRow[] = [];
  for (const e of explanations) {
    if (e.elements === undefined) {
      rows.push({ stage: e.stage, action: e.action, reason: e.reason });
      continue;
    }
    const elements = chosen(e.elements, only);
    if (only.length === 0 || elements.length === e.elements.length) {
      rows.push({ stage: e.stage, action: e.action, reason: e.reason });
    } else {
      // The row shows the most telling element, as a map explains itself.
      const first = PRECEDENCE.map((a) => elements.find((x) => x.action === a)).find(
        (x) => x !== undefined,
      );
      rows.push({
        stage: `${e.stage} (${elements.length} of ${e.elements.length} elements)`,
        action: first?.action ?? "skip",
        reason: first?.reason ?? { kind: "cached" },
      });
    }
    for (const x of elements)
      rows.push({ stage: `  ${x.stage}`, action: x.action, reason: x.reason });
  }
  return rows;
}

/** A label of `--only` that names no element the dry run knows. */
export interface Unmatched {
  /** What to say. */
  readonly message: string;
  /**
   * Some maps' elements are not known before the stages upstream of them run, so the label
   * may yet name one of theirs: a note, not an error.
   */
  readonly unknowable: boolean;
}

/**
 * The labels of `--only` that name no element of a map whose elements the dry run knows
 * (undefined: each names one). `maps`: the names of the pipeline's maps.
 */
export function unmatchedLabels(
  explanations: readonly Explanation[],
  only: readonly string[],
  maps: ReadonlySet<string>,
): Unmatched | undefined {
  const labels = new Set<string>();
  const unknown: string[] = [];
  for (const e of explanations) {
    for (const x of e.elements ?? []) if (x.element !== undefined) labels.add(x.element);
    if (e.elements === undefined && maps.has(e.stage)) unknown.push(e.stage);
  }
  const missing = only.filter((label) => !labels.has(label));
  if (missing.length === 0) return undefined;
  const all = [...labels];
  const shown = all.length > 20 ? `${all.slice(0, 20).join(", ")}, …` : all.join(", ");
  const known = all.length === 0 ? "" : `; the labels are ${shown}`;
  const subject = `--only ${missing.join(", ")}: no element the dry run knows has this label`;
  if (unknown.length === 0) return { message: `${subject}${known}`, unknowable: false };
  const later = `the elements of ${unknown.join(", ")} are not known before the stages upstream of them run`;
  return { message: `${subject} (${later}${known})`, unknowable: true };
}
