/** This memori's version, from its package.json (read once), for run records. */
import { readFileSync } from "node:fs";

/** The version the build wrote into a bundle (scripts/bundle.mjs); not defined elsewhere. */
declare const __memori_version: string | undefined;

let version: string | undefined;

/**
 * The `version` of the package.json two levels above this module: the package's, from
 * `dist/records/` as from the bundled program in `dist/cli/` (and from `src/records/`).
 * `"unknown"` when it cannot be read. A bundle has it written in by the build: no file is
 * read (reading it through its URL cost a run about 1 ms of Node's URL code compiled).
 */
export function memoriVersion(): string {
  if (version === undefined && typeof __memori_version === "string") version = __memori_version;
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
