// Shared by the examples: a fresh work directory, and a report of what each stage did.
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { describeReason, type Pipeline } from "memori";

/** A fresh directory under examples/work/ for one example. */
export async function workDir(name: string): Promise<string> {
  const dir = path.resolve("examples", "work", name);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  return dir;
}

/** Print what each stage did and why; return how many memoized stages ran. */
export function report(label: string, pipeline: Pipeline): number {
  console.log(`${label}:`);
  for (const d of pipeline.decisions) {
    const what =
      d.reason.kind === "not-memoized"
        ? "ran (memo off)"
        : d.action === "run"
          ? "ran        "
          : "from cache ";
    console.log(`  ${what} ${d.stage.padEnd(14)} (${describeReason(d.reason)})`);
  }
  // Stages without hashOutput always run, by design: they do not count.
  return pipeline.decisions.filter((d) => d.action === "run" && d.reason.kind !== "not-memoized")
    .length;
}

/** Fail the example if the second run executed anything. */
export function expectAllCached(ran: number): void {
  if (ran !== 0) {
    console.error(`expected the second run to be served from the cache, but ${ran} stage(s) ran`);
    process.exit(1);
  }
}
