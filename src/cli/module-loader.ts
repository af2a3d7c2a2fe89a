/**
 * Loading a pipeline module for `memori run` (and for `memori run-stage`, a job that runs one
 * of its stages on a cluster node): find the file, register TypeScript's loader if it is TypeScript, import
 * it, pick the export, and check that it is a pipeline. The module imports its own memori,
 * which may be another copy than this command line's: what it exports is recognized by shape
 * and by registered symbols, never by `instanceof`.
 */
import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { codeOf, describe, messageOf } from "../errors.js";
import { importModule, registerTypeScript } from "../lazy-modules.js";
import { checkParamSpecs, type ParamSpecs } from "../params.js";
import { PIPELINE_MODULE, PIPELINE_MODULE_VERSION } from "../pipeline-module.js";
import type { Pipeline } from "../pipeline.js";

/** A loaded module's pipeline, with its parameters. */
export interface RunnableModule {
  /** The module's absolute path. */
  readonly file: string;
  readonly params: ParamSpecs;
  readonly description: string | undefined;
  /** The jobs' resources it declares (`definePipeline({ resources })`), not checked yet. */
  readonly resources: unknown;
  /** The pipeline for these values (a plain Pipeline export: itself). */
  pipeline(values: Readonly<Record<string, unknown>>): Promise<unknown>;
}

/** Why a module could not be loaded; `usage`: the command line named the wrong thing. */
export interface LoadFailure {
  readonly reason:
    | "no-module"
    | "unsupported-extension"
    | "commonjs-typescript"
    | "import-failed"
    | "no-export"
    | "not-a-pipeline";
  readonly message: string;
  readonly usage: boolean;
}

export type Loaded = { ok: true; module: RunnableModule } | { ok: false; failure: LoadFailure };

/**
 * The extensions `memori run` loads, and those that need TypeScript's loader. Not `.cjs`:
 * memori is an ES module, which CommonJS cannot `require`.
 */
const JAVASCRIPT = [".js", ".mjs"];
const TYPESCRIPT = [".ts", ".mts"];

const DEFINITION = Symbol.for("memori.definition");

/** What the command line calls on a pipeline (of any memori copy that has `memori run`). */
const METHODS = ["runNamed", "explainNamed", "withOptions", "upTo"] as const;

/** Whether `value` is a Pipeline this command line can run. */
export function isRunnablePipeline(value: unknown): value is Pipeline {
  if (typeof value !== "object" || value === null) return false;
  const methods = value as Record<string, unknown>;
  return METHODS.every((m) => typeof methods[m] === "function");
}

/** Why `value` is not a pipeline, in words that say what to export instead. */
export function notAPipeline(value: unknown): string {
  if (typeof value === "object" && value !== null) {
    const v = value as Record<string | symbol, unknown>;
    if (v[PIPELINE_MODULE] !== undefined) {
      return `it comes from definePipeline() of a memori whose pipeline modules this memori cannot run (version ${String(v[PIPELINE_MODULE])}, this one runs ${PIPELINE_MODULE_VERSION}): use the memori the module imports`;
    }
    if (typeof v.runNamed === "function" && typeof v.explainNamed === "function") {
      if (DEFINITION in v) {
        return 'it is a stage, not a pipeline: export new Pipeline([["start", stage]])';
      }
      return "it is a Pipeline of a memori without `memori run` (no withOptions, upTo): update the memori the module imports";
    }
  }
  if (typeof value === "function") {
    return "it is a function: declare the pipeline with definePipeline({ params, pipeline: yourFunction }) to make it of parameters";
  }
  return `it is ${describe(value)}: export a Pipeline, or definePipeline({ params, pipeline })`;
}

/**
 * The `"type"` of the package a file belongs to (the nearest package.json's), and that file;
 * `undefined` outside any package.
 */
function packageType(file: string): { type: unknown; manifest: string } | undefined {
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, "package.json");
    let text: string | undefined;
    try {
      text = readFileSync(manifest, "utf8");
    } catch {
      // none here: look further up
    }
    if (text !== undefined) {
      try {
        return { type: (JSON.parse(text) as { type?: unknown }).type, manifest };
      } catch {
        return { type: undefined, manifest };
      }
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

/**
 * Why a `.ts` module cannot be loaded as an ES module: tsx (like Node) loads `.ts` as its
 * package's type, CommonJS unless `"type": "module"`, and memori is an ES module that
 * CommonJS cannot `require`. `.mts` is always an ES module.
 */
function commonJsTypeScript(given: string, file: string): string | undefined {
  if (path.extname(file) !== ".ts") return undefined;
  const found = packageType(file);
  if (found?.type === "module") return undefined;
  const where =
    found === undefined
      ? "it is in no package (no package.json above it)"
      : `its package, ${found.manifest}, has no "type": "module"`;
  return `${given} would load as CommonJS: ${where}, and memori is an ES module, which CommonJS cannot require. Add "type": "module" to the package.json, or name the module ${path.basename(file, ".ts")}.mts`;
}

function failure(
  reason: LoadFailure["reason"],
  message: string,
  usage: boolean,
): { ok: false; failure: LoadFailure } {
  return { ok: false, failure: { reason, message, usage } };
}

/** What an error thrown while importing says: a stack for the module's own errors. */
function importError(error: unknown): string {
  const code = codeOf(error);
  if (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") return messageOf(error);
  if (error instanceof Error && error.name !== "MemoriError") return error.stack ?? error.message;
  return messageOf(error);
}

/** An export of a module, as it is (not checked), or why there is none. */
export type Exported =
  { ok: true; file: string; value: unknown; what: string } | { ok: false; failure: LoadFailure };

/**
 * Import the module `given` (a path, relative to the working directory) and take its export
 * `exportName` (default: its default export), whatever it is.
 */
export async function importExport(
  given: string,
  exportName: string | undefined,
): Promise<Exported> {
  const file = path.resolve(given);
  try {
    if (statSync(file).isDirectory()) {
      return failure("no-module", `${given} is a directory: give the module's file`, true);
    }
  } catch {
    return failure("no-module", `no such module: ${given} (looked for ${file})`, true);
  }
  const extension = path.extname(file);
  if (![...JAVASCRIPT, ...TYPESCRIPT].includes(extension)) {
    return failure(
      "unsupported-extension",
      `${given}: memori run loads modules ending in ${[...JAVASCRIPT, ...TYPESCRIPT].join(", ")}`,
      true,
    );
  }
  const commonJs = commonJsTypeScript(given, file);
  if (commonJs !== undefined) return failure("commonjs-typescript", commonJs, true);
  let namespace: Record<string, unknown>;
  try {
    if (TYPESCRIPT.includes(extension)) await registerTypeScript();
    namespace = await importModule(pathToFileURL(file).href);
  } catch (error) {
    return failure("import-failed", `cannot load ${given}: ${importError(error)}`, false);
  }
  const name = exportName ?? "default";
  const value = namespace[name];
  if (value === undefined) {
    const names = Object.keys(namespace);
    const exports = names.length === 0 ? "it exports nothing" : `its exports: ${names.join(", ")}`;
    const message =
      exportName === undefined
        ? `${given} has no default export (${exports}): export default a pipeline, or choose an export with --export NAME`
        : `${given} has no export "${exportName}" (${exports})`;
    return failure("no-export", message, true);
  }
  const what = exportName === undefined ? "its default export" : `its export "${exportName}"`;
  return { ok: true, file, value, what };
}

/**
 * Load the pipeline that `given` (a path, relative to the working directory) exports as
 * `exportName` (default: its default export).
 */
export async function loadPipelineModule(
  given: string,
  exportName: string | undefined,
): Promise<Loaded> {
  const exported = await importExport(given, exportName);
  if (!exported.ok) return exported;
  return runnableFrom(given, exported);
}

/** The pipeline module an export is: a definePipeline() of this protocol, or a Pipeline. */
export function runnableFrom(
  given: string,
  exported: { readonly file: string; readonly value: unknown; readonly what: string },
): Loaded {
  const { file, value, what } = exported;
  const defined =
    typeof value === "object" && value !== null
      ? (value as Record<symbol, unknown>)[PIPELINE_MODULE]
      : undefined;
  if (defined === PIPELINE_MODULE_VERSION) {
    const m = value as {
      params: unknown;
      description: string | undefined;
      resources?: unknown;
      pipeline(values: Readonly<Record<string, unknown>>): Promise<unknown>;
    };
    try {
      checkParamSpecs(m.params);
    } catch (error) {
      return failure("not-a-pipeline", `${given}, ${what}: ${messageOf(error)}`, false);
    }
    return {
      ok: true,
      module: {
        file,
        params: m.params,
        description: m.description,
        resources: m.resources,
        pipeline: (values) => m.pipeline(values),
      },
    };
  }
  if (!isRunnablePipeline(value)) {
    return failure(
      "not-a-pipeline",
      `${given}: ${what} is not a pipeline: ${notAPipeline(value)}`,
      true,
    );
  }
  const pipeline = value;
  return {
    ok: true,
    module: {
      file,
      params: {},
      description: undefined,
      resources: undefined,
      pipeline: async () => pipeline,
    },
  };
}
