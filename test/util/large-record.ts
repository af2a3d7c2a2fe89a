import type { RunRecord, TaskRecord } from "../../src/records/run-record.js";
import { sampleRecord } from "./run-records.js";

/**
 * A record of a run with one map of `n` elements (4 at a time, each 50–150 ms; every 97th
 * failed, every 3rd cached), after the sample record's stages: what a report of a large map
 * has to show.
 */
export function largeMapRecord(n: number): RunRecord {
  const record = sampleRecord();
  const start = record.start;
  const lanes = [start, start, start, start];
  const tasks: TaskRecord[] = [];
  for (let i = 0; i < n; i++) {
    const lane = i % lanes.length;
    const cached = i % 3 === 0;
    const failed = !cached && i % 97 === 1;
    const ms = cached ? 1 : 50 + ((i * 37) % 100);
    const t0 = lanes[lane]!;
    lanes[lane] = t0 + ms;
    tasks.push({
      id: 4 + i,
      stage: "register",
      node: "s2",
      element: `sub-${String(i).padStart(5, "0")}`,
      decision: failed ? "failed" : cached ? "cached" : "ran",
      reason: cached ? { kind: "cached" } : { kind: "first-run" },
      start: t0,
      end: t0 + ms,
      ms,
      ...(cached
        ? {}
        : {
            exit: failed ? 1 : 0,
            usage: {
              userMs: ms * 0.8,
              sysMs: ms * 0.1,
              peakRss: 50_000_000 + i * 1000,
              rchar: 1_000_000,
              wchar: 2_000_000,
              samples: 3,
            },
          }),
      ...(failed
        ? { error: { message: "register failed", stderrTail: `element ${i}: bad header` } }
        : {}),
    });
  }
  record.graph.nodes.push({ id: "s2", name: "register", mapped: true, state: "failed" });
  record.graph.edges.push({ from: "s1", to: "s2", label: "converted" });
  record.tasks.push(...tasks);
  record.end = Math.max(record.end, ...lanes);
  record.ms = record.end - record.start;
  return record;
}
