import type { RecordProblem } from "../../src/records/record-check.js";
import { readWhole, recordFiles } from "../../src/records/run-history.js";
import { RUN_RECORD_FORMAT, type RunRecord } from "../../src/records/run-record.js";

/** A small valid record: a stage, and a map with one element that ran a process and one that failed. */
export function sampleRecord(): RunRecord {
  return {
    format: RUN_RECORD_FORMAT,
    id: "20261126-095012345-4242-a3f1",
    start: 1_764_150_612_345,
    end: 1_764_150_614_000,
    ms: 1655,
    outcome: "failed",
    counts: { ran: 1, cached: 1, failed: 1, blocked: 0, cancelled: 0, excluded: 0 },
    command: { via: "api", argv: ["node", "pipeline.js"] },
    host: "lab-01",
    pid: 4242,
    cwd: "/data/study",
    memori: "0.1.0",
    node: "v20.19.0",
    graph: {
      nodes: [
        { id: "s0", name: "list", mapped: false, state: "cached", hashOutput: ".memori" },
        { id: "s1", name: "convert", mapped: true, state: "failed", hashOutput: ".memori" },
      ],
      edges: [
        { from: "start", to: "s0", label: "dir" },
        { from: "s0", to: "s1", label: "files" },
      ],
    },
    tasks: [
      {
        id: 1,
        stage: "list",
        node: "s0",
        decision: "cached",
        reason: { kind: "cached" },
        start: 1_764_150_612_350,
        end: 1_764_150_612_351,
        ms: 1,
      },
      {
        id: 2,
        stage: "convert",
        node: "s1",
        element: "a",
        decision: "ran",
        reason: { kind: "first-run" },
        start: 1_764_150_612_352,
        run: 1_764_150_612_353,
        end: 1_764_150_613_352,
        ms: 1000,
        exit: 0,
        processes: [
          {
            command: ["convert", "a.png"],
            pid: 4243,
            start: 1_764_150_612_360,
            end: 1_764_150_613_350,
            exitCode: 0,
            usage: {
              userMs: 800,
              sysMs: 100,
              peakRss: 210_000_000,
              rchar: 1000,
              wchar: 2000,
              readBytes: 0,
              writeBytes: 4096,
              samples: 7,
            },
          },
        ],
        usage: {
          userMs: 800,
          sysMs: 100,
          peakRss: 210_000_000,
          rchar: 1000,
          wchar: 2000,
          readBytes: 0,
          writeBytes: 4096,
          samples: 7,
        },
      },
      {
        id: 3,
        stage: "convert",
        node: "s1",
        element: "b",
        decision: "failed",
        reason: { kind: "first-run" },
        start: 1_764_150_612_352,
        end: 1_764_150_613_999,
        ms: 1647,
        exit: 2,
        error: { message: "convert failed", reason: "process-failed", stderrTail: "no such file" },
      },
    ],
    cpuMs: 900,
  };
}

/**
 * A known history of three runs in `dir` (the state directory): a pipeline `list` ->
 * `convert` (a map over the subjects, each element a process that holds 50 MiB for 0.3 s) ->
 * `group`.
 * 1. `a,b,c`: everything runs.
 * 2. the same: everything is cached.
 * 3. `a,b,c,bad`, keepGoing: `list` runs again (its input changed), `convert[a..c]` are cached,
 *    `convert[bad]` fails (exit 3, "boom" on stderr), `group` is blocked.
 */
export async function knownRuns(dir: string): Promise<void> {
  const { MappedStage, Pipeline, Stage, runProcess } = await import("../../src/index.js");
  const quiet = { info: () => undefined, warn: () => undefined };
  const list = new Stage((subjects: string) => subjects.split(","), {
    name: "list",
    outputs: "subject",
    hashOutput: dir,
    logger: quiet,
  });
  const convert = new MappedStage(
    new Stage(
      async function convert(subject: string) {
        await runProcess(
          [
            process.execPath,
            "-e",
            "if (process.argv[1] === 'bad') { console.error('boom'); process.exit(3); }" +
              "const b = Buffer.alloc(50 * 1024 * 1024, 1); setTimeout(() => b.length, 300);",
            subject,
          ],
          { stdio: ["ignore", "ignore", "pipe"] },
        );
        return `${subject}.out`;
      },
      { name: "convert", outputs: "converted", hashOutput: dir, logger: quiet },
    ),
    ["subject"],
    { label: ({ subject }) => String(subject) },
  );
  const group = new Stage((converted: string[]) => converted.join(" "), {
    name: "group",
    outputs: "all",
    hashOutput: dir,
    logger: quiet,
  });
  const pipeline = new Pipeline(
    [
      ["start", list],
      [list, convert],
      [convert, group],
    ],
    { keepGoing: true, concurrency: 2 },
  );
  await pipeline.run("a,b,c");
  await pipeline.run("a,b,c");
  await pipeline.run("a,b,c,bad").then(
    () => {
      throw new Error("the third run should fail");
    },
    () => undefined,
  );
}

/** Every run record of a state directory, read whole, oldest first, and what is wrong with the others. */
export function readHistory(stateDir: string): { records: RunRecord[]; problems: RecordProblem[] } {
  const records: RunRecord[] = [];
  const problems: RecordProblem[] = [];
  for (const file of recordFiles(stateDir)) {
    const read = readWhole(file);
    if (read.ok) records.push(read.record);
    else problems.push(read.problem);
  }
  return { records, problems };
}
