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

/**
 * A record of a fully cached run of a chain of `n` stages (`s0` to `s<n-1>`, each feeding the
 * next): what a report of a pipeline of thousands of stages has to show.
 */
export function longChainRecord(n: number): RunRecord {
  const record = sampleRecord();
  const start = record.start;
  record.graph.nodes = [];
  record.graph.edges = [];
  record.tasks = [];
  for (let i = 0; i < n; i++) {
    record.graph.nodes.push({ id: `s${i}`, name: `step${i}`, mapped: false, state: "cached" });
    if (i > 0) record.graph.edges.push({ from: `s${i - 1}`, to: `s${i}`, label: "x" });
    record.tasks.push({
      id: i + 1,
      stage: `step${i}`,
      node: `s${i}`,
      decision: "cached",
      reason: { kind: "cached" },
      start: start + i,
      end: start + i,
      ms: 0,
    });
  }
  record.counts = { ran: 0, cached: n, failed: 0, blocked: 0, cancelled: 0, excluded: 0 };
  record.end = start + n;
  record.ms = n;
  return record;
}
