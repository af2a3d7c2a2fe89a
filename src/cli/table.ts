/** Text tables for the command line: columns padded to their widest cell, two spaces apart. */

/**
 * Rows as lines, the first row usually the header, each line after `indent`; no line ends in
 * spaces (the last column is not padded).
 */
export function table(rows: readonly (readonly string[])[], indent = ""): string {
  if (rows.length === 0) return "";
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return (
    rows
      .map((r) =>
        (
          indent +
          r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ")
        ).trimEnd(),
      )
      .join("\n") + "\n"
  );
}
