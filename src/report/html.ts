/**
 * Writing HTML and SVG text safely: every string that comes from a run record (stage names,
 * labels, reasons, log tails, parameters) passes through `text` or `attr`, so it shows as
 * text and never as markup.
 */

const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** `value` as HTML or SVG text content (also safe inside a quoted attribute). */
export function text(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/** `value` as a quoted attribute value: ` name="value"`. */
export function attr(name: string, value: string | number): string {
  return ` ${name}="${typeof value === "number" ? String(value) : text(value)}"`;
}

/**
 * JSON to put inside an inline `<script type="application/json">`: no `<` (so no `</script>`
 * or `<!--` can end or change the element), and no U+2028/U+2029.
 */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}
