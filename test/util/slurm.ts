// Whether a SLURM cluster answers here, for the tests that submit real jobs. On a developer's
// machine without one they skip (with a warning naming the script that starts one); in CI
// (CI=true) a missing cluster fails them: a cluster test that silently skips is not a test.
import { spawnSync } from "node:child_process";
import { runCommand, type CommandRunner } from "../../src/slurm/command.js";

let answer: string | undefined;

/** Why no usable SLURM cluster answers here, or `""` if one does (asked once per process). */
function missing(): string {
  if (answer !== undefined) return answer;
  const sinfo = spawnSync("sinfo", ["--noheader", "--format=%T"], {
    encoding: "utf8",
    timeout: 20_000,
  });
  if (sinfo.error !== undefined) {
    answer = `sinfo cannot run (${sinfo.error.message})`;
  } else if (sinfo.status !== 0) {
    answer = `sinfo failed: ${sinfo.stderr.trim() || `exit status ${sinfo.status}`}`;
  } else if (!/^(idle|mixed|allocated|completing|planned)/m.test(sinfo.stdout)) {
    answer = `no node is up (sinfo: ${JSON.stringify(sinfo.stdout.trim())})`;
  } else {
    answer = "";
  }
  return answer;
}

/**
 * Whether tests may submit jobs: a cluster answers with a usable node. Without one: `false`
 * with a warning, or, in CI, an error (scripts/slurm-local.sh starts a one-node cluster).
 *
 * @example
 * ```ts
 * describe.runIf(hasSlurm())("jobs", () => { ... });
 * ```
 */
export function hasSlurm(): boolean {
  const why = missing();
  if (why === "") return true;
  if (process.env.CI === "true") {
    throw new Error(
      `SLURM is not usable here, and CI needs it: ${why}. Run scripts/slurm-local.sh first.`,
    );
  }
  console.warn(
    `skipping the SLURM tests: ${why} (scripts/slurm-local.sh starts a one-node cluster here)`,
  );
  return false;
}

/** One command a {@link countingRunner} ran. */
export interface RanCommand {
  readonly program: string;
  readonly args: readonly string[];
  /** What `tag()` returned when it ran (a poller's poll number). */
  readonly tag: number;
}

/**
 * The real command runner, keeping every command it runs: tests count `squeue` calls against
 * real jobs.
 */
export function countingRunner(tag: () => number = () => 0): {
  runner: CommandRunner;
  ran: RanCommand[];
} {
  const ran: RanCommand[] = [];
  const runner: CommandRunner = (program, args, options) => {
    ran.push({ program, args, tag: tag() });
    return runCommand(program, args, options);
  };
  return { runner, ran };
}
