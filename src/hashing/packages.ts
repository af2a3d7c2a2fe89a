/**
 * Where a function's code comes from, for code identity: an installed package (by name and
 * version), memori itself, or the runtime's built-in modules (which never count).
 */
import { readFileSync } from "node:fs";
import { isBuiltin } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { load } from "../lazy-modules.js";

/** Whether a value is an ES module namespace object (`import * as ns`). */
export function isModuleNamespace(value: object): boolean {
  return Object.prototype.toString.call(value) === "[object Module]";
}

/**
 * The exports of the runtime's modules loaded so far (`node:fs`, `node:path`...): built-ins,
 * which do not count, even where a package has patched a member (graceful-fs replaces
 * `fs.close` once loaded: a stage using `fs` must not change identity then).
 */
export function builtinExports(): WeakSet<object> {
  const found = new WeakSet<object>();
  const loaded = (process as unknown as { moduleLoadList?: string[] }).moduleLoadList ?? [];
  for (const entry of loaded) {
    const name = entry.startsWith("NativeModule ") ? entry.slice("NativeModule ".length) : "";
    if (name === "" || name.startsWith("internal/") || !isBuiltin(name)) continue;
    try {
      const exports = load(name) as unknown;
      if (typeof exports === "object" && exports !== null) found.add(exports);
    } catch {
      // not loadable from here: not one a user's code holds either
    }
  }
  return found;
}

/** Whether a value is a built-in module's exports, or a namespace of one. */
export function isBuiltinModule(value: object, builtins: WeakSet<object>): boolean {
  if (builtins.has(value)) return true;
  if (!isModuleNamespace(value)) return false;
  const fallback = (value as { default?: unknown }).default;
  return typeof fallback === "object" && fallback !== null && builtins.has(fallback);
}

const packages = new Map<string, string | undefined>();

/**
 * memori's own code (`src/` or `dist/` of this package), wherever it is loaded from: a
 * library to the stages that use it (`runProcess`, `saveResult`), counted by its version like
 * an installed package, also when it is not under `node_modules` (a checkout, a link).
 */
const own = (() => {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
  let version = "?";
  try {
    const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
      name?: unknown;
      version?: unknown;
    };
    if (typeof manifest.version === "string") version = manifest.version;
  } catch {
    // no manifest beside the code: the version stays unknown
  }
  return { dirs: [join(root, "src") + "/", join(root, "dist") + "/"], name: `memori@${version}` };
})();

/** `name@version` of the package a file belongs to, when it is inside `node_modules`. */
export function packageOf(url: string): string | undefined {
  // ES modules have file: URLs; CommonJS modules plain paths.
  if (!url.startsWith("file:") && !url.startsWith("/")) return undefined;
  const file = url.startsWith("file:") ? fileURLToPath(url) : url;
  if (own.dirs.some((dir) => file.startsWith(dir))) return own.name;
  const at = file.lastIndexOf("/node_modules/");
  if (at < 0) return undefined;
  let dir = dirname(file);
  const root = file.slice(0, at + "/node_modules".length);
  while (dir.length > root.length) {
    if (packages.has(dir)) return packages.get(dir);
    let found: string | undefined;
    try {
      const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
        name?: unknown;
        version?: unknown;
      };
      // Nested package.json files without a name ({"type": "module"}) do not name a package.
      if (typeof manifest.name === "string") {
        found = `${manifest.name}@${typeof manifest.version === "string" ? manifest.version : "?"}`;
      }
    } catch {
      found = undefined;
    }
    if (found !== undefined) {
      packages.set(dir, found);
      return found;
    }
    dir = dirname(dir);
  }
  return undefined;
}
