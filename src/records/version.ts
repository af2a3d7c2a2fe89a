/** This memori's version, from its package.json (read once), for run records. */
import { readFileSync } from "node:fs";

let version: string | undefined;

/**
 * The `version` of the package.json two levels above this module: the package's, from
 * `dist/records/` as from the bundled program in `dist/cli/` (and from `src/records/`).
 * `"unknown"` when it cannot be read.
 */
export function memoriVersion(): string {
  if (version === undefined) {
    try {
      const manifest = JSON.parse(
        readFileSync(new URL("../../package.json", import.meta.url), "utf8"),
      ) as { version?: unknown };
      version = typeof manifest.version === "string" ? manifest.version : "unknown";
    } catch {
      version = "unknown";
    }
  }
  return version;
}
