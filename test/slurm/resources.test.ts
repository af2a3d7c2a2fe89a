// A job's resources: checked, normalized to SLURM's units, and turned into sbatch arguments.
import { describe, expect, it } from "vitest";
import {
  checkResources,
  formatTime,
  groupResources,
  parseMemory,
  parseTime,
  resourceArguments,
} from "../../src/slurm/resources.js";

const value = <T>(result: { ok: true; value: T } | { ok: false }) =>
  result.ok ? result.value : "invalid";

describe("parseMemory", () => {
  it("reads megabytes and units in powers of 1024, rounding up to a megabyte", () => {
    expect(value(parseMemory(512))).toBe(512);
    expect(value(parseMemory(0.5))).toBe(1);
    expect(value(parseMemory("512"))).toBe(512);
    expect(value(parseMemory("512M"))).toBe(512);
    expect(value(parseMemory("4G"))).toBe(4096);
    expect(value(parseMemory("4g"))).toBe(4096);
    expect(value(parseMemory("4GB"))).toBe(4096);
    expect(value(parseMemory("4 GiB"))).toBe(4096);
    expect(value(parseMemory("1.5G"))).toBe(1536);
    expect(value(parseMemory("2T"))).toBe(2 * 1024 * 1024);
    expect(value(parseMemory("100K"))).toBe(1);
    expect(value(parseMemory("2049K"))).toBe(3);
  });

  it("refuses what is not an amount of memory, naming the field and the value", () => {
    for (const bad of [0, -1, NaN, Infinity, "", "0", "0G", "G", "4X", "four", "-4G", "4 G B"]) {
      expect(value(parseMemory(bad)), JSON.stringify(bad)).toBe("invalid");
    }
    const result = parseMemory("4X");
    expect(result).toMatchObject({
      ok: false,
      error: { reason: "invalid-resources", message: expect.stringMatching(/`memory`.*"4X"/) },
    });
  });
});

describe("parseTime", () => {
  it("reads minutes and SLURM's time forms as seconds", () => {
    expect(value(parseTime(30))).toBe(1800);
    expect(value(parseTime(0.5))).toBe(30);
    expect(value(parseTime("30"))).toBe(1800);
    expect(value(parseTime("10:30"))).toBe(630); // MM:SS
    expect(value(parseTime("90"))).toBe(5400); // minutes may pass 60
    expect(value(parseTime("2:00:00"))).toBe(7200);
    expect(value(parseTime("1-12"))).toBe(36 * 3600); // D-HH
    expect(value(parseTime("1-00:30"))).toBe(86_400 + 1800); // D-HH:MM
    expect(value(parseTime("2-03:04:05"))).toBe(2 * 86_400 + 3 * 3600 + 4 * 60 + 5);
    expect(value(parseTime("UNLIMITED"))).toBe("UNLIMITED");
    expect(value(parseTime("infinite"))).toBe("UNLIMITED");
  });

  it("refuses zero, negative and malformed times", () => {
    const bad = [0, -5, NaN, "", "0", "0:00", "1:60", "1:00:60", "1-24", "1-1:60", "1:2:3:4", "2h"];
    for (const time of bad) expect(value(parseTime(time)), JSON.stringify(time)).toBe("invalid");
    expect(parseTime("2h")).toMatchObject({
      ok: false,
      error: { reason: "invalid-resources", message: expect.stringMatching(/`time`.*"2h"/) },
    });
  });

  it("formats seconds as D-HH:MM:SS", () => {
    expect(formatTime(59)).toBe("00:00:59");
    expect(formatTime(7200)).toBe("02:00:00");
    expect(formatTime(2 * 86_400 + 3 * 3600 + 4 * 60 + 5)).toBe("2-03:04:05");
    expect(formatTime("UNLIMITED")).toBe("UNLIMITED");
  });
});

describe("checkResources", () => {
  it("normalizes every field and makes sbatch's arguments", () => {
    const checked = checkResources({
      cpus: 4,
      memory: "8G",
      time: "1-00:00:00",
      partition: "short,long",
      sbatchArgs: ["--qos=high", "--gres=gpu:1"],
      callsPerJob: 8,
    });
    expect(checked).toEqual({
      ok: true,
      value: {
        cpus: 4,
        memoryMb: 8192,
        timeSeconds: 86_400,
        partition: "short,long",
        sbatchArgs: ["--qos=high", "--gres=gpu:1"],
        callsPerJob: 8,
      },
    });
    expect(resourceArguments(checked.ok ? checked.value : (undefined as never))).toEqual([
      "--cpus-per-task=4",
      "--mem=8192M",
      "--time=1-00:00:00",
      "--partition=short,long",
      "--qos=high",
      "--gres=gpu:1",
    ]);
    expect(value(checkResources())).toEqual({
      cpus: undefined,
      memoryMb: undefined,
      timeSeconds: undefined,
      partition: undefined,
      sbatchArgs: [],
      callsPerJob: 1,
    });
  });

  it("refuses bad CPUs, partitions, and arguments the client sets itself", () => {
    for (const cpus of [0, 1.5, -1, NaN]) {
      expect(checkResources({ cpus })).toMatchObject({
        ok: false,
        error: { reason: "invalid-resources", message: expect.stringMatching(/`cpus`/) },
      });
    }
    expect(checkResources({ partition: "a b" })).toMatchObject({ ok: false });
    expect(checkResources({ sbatchArgs: ["--qos", 5 as never] })).toMatchObject({ ok: false });
    for (const arg of [
      "--output=x",
      "-o",
      "--error",
      "--array=1-3",
      "-J",
      "--parsable",
      "--wrap=x",
    ]) {
      expect(checkResources({ sbatchArgs: [arg] }), arg).toMatchObject({
        ok: false,
        error: { message: expect.stringContaining(JSON.stringify(arg)) },
      });
    }
    // Long options that merely start like an owned short one are fine.
    expect(checkResources({ sbatchArgs: ["--export=ALL", "--exclusive"] }).ok).toBe(true);
  });

  it("refuses a callsPerJob that is not a whole number >= 1", () => {
    for (const callsPerJob of [0, 2.5, -3, NaN, Infinity, "4" as never]) {
      expect(checkResources({ callsPerJob }), String(callsPerJob)).toMatchObject({
        ok: false,
        error: {
          reason: "invalid-resources",
          message: expect.stringMatching(/^Expected `callsPerJob` to be a whole number >= 1, got /),
        },
      });
    }
  });
});

describe("groupResources", () => {
  it("asks for one call's time times the calls, the rest as it is", () => {
    const one = { cpus: 2, memory: "1G", time: 5, callsPerJob: 8 };
    expect(groupResources(one, 8)).toEqual({ ...one, time: "00:40:00" });
    expect(groupResources({ time: "1-00:00:00" }, 3)).toEqual({ time: "3-00:00:00" });
    expect(groupResources({ time: "10:30" }, 2)).toEqual({ time: "00:21:00" });
    // One call, no time, no limit: nothing to scale.
    expect(groupResources(one, 1)).toBe(one);
    expect(groupResources({ memory: 100 }, 4)).toEqual({ memory: 100 });
    expect(groupResources({ time: "UNLIMITED" }, 4)).toEqual({ time: "UNLIMITED" });
  });
});
