/**
 * Running SLURM's commands (`sbatch`, `squeue`, `scontrol`, `sacct`, `scancel`): each one
 * through `execFile`, never a shell, behind a {@link CommandRunner} that tests can wrap to
 * count calls. A failure names the command and its stderr.
 */
import { codeOf, messageOf } from "../errors.js";
import { childProcess } from "../lazy-modules.js";
import { failed, ok, type SlurmResult } from "./failure.js";

/** What a command that exited with status 0 printed. */
export interface CommandOutput {
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of one command. */
export interface CommandOptions {
  /**
   * Kill the command (SIGTERM) after this long: a SLURM client waits for an unresponsive
   * controller for a long time.
   * @default 60_000
   */
  readonly timeoutMs?: number;
}

/**
 * Runs one program with its arguments (no shell) and resolves to its output, or to a failure
 * (`command-not-found`, `command-failed` with the exit status and stderr,
 * `command-timed-out`); it never rejects.
 */
export type CommandRunner = (
  program: string,
  args: readonly string[],
  options?: CommandOptions,
) => Promise<SlurmResult<CommandOutput>>;

/** The longest command line a message quotes in full. */
const QUOTED = 300;

/** A word quoted for bash: `'it'\\''s'`. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A command line for messages: `squeue --noheader --jobs=1,2`, shortened past 300 chars. */
export function commandLine(program: string, args: readonly string[]): string {
  const quoted = [program, ...args].map(shellQuote).join(" ");
  return quoted.length > QUOTED ? `${quoted.slice(0, QUOTED - 3)}...` : quoted;
}

/** The command runner that starts real processes (`execFile`). */
export const runCommand: CommandRunner = (program, args, options = {}) => {
  const timeout = options.timeoutMs ?? 60_000;
  const command = commandLine(program, args);
  return new Promise((resolve) => {
    childProcess().execFile(
      program,
      [...args],
      { encoding: "utf8", timeout, maxBuffer: 256 * 1024 * 1024, killSignal: "SIGTERM" },
      (error, stdout, stderr) => {
        if (error === null) return resolve(ok({ stdout, stderr }));
        const said = stderr.trim();
        if (codeOf(error) === "ENOENT") {
          return resolve(
            failed({
              reason: "command-not-found",
              message: `${program} is not installed here (not found on PATH): is this a SLURM cluster?`,
              command,
              cause: error,
            }),
          );
        }
        const { code, killed, signal } = error as {
          code?: unknown;
          killed?: boolean;
          signal?: string;
        };
        if (killed === true && signal === "SIGTERM") {
          return resolve(
            failed({
              reason: "command-timed-out",
              message: `\`${command}\` did not finish within ${timeout} ms${said ? `: ${said}` : ""}`,
              command,
              stderr: said,
              cause: error,
            }),
          );
        }
        const exitCode = typeof code === "number" ? code : undefined;
        const how =
          exitCode !== undefined
            ? `exit status ${exitCode}`
            : typeof signal === "string"
              ? `signal ${signal}`
              : messageOf(error);
        resolve(
          failed({
            reason: "command-failed",
            message: `\`${command}\` failed (${how})${said ? `: ${said}` : ""}`,
            command,
            ...(exitCode === undefined ? {} : { exitCode }),
            stderr: said,
            cause: error,
          }),
        );
      },
    );
  });
};
