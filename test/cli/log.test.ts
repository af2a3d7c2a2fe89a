/**
 * `memori log`, the built program: the runs of a known history (test/util/run-records.ts), one
 * run's tasks as a table and as trace files (TSV, JSON) listing every task with its decision,
 * reason, duration and, for process stages, peak RSS; and the records memoized commands write.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { runsDir } from "../../src/records/run-history.js";
import { readHistory } from "../util/run-records.js";
import { TRACE_FIELDS } from "../../src/records/trace-file.js";
import { bin, run } from "../util/cli.js";
import { largeMapRecord } from "../util/large-record.js";
import { knownRuns } from "../util/run-records.js";
import { tempDir } from "../util/tmp.js";

const execFileAsync = promisify(execFile);

const onLinux = process.platform === "linux";

function parseTsv(text: string): Record<string, string>[] {
  const [header, ...lines] = text.trimEnd().split("\n");
  const fields = header!.split("\t");
  return lines.map((line) => {
    const cells = line.split("\t");
    return Object.fromEntries(fields.map((f, i) => [f, cells[i] ?? ""]));
  });
}

describe("memori log", () => {
  it("lists the runs, a run's tasks, and trace files of every task", async () => {
    const dir = await tempDir();
    const state = path.join(dir, "state");
    await knownRuns(state);
    const ids = readHistory(state).records.map((r) => r.id);
    expect(ids).toHaveLength(3);

    const runs = await run("memori", ["log", state], dir);
    expect(runs).toMatchObject({ status: 0, stderr: "" });
    const lines = runs.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^RUN +STARTED +DURATION +OUTCOME +CALLS +COMMAND$/);
    expect(lines.slice(1).map((l) => l.split(/ {2,}/).slice(0, 1)[0])).toEqual(ids);
    expect(lines[1]).toMatch(/ ok +5 ran, 0 cached +/);
    expect(lines[2]).toMatch(/ ok +0 ran, 5 cached +/);
    expect(lines[3]).toMatch(/ failed +1 ran, 3 cached, 1 failed, 1 blocked +/);

    // From the directory above the state directory, and a run by a prefix of its id.
    const first = await run("memori", ["log", ids[0]!.slice(0, -2)], dir);
    expect(first).toMatchObject({ status: 0, stderr: "" });
    expect(first.stdout).toMatch(/^run .*: ok, 5 ran, 0 cached, /);
    const table = first.stdout.slice(first.stdout.indexOf("TASK"));
    expect(table.split("\n")[0]).toMatch(
      /^TASK +STAGE +DECISION +REASON +DURATION +EXIT +PEAK RSS +CPU$/,
    );
    for (const name of ["list", "convert[a]", "convert[b]", "convert[c]", "group"]) {
      const row = table.split("\n").find((l) => l.split(/ {2,}/)[1] === name);
      expect(row, name).toMatch(/ ran +first run +\d/);
      if (name.startsWith("convert") && onLinux) expect(row).toMatch(/ 0 +\d+\.\d MiB /);
    }

    const tsv = await run("memori", ["log", "last", state, "--format", "tsv"], dir);
    expect(tsv).toMatchObject({ status: 0, stderr: "" });
    const rows = parseTsv(tsv.stdout);
    expect(Object.keys(rows[0]!)).toEqual([...TRACE_FIELDS]);
    const byName = Object.fromEntries(rows.map((r) => [r.name, r]));
    expect(Object.keys(byName).sort()).toEqual([
      "convert[a]",
      "convert[b]",
      "convert[bad]",
      "convert[c]",
      "group",
      "list",
    ]);
    expect(byName.list).toMatchObject({
      status: "COMPLETED",
      decision: "ran",
      reason: 'input changed: subjects ("a,b,c" -> "a,b,c,bad")',
    });
    expect(byName["convert[a]"]).toMatchObject({
      process: "convert",
      tag: "a",
      status: "CACHED",
      decision: "cached",
      reason: "cached",
    });
    expect(byName["convert[bad]"]).toMatchObject({
      status: "FAILED",
      decision: "failed",
      reason: "first run",
      exit: "3",
    });
    expect(byName["convert[bad]"]!.error).toMatch(/exited with status 3/);
    expect(byName.group).toMatchObject({
      status: "ABORTED",
      decision: "blocked",
      duration: "",
    });
    for (const row of rows) {
      if (row.decision !== "blocked") expect(Number(row.duration)).toBeGreaterThanOrEqual(0);
      if (row.decision !== "blocked") expect(row.duration).not.toBe("");
    }

    const json = await run("memori", ["log", ids[0]!, "-d", state, "--format=json"], dir);
    expect(json).toMatchObject({ status: 0, stderr: "" });
    const trace = JSON.parse(json.stdout) as Record<string, unknown>[];
    expect(trace).toHaveLength(5);
    for (const task of trace) {
      expect(task).toMatchObject({ status: "COMPLETED", decision: "ran", reason: "first run" });
      expect(task.duration).toEqual(expect.any(Number));
      if (String(task.name).startsWith("convert")) {
        expect(task.exit).toBe(0);
        if (onLinux) expect(task.peak_rss).toBeGreaterThan(50 * 1024 * 1024);
      }
    }

    const failed = await run("memori", ["log", "last", state], dir);
    expect(failed.stdout).toMatch(
      /convert\[bad\] failed: pipeline: [^]*\n {2}stderr \(last 1 lines\):\n {4}boom\n/,
    );
  });

  it("says what is wrong: no records, an unknown run, a torn record, a bad option", async () => {
    const dir = await tempDir();
    const none = await run("memori", ["log"], dir);
    expect(none).toMatchObject({ status: 1, stdout: "" });
    expect(none.stderr).toMatch(/^memori log: no run records in the current directory/);

    const state = path.join(dir, "state");
    const made = await run("memori", ["-d", state, "echo", "hi"], dir);
    expect(made).toMatchObject({ status: 0, stdout: "hi\n" });
    const unknown = await run("memori", ["log", "2001", state], dir);
    expect(unknown).toMatchObject({ status: 1 });
    expect(unknown.stderr).toMatch(/^memori log: no run "2001": the runs are \d{8}-/);

    await writeFile(path.join(runsDir(state), "20010101-000000000-1-abcd.json"), '{"format": 1');
    const torn = await run("memori", ["log", state], dir);
    expect(torn.status).toBe(0);
    expect(torn.stderr).toMatch(
      /warning: skipped a run record: .*20010101-000000000-1-abcd\.json: not JSON/,
    );
    expect(torn.stdout.trimEnd().split("\n")).toHaveLength(2);

    const bad = await run("memori", ["log", "--format", "csv"], dir);
    expect(bad).toMatchObject({ status: 2 });
    expect(bad.stderr).toMatch(/--format takes text, tsv or json, got "csv"/);
    const help = await run("memori", ["log", "--help"], dir);
    expect(help.stdout).toMatch(/^usage: memori log \[RUN\] \[DIR\]/);
  });

  it("lists large records by their headers; says which one cannot be shown; stops quietly when its reader does", async () => {
    const dir = await tempDir();
    const runs = runsDir(dir);
    await mkdir(runs, { recursive: true });
    // A run of 5,000 calls, written as memori writes one (its graph and tasks last), and the
    // same record torn after its header.
    const { graph, tasks, ...header } = largeMapRecord(5000);
    const big = { ...header, id: "20010101-000000000-1-b1c0", graph, tasks };
    await writeFile(path.join(runs, `${big.id}.json`), JSON.stringify(big));
    const torn = JSON.stringify({ ...big, id: "20010101-000000000-1-70f0" });
    await writeFile(path.join(runs, "20010101-000000000-1-70f0.json"), torn.slice(0, 200_000));

    const listed = await run("memori", ["log", dir], dir);
    expect(listed).toMatchObject({ status: 0, stderr: "" });
    const rows = listed.stdout.trimEnd().split("\n").slice(1);
    expect(rows.map((row) => row.split(/ {2,}/)[0])).toEqual(["20010101-000000000-1-70f0", big.id]);
    expect(rows[1]).toContain(`${big.counts.ran} ran`);

    const shown = await run("memori", ["log", "20010101-000000000-1-70f0", dir], dir);
    expect(shown.status).toBe(1);
    expect(shown.stderr).toMatch(/^memori log: cannot show the run: .*70f0\.json: not JSON/);

    const piped = await execFileAsync("bash", [
      "-c",
      `${JSON.stringify(process.execPath)} ${JSON.stringify(bin("memori"))} log ${big.id} ${JSON.stringify(dir)} | head -n 1; echo "exit \${PIPESTATUS[0]}" >&2`,
    ]);
    expect(piped.stdout).toMatch(new RegExp(`^run ${big.id}: failed`));
    expect(piped.stderr).toBe("exit 0\n");
  });

  it("finds the records of memoized commands: one task per run, -p runs as elements", async () => {
    const dir = await tempDir();
    const state = path.join(dir, "state");
    await mkdir(state);
    expect((await run("memori", ["-d", state, "echo", "one"], dir)).status).toBe(0);
    expect((await run("memori", ["-d", state, "echo", "one"], dir)).status).toBe(0);
    const failing = await run(
      "memori",
      ["-d", state, "--", "sh", "-c", "echo no >&2; exit 4"],
      dir,
    );
    expect(failing.status).toBe(4);
    const parallel = ["-d", state, "-p", "2", "--arg0", "a", "--arg1", "b", "--", "echo"];
    expect((await run("memori", parallel, dir)).status).toBe(0);
    const records = readHistory(state).records;
    expect(records.map((r) => [r.command.via, r.outcome, r.tasks.map((t) => t.decision)])).toEqual([
      ["memori", "ok", ["ran"]],
      ["memori", "ok", ["cached"]],
      ["memori", "failed", ["failed"]],
      ["memori", "ok", ["ran", "ran"]],
    ]);
    for (const task of records.flatMap((r) => r.tasks)) {
      // A skipped command's task too: its times came from its events.
      expect(task.start, `${task.decision} task`).toBeTypeOf("number");
      expect(task.ms).toBe(task.end! - task.start!);
    }
    expect(records[0]!.command.argv.slice(2)).toEqual(["-d", state, "echo", "one"]);
    expect(records[2]!.tasks[0]).toMatchObject({ exit: 4, error: { reason: "process-failed" } });
    expect(records[3]!.tasks.map((t) => t.element).sort()).toEqual(["parallel0", "parallel1"]);
    const log = await run("memori", ["log", state], dir);
    expect(log.stdout).toMatch(/memori -d .* echo one\n/);
  });

  it("says which state directory each run is in, when it lists runs of several", async () => {
    const dir = await tempDir();
    for (const study of ["a", "b"]) {
      const state = path.join(dir, study, "state");
      await mkdir(state, { recursive: true });
      expect((await run("memori", ["-d", state, "echo", study], dir)).status).toBe(0);
    }
    const both = await run("memori", ["log"], dir); // found one and two levels down
    const lines = both.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^RUN +STARTED +DURATION +OUTCOME +CALLS +STATE +COMMAND$/);
    expect(
      lines
        .slice(1)
        .map((l) => l.split(/ {2,}/)[5])
        .sort(),
    ).toEqual([path.join("a", "state"), path.join("b", "state")]);
    // One directory: no such column.
    const one = await run("memori", ["log", path.join(dir, "a", "state")], dir);
    expect(one.stdout.split("\n")[0]).toMatch(/^RUN +STARTED +DURATION +OUTCOME +CALLS +COMMAND$/);
  });
});
