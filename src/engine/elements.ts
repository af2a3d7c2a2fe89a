/**
 * The elements of a map: the mapped lists combined (every combination, or element-wise), and
 * the label each element is named by in logs, errors and summaries.
 */
import path from "node:path";
import { MemoriError, describe } from "../errors.js";
import type { Mapping } from "./node.js";

/** The elements of a map: one object of mapped values each, in order. */
export function elementsOf(
  stage: string,
  mapping: Mapping,
  named: Readonly<Record<string, unknown>>,
): Record<string, unknown>[] {
  const { over } = mapping;
  const lists = over.map((name) => {
    const list = named[name];
    if (!Array.isArray(list)) {
      throw new MemoriError(
        "invalid-argument",
        `stage "${stage}": the mapped parameter "${name}" needs an array, got ${describe(list)}.`,
        { stage },
      );
    }
    return list as unknown[];
  });
  if (mapping.mode === "zip") {
    const lengths = lists.map((l) => l.length);
    if (new Set(lengths).size > 1) {
      throw new MemoriError(
        "invalid-argument",
        `stage "${stage}": zip needs lists of equal length, got ${over.map((n, i) => `${n}: ${lengths[i]}`).join(", ")}.`,
        { stage },
      );
    }
    return (lists[0] ?? []).map((_, i) =>
      Object.fromEntries(over.map((n, k) => [n, lists[k]![i]])),
    );
  }
  let combos: Record<string, unknown>[] = [{}];
  over.forEach((name, k) => {
    combos = combos.flatMap((combo) => lists[k]!.map((value) => ({ ...combo, [name]: value })));
  });
  return combos;
}

const MAX_LABEL = 40;

/** A value as a short label: a block's key, a string's tail, a number. */
function valueLabel(value: unknown): string {
  if (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { key?: unknown }).key === "string"
  ) {
    return (value as { key: string }).key;
  }
  let text: string;
  // A path is named by its file name: `sub-03_T1w.nii.gz`.
  if (typeof value === "string") text = value.includes("/") ? path.basename(value) || value : value;
  else if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") {
    text = String(value);
  } else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = describe(value);
    }
  }
  // The end of a path names the file: keep the tail.
  return text.length > MAX_LABEL ? `…${text.slice(text.length - MAX_LABEL + 1)}` : text;
}

/**
 * The default label of an element: its values (a path's file name `sub-01_T1w.nii.gz`,
 * `a=1,b=x`, a block's key).
 */
export function defaultLabel(values: Readonly<Record<string, unknown>>): string {
  const entries = Object.entries(values);
  if (entries.length === 1) return valueLabel(entries[0]![1]);
  return entries.map(([k, v]) => `${k}=${valueLabel(v)}`).join(",");
}

/**
 * The labels of a map's elements: the user's `label` function, or {@link defaultLabel}.
 * Labels that repeat get `#index` appended, so each names one element.
 */
export function labelsOf(
  stage: string,
  mapping: Mapping,
  elements: readonly Record<string, unknown>[],
  given?: readonly (string | undefined)[],
): string[] {
  const labels = elements.map((values, i) => {
    const inherited = given?.[i];
    if (mapping.label === undefined && inherited !== undefined) return inherited;
    if (mapping.label === undefined) return defaultLabel(values);
    const label = mapping.label(values);
    if (typeof label !== "string" || label === "") {
      throw new MemoriError(
        "invalid-option",
        `stage "${stage}": its \`label\` function returned ${describe(label)} for element ${i}; it must return a non-empty string.`,
        { stage },
      );
    }
    return label;
  });
  const seen = new Map<string, number>();
  for (const label of labels) seen.set(label, (seen.get(label) ?? 0) + 1);
  return labels.map((label, i) => ((seen.get(label) ?? 0) > 1 ? `${label}#${i}` : label));
}
