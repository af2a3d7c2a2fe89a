// How a job ended, read from SLURM's own output: the lines of `scontrol show job -o` in
// test/fixtures/slurm/scontrol-show-job.txt were captured on the cluster scripts/slurm-local.sh
// starts (SLURM 22.05, task/cgroup): jobs that exited 0, exited 3, ran past --time=1, were
// cancelled while pending, went over --mem=50M, an array of 4, a job killed by SIGTERM, a
// running job, a pending throttled array, and a requeued job.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  describeEnd,
  endFromRecord,
  endsFromSacct,
  outcomeOf,
  parseExitCode,
  parseRecord,
  recordOf,
} from "../../src/slurm/job-end.js";

const captured = readFileSync(
  new URL("../fixtures/slurm/scontrol-show-job.txt", import.meta.url),
  "utf8",
);

function endOf(id: string) {
  const record = recordOf(captured, id);
  return record === undefined ? "no record" : endFromRecord(id, record);
}

describe("scontrol show job -o", () => {
  it("parses a record's fields, keys with : and / included", () => {
    const fields = parseRecord(captured.split("\n")[0] ?? "");
    expect(fields.get("JobId")).toBe("2");
    expect(fields.get("JobState")).toBe("COMPLETED");
    expect(fields.get("ExitCode")).toBe("0:0");
    expect(fields.get("AllocNode:Sid")).toBe("localhost:7813");
    expect(fields.get("CPUs/Task")).toBe("1");
    expect(fields.get("TRES")).toBe("cpu=1,mem=1G,node=1,billing=1");
    expect(fields.get("StdOut")).toBe("/tmp/cap/ok.out");
    expect(fields.get("Power")).toBe("");
  });

  it("keeps spaces inside a value (a path)", () => {
    const fields = parseRecord("JobId=5 WorkDir=/lab/my data StdErr=/lab/my data/x.err Power=");
    expect(fields.get("WorkDir")).toBe("/lab/my data");
    expect(fields.get("StdErr")).toBe("/lab/my data/x.err");
  });

  it("maps every captured final state to an outcome, an exit code and a signal", () => {
    expect(endOf("2")).toMatchObject({ outcome: "completed", ok: true, exitCode: 0, signal: 0 });
    expect(endOf("3")).toMatchObject({
      outcome: "failed",
      ok: false,
      state: "FAILED",
      exitCode: 3,
      signal: 0,
      reason: "NonZeroExitCode",
      from: "scontrol",
    });
    expect(endOf("4")).toMatchObject({ outcome: "timeout", signal: 15, reason: "TimeLimit" });
    expect(endOf("5")).toMatchObject({ outcome: "cancelled", exitCode: 0, signal: 0 });
    expect(endOf("6")).toMatchObject({
      outcome: "out-of-memory",
      state: "OUT_OF_MEMORY",
      signal: 125,
      reason: "OutOfMemory",
    });
    expect(endOf("8")).toMatchObject({ outcome: "failed", exitCode: 0, signal: 15 });
  });

  it("finds an array element by its array's id and index, not by its own job id", () => {
    expect(recordOf(captured, "7_2")?.get("JobId")).toBe("11");
    expect(endOf("7_0")).toMatchObject({ id: "7_0", outcome: "completed", ok: true });
    // A throttled array's elements still pending share one record: none is theirs yet.
    expect(endOf("13_1")).toBe("no record");
    expect(recordOf(captured, "99")).toBeUndefined();
  });

  it("gives no end for a job still in the system (running, pending, requeued)", () => {
    expect(endOf("12")).toBeUndefined(); // RUNNING
    expect(endOf("15")).toBeUndefined(); // PENDING again after a requeue (Restarts=1)
    expect(recordOf(captured, "15")?.get("Restarts")).toBe("1");
  });
});

describe("states and exit codes", () => {
  it("maps SLURM's final states, and only those", () => {
    const final = {
      COMPLETED: "completed",
      FAILED: "failed",
      CANCELLED: "cancelled",
      "CANCELLED by 0": "cancelled",
      TIMEOUT: "timeout",
      OUT_OF_MEMORY: "out-of-memory",
      NODE_FAIL: "node-fail",
      PREEMPTED: "preempted",
      BOOT_FAIL: "boot-fail",
      DEADLINE: "deadline",
      SPECIAL_EXIT: "failed",
      REVOKED: "cancelled",
    };
    for (const [state, outcome] of Object.entries(final)) expect(outcomeOf(state)).toBe(outcome);
    const active = ["PENDING", "RUNNING", "COMPLETING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD"];
    for (const state of [...active, "SUSPENDED", "RESIZING", "STOPPED", "SIGNALING", ""]) {
      expect(outcomeOf(state), state).toBeUndefined();
    }
  });

  it("reads ExitCode=code:signal", () => {
    expect(parseExitCode("1:0")).toEqual({ exitCode: 1, signal: 0 });
    expect(parseExitCode("0:9")).toEqual({ exitCode: 0, signal: 9 });
    expect(parseExitCode("")).toBeUndefined();
    expect(parseExitCode("1")).toBeUndefined();
  });

  it("says how a job ended in one line", () => {
    const end = (id: string) => {
      const found = endOf(id);
      if (typeof found !== "object") throw new Error(`no end for ${id}`);
      return describeEnd(found);
    };
    expect(end("3")).toBe("job 3 failed (FAILED, exit code 3, NonZeroExitCode)");
    expect(end("4")).toBe("job 4 timed out (TIMEOUT, signal 15, TimeLimit)");
    expect(end("6")).toBe("job 6 ran out of memory (OUT_OF_MEMORY, signal 125, OutOfMemory)");
    expect(end("2")).toBe("job 2 completed (COMPLETED, exit code 0)");
  });
});

describe("sacct --parsable2", () => {
  // Not captured here: this cluster has no accounting storage (sacct says "Slurm accounting
  // storage is disabled"). The lines follow sacct(1): "|" between columns, one line per job
  // and per step, array elements as ARRAY_INDEX, "CANCELLED by UID".
  it("reads jobs, skips steps and jobs still running", () => {
    const stdout = [
      "101|COMPLETED|0:0",
      "101.batch|COMPLETED|0:0",
      "102|FAILED|3:0",
      "102.batch|FAILED|3:0",
      "103_4|OUT_OF_MEMORY|0:125",
      "104|CANCELLED by 0|0:15",
      "105|RUNNING|0:0",
      "",
    ].join("\n");
    const ends = endsFromSacct(stdout);
    expect([...ends.keys()]).toEqual(["101", "102", "103_4", "104"]);
    expect(ends.get("102")).toMatchObject({ outcome: "failed", exitCode: 3, from: "sacct" });
    expect(ends.get("103_4")).toMatchObject({ outcome: "out-of-memory" });
    expect(ends.get("104")).toMatchObject({ outcome: "cancelled", state: "CANCELLED", signal: 15 });
  });
});
