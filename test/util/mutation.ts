/**
 * Child processes under the mutation runner (Stryker runs this suite in worker threads, with
 * the code under test instrumented and built into dist/). A process a test starts runs that
 * instrumented code too: it is told which mutant is active, and the mutants it reaches are
 * counted as covered by the test that started it. Without this, the crash harness, the lock
 * and the command line, which only child processes exercise, would look untested.
 *
 * Outside the mutation runner this does nothing.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach } from "vitest";

type Counts = Record<string, number>;
interface Namespace {
  activeMutant?: string;
  currentTestId?: string;
  mutantCoverage?: { static: Counts; perTest: Record<string, Counts> };
}

const ns = (globalThis as { __stryker__?: Namespace }).__stryker__;
const preload = path.resolve(import.meta.dirname, "stryker-preload.mjs");

/** Whether the suite runs under the mutation runner. */
export const underMutation = ns !== undefined || process.env.STRYKER_MUTATOR_WORKER !== undefined;

if (underMutation) {
  let dir: string | undefined;
  const nodeOptions = process.env.NODE_OPTIONS ?? "";
  beforeEach(() => {
    const stryker = (globalThis as { __stryker__?: Namespace }).__stryker__;
    dir = mkdtempSync(path.join(tmpdir(), "memori-mutation-"));
    process.env.MEMORI_MUTATION_COVERAGE_DIR = dir;
    process.env.NODE_OPTIONS = `${nodeOptions} --import ${preload}`.trim();
    if (stryker?.activeMutant !== undefined) {
      process.env.__STRYKER_ACTIVE_MUTANT__ = String(stryker.activeMutant);
    } else {
      delete process.env.__STRYKER_ACTIVE_MUTANT__;
    }
  });
  afterEach(() => {
    const stryker = (globalThis as { __stryker__?: Namespace }).__stryker__;
    if (dir === undefined) return;
    const testId = stryker?.currentTestId;
    if (stryker !== undefined && testId !== undefined) {
      const coverage = (stryker.mutantCoverage ??= { static: {}, perTest: {} });
      const counts = (coverage.perTest[testId] ??= {});
      for (const file of readdirSync(dir)) {
        try {
          const child = JSON.parse(readFileSync(path.join(dir, file), "utf8")) as {
            static?: Counts;
            perTest?: Record<string, Counts>;
          };
          for (const hits of [child.static ?? {}, ...Object.values(child.perTest ?? {})]) {
            for (const [id, n] of Object.entries(hits)) counts[id] = (counts[id] ?? 0) + n;
          }
        } catch {
          // a torn file of a killed process: its coverage is lost, not wrong
        }
      }
    }
    rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });
}
