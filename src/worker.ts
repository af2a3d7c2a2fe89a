/**
 * CPU-bound JavaScript stages in a worker-thread pool (tinypool): the worker-thread executor.
 * The function runs off the main thread, so several such stages use several cores; it is
 * hashed and memoized exactly like an in-process stage (the engine holds the lock and commits;
 * the worker only calls the function).
 */
import { availableParallelism } from "node:os";
import { existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import path from "node:path";
import type Tinypool from "tinypool";
import { MemoriError, describe } from "./errors.js";
import { markWrapper } from "./hashing/wrappers.js";
import { EXECUTOR, type Executor } from "./engine/executor.js";
import { importModule, tinypool } from "./lazy-modules.js";

/** A pool, and a promise that rejects if one of its workers cannot start. */
interface Pool {
  pool: Tinypool;
  failed: Promise<never>;
}

const pools = new Map<string, Pool>();

async function poolFor(maxThreads: number): Promise<Pool> {
  const key = String(maxThreads);
  let entry = pools.get(key);
  if (entry === undefined) {
    // Through lazy-modules: the bundled library runs from V8's code cache and cannot `import()`.
    const TinypoolClass = await tinypool();
    const pool = new TinypoolClass({
      filename: new URL("./worker-entry.js", import.meta.url).href,
      minThreads: 0,
      maxThreads,
      idleTimeout: 2000,
    });
    // A worker that cannot start must fail the calls waiting for it, not the process.
    const failed = new Promise<never>((_, reject) =>
      pool.on("error", (error: unknown) => {
        pools.delete(key);
        reject(error as Error);
      }),
    );
    failed.catch(() => undefined);
    entry = { pool, failed };
    pools.set(key, entry);
  }
  return entry;
}

/** Run a task on a pool, failing if its workers cannot start. */
async function runOn(entry: Pool, task: unknown, signal?: AbortSignal): Promise<unknown> {
  return Promise.race([entry.pool.run(task, signal ? { signal } : {}), entry.failed]);
}

/**
 * A function exported from a module, to be run in a worker thread. Parameter names and the
 * code hash come from the exported function itself (it is imported here too), so a stage made
 * from it behaves exactly like one made from the function; calls go to a pool of worker threads.
 * Arguments and results cross threads by structured clone.
 *
 * @param module the module's path or URL (a JavaScript file: workers cannot load TypeScript)
 * @param exportName the export to call. @default "default"
 * @example
 * ```ts
 * const denoise = new Stage(await workerFunction(new URL("./denoise.js", import.meta.url), "denoise"), {
 *   hashOutput: ".memori",
 * });
 * await denoise.map({ slice: slices }); // runs on all cores
 * ```
 */
export async function workerFunction(
  module: string | URL,
  exportName = "default",
  options: { maxThreads?: number } = {},
): Promise<(...args: unknown[]) => Promise<unknown>> {
  const url =
    module instanceof URL
      ? module.href
      : /^[a-z]+:/i.test(module)
        ? module
        : pathToFileURL(path.resolve(module)).href;
  const loaded = await importModule(url);
  const fn = loaded[exportName];
  if (typeof fn !== "function") {
    throw new MemoriError(
      "invalid-argument",
      `workerFunction: ${url} has no exported function "${exportName}" (got ${describe(fn)}).`,
    );
  }
  const entry = new URL("./worker-entry.js", import.meta.url);
  if (!existsSync(fileURLToPath(entry))) {
    throw new MemoriError(
      "not-found",
      `workerFunction: the worker entry ${fileURLToPath(entry)} is missing; use memori's built package (dist/), not its TypeScript sources.`,
    );
  }
  const maxThreads = options.maxThreads ?? availableParallelism();
  const wrapper = async function (...args: unknown[]): Promise<unknown> {
    return runOn(await poolFor(maxThreads), { url, exportName, args });
  };
  const executor: Executor = {
    name: "worker-threads",
    async execute({ signature, inputArgs, signal }) {
      try {
        const entry = await poolFor(maxThreads);
        const args = signature.argumentsFor(inputArgs);
        // Aborting (a timeout, an interrupt) terminates the worker thread: the work stops.
        return { ok: true, returned: await runOn(entry, { url, exportName, args }, signal) };
      } catch (error) {
        return { ok: false, error };
      }
    },
  };
  Object.defineProperty(wrapper, EXECUTOR, { value: executor });
  // Where the function runs does not change its result: no wrapper id in the code hash.
  return markWrapper(wrapper, fn, "");
}
