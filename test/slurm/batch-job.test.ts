// A job's script and sbatch arguments (pure), and sbatch's --parsable output.
import path from "node:path";
import { describe, expect, it } from "vitest";
import { fileStem, prepareJob, type BatchJob } from "../../src/slurm/batch-job.js";
import { parseSubmitted } from "../../src/slurm/submit.js";

const job: BatchJob = {
  name: "normalize.sub-07",
  command: ["memori", "run-stage", "my pipeline.js", "it's"],
  logDir: "/lab/state/logs",
  cwd: "/lab",
  env: { MEMORI_ELEMENT: "sub 07" },
  resources: { cpus: 2, memory: "4G", time: 90, partition: "short", sbatchArgs: ["--qos=low"] },
};

describe("prepareJob", () => {
  it("names the node's paths as the node sees them (seenAs); the script is read here", () => {
    const prepared = prepareJob({
      ...job,
      seenAs: (file) => file.replace(/^\/lab\//, "/mnt/lab/").replace(/^\/lab$/, "/mnt/lab"),
    });
    if (!prepared.ok) throw new Error(prepared.error.message);
    const { script, args, files } = prepared.value;
    expect(script).toBe("/lab/state/logs/normalize.sub-07.sh");
    expect(args).toContain("--output=/mnt/lab/state/logs/normalize.sub-07.out");
    expect(args).toContain("--error=/mnt/lab/state/logs/normalize.sub-07.err");
    expect(args).toContain("--chdir=/mnt/lab");
    expect(args.at(-1)).toBe(script);
    expect(files).toEqual([
      {
        output: "/lab/state/logs/normalize.sub-07.out",
        error: "/lab/state/logs/normalize.sub-07.err",
      },
    ]);
  });

  it("writes a bash script that runs the command as given, with the job's files beside it", () => {
    const prepared = prepareJob(job);
    if (!prepared.ok) throw new Error(prepared.error.message);
    const { script, text, args, files, array } = prepared.value;
    expect(script).toBe("/lab/state/logs/normalize.sub-07.sh");
    expect(text).toBe(
      [
        "#!/bin/bash",
        '# memori: the SLURM job "normalize.sub-07", submitted with sbatch.',
        "export MEMORI_ELEMENT='sub 07'",
        "exec memori run-stage 'my pipeline.js' 'it'\\''s'",
        "",
      ].join("\n"),
    );
    expect(args).toEqual([
      "--parsable",
      "--job-name=normalize.sub-07",
      "--output=/lab/state/logs/normalize.sub-07.out",
      "--error=/lab/state/logs/normalize.sub-07.err",
      "--chdir=/lab",
      "--cpus-per-task=2",
      "--mem=4096M",
      "--time=01:30:00",
      "--partition=short",
      "--qos=low",
      "/lab/state/logs/normalize.sub-07.sh",
    ]);
    expect(files).toEqual([
      {
        output: "/lab/state/logs/normalize.sub-07.out",
        error: "/lab/state/logs/normalize.sub-07.err",
      },
    ]);
    expect(array).toBe(false);
  });

  it("submits an array with %a in its file names, and knows each element's files", () => {
    const prepared = prepareJob({ ...job, resources: {}, array: { count: 3, parallel: 2 } });
    if (!prepared.ok) throw new Error(prepared.error.message);
    expect(prepared.value.args).toContain("--array=0-2%2");
    expect(prepared.value.args).toContain("--output=/lab/state/logs/normalize.sub-07.%a.out");
    expect(prepared.value.files.map((f) => path.basename(f.error))).toEqual([
      "normalize.sub-07.0.err",
      "normalize.sub-07.1.err",
      "normalize.sub-07.2.err",
    ]);
  });

  it("escapes % in directories, names files safely, resolves relative directories", () => {
    expect(fileStem("a/b c%d")).toBe("a_b_c_d");
    const prepared = prepareJob({ name: "x", command: ["true"], logDir: "/tmp/100%/logs" });
    if (!prepared.ok) throw new Error(prepared.error.message);
    expect(prepared.value.args).toContain("--output=/tmp/100%%/logs/x.out");
    expect(prepared.value.files[0]?.output).toBe("/tmp/100%/logs/x.out");
    const relative = prepareJob({ name: "x", command: ["true"], logDir: "logs" });
    expect(relative.ok && relative.value.script).toBe(path.resolve("logs", "x.sh"));
  });

  it("refuses a bad name, command, directory, environment, array or resources", () => {
    const bad: [Partial<BatchJob>, RegExp][] = [
      [{ name: "" }, /`name`/],
      [{ name: "a\nb" }, /`name`/],
      [{ command: [] }, /`command`/],
      [{ command: [""] }, /`command`/],
      [{ command: ["a\0b"] }, /`command`/],
      [{ logDir: "" }, /`logDir`/],
      [{ env: { "A-B": "x" } }, /`env`.*"A-B"/],
      [{ array: { count: 0 } }, /`array.count`/],
      [{ array: { count: 2, parallel: 0 } }, /`array.parallel`/],
      [{ resources: { memory: "lots" } }, /`memory`/],
    ];
    for (const [change, message] of bad) {
      const prepared = prepareJob({ ...job, ...change });
      expect(prepared.ok, JSON.stringify(change)).toBe(false);
      if (!prepared.ok) expect(prepared.error.message).toMatch(message);
    }
    const reason = (change: Partial<BatchJob>) => {
      const prepared = prepareJob({ ...job, ...change });
      return prepared.ok ? "ok" : prepared.error.reason;
    };
    expect(reason({ name: "" })).toBe("invalid-job");
    expect(reason({ resources: { cpus: 0 } })).toBe("invalid-resources");
  });
});

describe("parseSubmitted", () => {
  it("reads the id sbatch --parsable prints, with a cluster after a semicolon", () => {
    expect(parseSubmitted("123\n")).toEqual({ id: "123", cluster: undefined });
    expect(parseSubmitted("123;lab-cluster\n")).toEqual({ id: "123", cluster: "lab-cluster" });
    expect(parseSubmitted("sbatch: note\n456\n")).toEqual({ id: "456", cluster: undefined });
    expect(parseSubmitted("")).toBeUndefined();
    expect(parseSubmitted("Submitted batch job 123")).toBeUndefined();
  });
});
