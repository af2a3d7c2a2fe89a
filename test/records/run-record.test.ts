import { describe, expect, it } from "vitest";
import { RUN_RECORD_FORMAT } from "../../src/records/run-record.js";
import {
  checkRunRecord,
  describeProblem,
  parseRunHeader,
  parseRunRecord,
} from "../../src/records/record-check.js";
import { sampleRecord } from "../util/run-records.js";

describe("run records", () => {
  it("reads a valid record back as it was", () => {
    const record = sampleRecord();
    const read = parseRunRecord(JSON.stringify(record), "r.json");
    expect(read).toEqual({ ok: true, record });
  });

  it("says what is wrong and where", () => {
    const record = sampleRecord() as unknown as { tasks: Record<string, unknown>[] };
    record.tasks[2]!.decision = "done";
    const read = checkRunRecord(record, "runs/x.json");
    expect(read.ok).toBe(false);
    if (read.ok) return;
    expect(read.problem.at).toBe("tasks[2].decision");
    expect(describeProblem(read.problem)).toMatch(
      /^runs\/x\.json: tasks\[2\]\.decision: expected one of "ran", .*got "done"$/,
    );
  });

  it("names a missing field", () => {
    const record = sampleRecord() as unknown as Record<string, unknown>;
    delete record.host;
    const read = checkRunRecord(record);
    expect(read.ok ? undefined : read.problem).toMatchObject({ at: "host", message: "missing" });
  });

  it("refuses another format, and text that is not JSON", () => {
    const other = { ...sampleRecord(), format: RUN_RECORD_FORMAT + 1 };
    const read = checkRunRecord(other);
    expect(read.ok ? undefined : read.problem).toMatchObject({ at: "format" });
    const torn = parseRunRecord(JSON.stringify(sampleRecord()).slice(0, 50), "t.json");
    expect(torn.ok ? undefined : describeProblem(torn.problem)).toMatch(/^t\.json: not JSON/);
  });

  it("accepts fields it does not know (records only grow)", () => {
    const record = { ...sampleRecord(), later: { anything: true } };
    expect(checkRunRecord(record).ok).toBe(true);
  });

  it("reads a header from a record's beginning: its fields up to the graph", () => {
    const record = sampleRecord();
    // A command line holding the text that marks the graph, inside a string.
    record.command.argv.push(',"graph":{"nodes":[]}', 'a\\","graph":');
    const { graph, tasks, ...header } = record;
    // As memori writes a record: the graph and the tasks last.
    const text = JSON.stringify({ ...header, graph, tasks });
    expect(graph.nodes.length).toBeGreaterThan(0);
    expect(tasks.length).toBeGreaterThan(0);
    const at = text.indexOf(',"graph":{"nodes":[{');
    expect(parseRunHeader(text.slice(0, at + 20), "r.json")).toEqual({ ok: true, header });
    // Not as far as the graph: the caller reads the whole record.
    expect(parseRunHeader(text.slice(0, 60), "r.json")).toBeUndefined();
  });

  it("says what is wrong with a header, and refuses another format", () => {
    const record = { ...sampleRecord(), outcome: "done" };
    const read = parseRunHeader(JSON.stringify(record), "runs/x.json");
    expect(read?.ok ? undefined : read?.problem).toMatchObject({
      file: "runs/x.json",
      at: "outcome",
    });
    const other = parseRunHeader(JSON.stringify({ ...sampleRecord(), format: 9 }));
    expect(other?.ok ? undefined : other?.problem).toMatchObject({ at: "format" });
  });
});
