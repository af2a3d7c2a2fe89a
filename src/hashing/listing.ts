/**
 * A directory's listing as an input: what a call that listed a directory found there (each
 * entry's name and kind), not the entries' contents. A stage that lists `inbox/` to find its
 * subjects runs again when a subject is added, removed or renamed; the files it then reads
 * count through their own contents (`read:` inputs).
 */
import { readdirSync } from "../untracked-fs.js";
import { sha256 } from "./files.js";

/** What a listing is recorded as when the directory is not there (or cannot be listed). */
export const NO_LISTING = "no listing";

/**
 * The SHA-256 of a directory's sorted entries (`d name`, `f name`, `l name` for a symbolic
 * link, `o name` for anything else), prefixed `listing:`; {@link NO_LISTING} without one.
 */
export function listingHash(dir: string): string {
  let entries: { name: string; kind: string }[];
  try {
    entries = readdirSync(dir, { withFileTypes: true }).map((entry) => ({
      name: entry.name,
      kind: entry.isDirectory() ? "d" : entry.isFile() ? "f" : entry.isSymbolicLink() ? "l" : "o",
    }));
  } catch {
    return NO_LISTING;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return `listing:${sha256(entries.map((e) => `${e.kind} ${e.name}`).join("\n"))}`;
}
