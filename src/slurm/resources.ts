/**
 * What one job asks SLURM for (`cpus`, `memory`, `time`, `partition`, extra `sbatch`
 * arguments), and how many calls of a stage one job may run (`callsPerJob`): checked and
 * normalized once, then turned into `sbatch` arguments.
 */
import { describe } from "../errors.js";
import { failed, ok, type SlurmResult } from "./failure.js";

/** The resources of one job (per-stage in the executor). */
export interface JobResources {
  /**
   * CPUs for the job's one task (`--cpus-per-task`), a whole number >= 1.
   * @default the cluster's default (1)
   */
  readonly cpus?: number;
  /**
   * Memory for the job (`--mem`): megabytes as a number, or a string with a unit (`K`, `M`,
   * `G`, `T`, in powers of 1024, with an optional `B` or `iB`), rounded up to whole megabytes.
   * @default the cluster's default (`DefMemPerCPU`, or the whole node)
   * @example "4G"
   */
  readonly memory?: number | string;
  /**
   * Wall-clock limit (`--time`): minutes as a number, or SLURM's forms `"MM"`, `"MM:SS"`,
   * `"HH:MM:SS"`, `"D-HH"`, `"D-HH:MM"`, `"D-HH:MM:SS"`, or `"UNLIMITED"`. A job past it ends
   * with state `TIMEOUT`. It is one call's: a job that runs several calls (`callsPerJob`) asks
   * for it times their number.
   * @default the partition's default
   * @example "2:00:00"
   */
  readonly time?: number | string;
  /**
   * The partition (`--partition`), or a comma-separated list of them.
   * @default the cluster's default partition
   */
  readonly partition?: string;
  /**
   * More `sbatch` arguments, passed as they are (`["--qos=long", "--gres=gpu:1"]`). The ones
   * the client sets itself (`--output`, `--error`, `--array`, `--job-name`, `--parsable`,
   * `--wrap`, `--chdir`) are refused.
   * @default []
   */
  readonly sbatchArgs?: readonly string[];
  /**
   * How many calls of a map's stage one job may run, one after the other in one process (one
   * Node.js start, one import of the module, one check of the stage's code for them all), when
   * they reach the executor together: for calls too short to be worth a job each (a job costs
   * SLURM's scheduling and a process start, about a second or two). Each call still brings its
   * own result back (one that fails does not lose the others'), and the job asks for `time`
   * times its number of calls. Not an `sbatch` argument. Snakemake's `group`.
   * @default 1
   * @example callsPerJob: 8
   */
  readonly callsPerJob?: number;
}

/** {@link JobResources}, checked: numbers in SLURM's units. */
export interface CheckedResources {
  readonly cpus: number | undefined;
  /** Megabytes (a retry may multiply it). */
  readonly memoryMb: number | undefined;
  /** Seconds, or no limit. */
  readonly timeSeconds: number | "UNLIMITED" | undefined;
  readonly partition: string | undefined;
  readonly sbatchArgs: readonly string[];
  /** At least 1. */
  readonly callsPerJob: number;
}

const MEMORY_UNITS: Readonly<Record<string, number>> = { K: 1 / 1024, M: 1, G: 1024, T: 1024 ** 2 };

/** Arguments the client owns: an extra one would break where it reads the job's files or id. */
const OWNED = /^(--(output|error|array|job-name|parsable|wrap|chdir|open-mode)(=|$)|-[oeaJD])/;

function invalid<T>(field: keyof JobResources, value: unknown, expected: string): SlurmResult<T> {
  return failed({
    reason: "invalid-resources",
    message: `Expected \`${field}\` to be ${expected}, got ${describe(value)}`,
  });
}

/**
 * Megabytes from a `memory` value: a number of megabytes, or `"512M"`, `"4G"`, `"1.5G"`,
 * `"100K"`, `"2T"`, `"4GB"`, `"4GiB"` (powers of 1024), rounded up.
 */
export function parseMemory(value: number | string): SlurmResult<number> {
  const expected =
    'a number of megabytes > 0 or a string like "512M", "4G" or "1.5T" (units K, M, G, T)';
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value <= 0) return invalid("memory", value, expected);
    return ok(Math.ceil(value));
  }
  if (typeof value !== "string") return invalid("memory", value, expected);
  const match = /^\s*(\d+(?:\.\d*)?|\.\d+)\s*([KMGT])?(?:i?B)?\s*$/i.exec(value);
  if (match === null) return invalid("memory", value, expected);
  const amount = Number(match[1]);
  const unit = MEMORY_UNITS[(match[2] ?? "M").toUpperCase()] ?? 1;
  if (!(amount > 0)) return invalid("memory", value, expected);
  return ok(Math.ceil(amount * unit));
}

/**
 * Seconds from a `time` value: minutes as a number (fractions rounded up to a second), or one
 * of SLURM's forms (`MM`, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS`), or
 * `"UNLIMITED"` (`"INFINITE"`). Zero is refused (to SLURM it means no limit: say
 * `"UNLIMITED"`).
 */
export function parseTime(value: number | string): SlurmResult<number | "UNLIMITED"> {
  const expected =
    'minutes > 0, or a SLURM time like "30", "10:00" (MM:SS), "2:00:00", "1-12" or "1-00:30:00", or "UNLIMITED"';
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value <= 0) return invalid("time", value, expected);
    return ok(Math.ceil(value * 60));
  }
  if (typeof value !== "string") return invalid("time", value, expected);
  const text = value.trim();
  if (/^(UNLIMITED|INFINITE)$/i.test(text)) return ok("UNLIMITED");
  const match = /^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$/.exec(text);
  if (match === null) return invalid("time", value, expected);
  const [, days, first, second, third] = match;
  const n = (part: string | undefined) => (part === undefined ? 0 : Number(part));
  let seconds: number;
  const sixty = (...parts: (string | undefined)[]) => parts.every((p) => n(p) < 60);
  if (days !== undefined) {
    // D-HH, D-HH:MM, D-HH:MM:SS
    if (n(first) >= 24 || !sixty(second, third)) return invalid("time", value, expected);
    seconds = n(days) * 86_400 + n(first) * 3600 + n(second) * 60 + n(third);
  } else if (third !== undefined) {
    // HH:MM:SS
    if (!sixty(second, third)) return invalid("time", value, expected);
    seconds = n(first) * 3600 + n(second) * 60 + n(third);
  } else {
    // MM, MM:SS
    if (!sixty(second)) return invalid("time", value, expected);
    seconds = n(first) * 60 + n(second);
  }
  if (seconds <= 0) return invalid("time", value, expected);
  return ok(seconds);
}

/** `--time`'s value for a number of seconds: `D-HH:MM:SS` (SLURM rounds up to minutes). */
export function formatTime(seconds: number | "UNLIMITED"): string {
  if (seconds === "UNLIMITED") return "UNLIMITED";
  const two = (n: number) => String(n).padStart(2, "0");
  const days = Math.floor(seconds / 86_400);
  const rest = seconds % 86_400;
  const clock = `${two(Math.floor(rest / 3600))}:${two(Math.floor((rest % 3600) / 60))}:${two(rest % 60)}`;
  return days > 0 ? `${days}-${clock}` : clock;
}

/** Check a job's resources: each field valid, or the first that is not. */
export function checkResources(resources: JobResources = {}): SlurmResult<CheckedResources> {
  const { cpus, memory, time, partition, sbatchArgs = [], callsPerJob = 1 } = resources;
  if (cpus !== undefined && !(Number.isSafeInteger(cpus) && cpus >= 1)) {
    return invalid("cpus", cpus, "a whole number >= 1");
  }
  let memoryMb: number | undefined;
  if (memory !== undefined) {
    const parsed = parseMemory(memory);
    if (!parsed.ok) return parsed;
    memoryMb = parsed.value;
  }
  let timeSeconds: number | "UNLIMITED" | undefined;
  if (time !== undefined) {
    const parsed = parseTime(time);
    if (!parsed.ok) return parsed;
    timeSeconds = parsed.value;
  }
  if (partition !== undefined && !(typeof partition === "string" && /^[\w.,-]+$/.test(partition))) {
    return invalid(
      "partition",
      partition,
      "a partition name (letters, digits, _ . -; commas between several)",
    );
  }
  if (!Array.isArray(sbatchArgs) || !sbatchArgs.every((arg) => typeof arg === "string")) {
    return invalid("sbatchArgs", sbatchArgs, "an array of strings");
  }
  const owned = sbatchArgs.find((arg) => OWNED.test(arg));
  if (owned !== undefined) {
    return failed({
      reason: "invalid-resources",
      message: `\`sbatchArgs\` may not set ${JSON.stringify(owned)}: the SLURM client sets it itself (the job's name, files, id and array)`,
    });
  }
  if (!(Number.isSafeInteger(callsPerJob) && callsPerJob >= 1)) {
    return invalid("callsPerJob", callsPerJob, "a whole number >= 1");
  }
  return ok({ cpus, memoryMb, timeSeconds, partition, sbatchArgs: [...sbatchArgs], callsPerJob });
}

/**
 * The resources of a job that runs `calls` calls one after the other: `time` (one call's)
 * times `calls`; the rest as they are (the calls share the job's CPUs and memory in turn).
 */
export function groupResources(resources: JobResources, calls: number): JobResources {
  if (calls === 1 || resources.time === undefined) return resources;
  const seconds = parseTime(resources.time);
  if (!seconds.ok || seconds.value === "UNLIMITED") return resources;
  return { ...resources, time: formatTime(seconds.value * calls) };
}

/** The `sbatch` arguments that ask for checked resources. */
export function resourceArguments(resources: CheckedResources): string[] {
  const args: string[] = [];
  if (resources.cpus !== undefined) args.push(`--cpus-per-task=${resources.cpus}`);
  if (resources.memoryMb !== undefined) args.push(`--mem=${resources.memoryMb}M`);
  if (resources.timeSeconds !== undefined) args.push(`--time=${formatTime(resources.timeSeconds)}`);
  if (resources.partition !== undefined) args.push(`--partition=${resources.partition}`);
  args.push(...resources.sbatchArgs);
  return args;
}
