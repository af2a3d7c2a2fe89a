// The SLURM executor's options: checked when it is made (a bad one fails then, naming it), the
// resources of one stage's jobs (defaults, its own, memory grown after running out), where the
// job files go, and the command jobs run.
import { existsSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { MemoriError, definePipeline, slurmExecutor } from "../../src/index.js";
import {
  checkExecutorOptions,
  defaultCommand,
  scaledMemory,
  stageResources,
  type SlurmExecutorOptions,
} from "../../src/slurm/executor-options.js";

const root = path.resolve(import.meta.dirname, "..", "..");

function failure(make: () => unknown): MemoriError {
  try {
    make();
  } catch (error) {
    expect(error).toBeInstanceOf(MemoriError);
    expect((error as MemoriError).reason).toBe("invalid-option");
    return error as MemoriError;
  }
  throw new Error("it did not throw");
}

describe("the SLURM executor's options", () => {
  it("has defaults: the default export, no parameters, jobs beside the state, 5 s latency", () => {
    const checked = checkExecutorOptions({ module: "pipeline.js", cwd: "/lab" });
    expect(checked).toMatchObject({
      module: "/lab/pipeline.js",
      exportName: undefined,
      params: {},
      latencyWait: 5000,
      cwd: "/lab",
    });
    expect(checked.jobsDir("/lab/derivatives/.memori")).toBe(
      "/lab/derivatives/.memori/.memori-jobs",
    );
    expect(checked.jobsDir("state")).toBe(path.resolve("state", ".memori-jobs"));
    expect(checked.jobsDir(undefined)).toBe("/lab/.memori-jobs");
    const given = checkExecutorOptions({ module: "p.js", cwd: "/lab", jobsDir: "jobs" });
    expect(given.jobsDir("/lab/derivatives/.memori")).toBe("/lab/jobs");
  });

  it.each([
    [
      {},
      "expected `module` to be the path of the module that defines the stages (jobs import it again), got undefined",
    ],
    [{ module: "p.js", exportName: "" }, "expected `exportName` to be the name of an export"],
    [
      { module: "p.js", params: [] },
      "expected `params` to be an object of parameter values, got an array",
    ],
    [
      { module: "p.js", latencyWait: -1 },
      "expected `latencyWait` to be a number of milliseconds >= 0, got -1 (number)",
    ],
    [{ module: "p.js", command: [] }, "expected `command` to be a non-empty array of strings"],
    [{ module: "p.js", local: "x" }, "expected `local` to be an array of stage names"],
    [{ module: "p.js", jobsDir: 3 }, "expected `jobsDir` to be a directory, got 3 (number)"],
    [{ module: "p.js", arrayMin: 1 }, "expected `arrayMin` to be a whole number >= 2, or Infinity"],
    [
      { module: "p.js", remoteRoot: "mnt/lab" },
      "expected `remoteRoot` to be an absolute path (where the nodes see the project)",
    ],
    [
      { module: "p.js", retries: 2 },
      "unknown option `retries`; the options are module, exportName",
    ],
    [
      { module: "p.js", resources: { memory: "4G" } },
      "unknown key `resources.memory`; resources are { default, stages",
    ],
    [
      { module: "p.js", resources: { default: { memory: "lots" } } },
      'resources.default: Expected `memory` to be a number of megabytes > 0 or a string like "512M"',
    ],
    [
      { module: "p.js", resources: { stages: { recon: { sbatchArgs: ["--array=1-3"] } } } },
      'resources.stages.recon: `sbatchArgs` may not set "--array=1-3"',
    ],
    [
      { module: "p.js", resources: { stages: { recon: 4 } } },
      "expected `resources.stages.recon` to be an object of job resources, got 4 (number)",
    ],
  ])("refuses %j", (options, message) => {
    const error = failure(() => slurmExecutor(options as unknown as SlurmExecutorOptions));
    expect(error.message).toContain(`slurmExecutor: ${message}`);
  });

  it("places the project's root (MEMORI_ROOT, else cwd) where the nodes see it", () => {
    const root = process.env.MEMORI_ROOT;
    try {
      delete process.env.MEMORI_ROOT;
      expect(checkExecutorOptions({ module: "p.js", cwd: "/lab" }).roots).toBeUndefined();
      expect(
        checkExecutorOptions({ module: "p.js", cwd: "/lab", remoteRoot: "/mnt/lab" }).roots,
      ).toEqual({ local: "/lab", remote: "/mnt/lab" });
      process.env.MEMORI_ROOT = "/lab/study";
      expect(checkExecutorOptions({ module: "p.js", cwd: "/lab/study/code" }).roots).toEqual({
        local: "/lab/study",
        remote: "/lab/study",
      });
      expect(
        checkExecutorOptions({ module: "p.js", cwd: "/lab", remoteRoot: "/mnt/study/" }).roots,
      ).toEqual({ local: "/lab/study", remote: "/mnt/study" });
    } finally {
      if (root === undefined) delete process.env.MEMORI_ROOT;
      else process.env.MEMORI_ROOT = root;
    }
  });

  it("definePipeline() checks the resources it declares the same way", () => {
    const error = failure(() =>
      definePipeline({
        pipeline: () => {
          throw new Error("not made");
        },
        resources: { stages: { smooth: { cpus: 0 } } },
      }),
    );
    expect(error.message).toBe(
      "definePipeline(): resources.stages.smooth: Expected `cpus` to be a whole number >= 1, got 0 (number).",
    );
  });

  it("gives a stage the defaults with its own fields over them", () => {
    const resources = {
      default: { cpus: 1, memory: "2G", time: "1:00:00", partition: "short" },
      stages: { recon: { cpus: 4, memory: "8G", partition: undefined } },
    };
    expect(stageResources(resources, "smooth")).toEqual(resources.default);
    expect(stageResources(resources, "recon")).toEqual({
      cpus: 4,
      memory: "8G",
      time: "1:00:00",
      partition: "short",
    });
    expect(stageResources({}, "recon")).toEqual({});
    expect(stageResources({ stages: { recon: { cpus: 2 } } }, "toString")).toEqual({});
  });

  it("multiplies memory for the attempt after one that ran out of it (megabytes, rounded up)", () => {
    expect(scaledMemory({ memory: "1.5G", cpus: 2 }, 2)).toEqual({ memory: 3072, cpus: 2 });
    expect(scaledMemory({ memory: 100 }, 3)).toEqual({ memory: 300 });
    expect(scaledMemory({ cpus: 2 }, 3)).toEqual({ cpus: 2 });
    expect(scaledMemory({ memory: "4G" }, 1)).toEqual({ memory: "4G" });
  });

  it("runs jobs with this Node.js and the command line of this memori package", () => {
    const command = defaultCommand();
    expect(command).toEqual([process.execPath, path.join(root, "dist", "cli", "memori.cjs")]);
    expect(existsSync((command as string[])[1]!)).toBe(true);
  });
});
