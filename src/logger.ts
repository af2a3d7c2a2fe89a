/** Where memori's messages go: a logger, and the default one on stderr. */

/** Where memori's messages go. */
export interface Logger {
  /** Decisions and what is waited for; printed with `verbose`. */
  info(message: string): void;
  /** Problems that do not stop the run (unreadable state, tampered outputs under forceSkip). */
  warn(message: string): void;
}

/** A logger that prints warnings to stderr, and decisions too when `verbose` is on. */
export function stderrLogger(verbose = isVerboseFromEnv()): Logger {
  return {
    info: verbose ? (message) => process.stderr.write(`memori: ${message}\n`) : quiet,
    warn: (message) => process.stderr.write(`memori: warning: ${message}\n`),
  };
}

/** The `info` of a logger that prints no decisions. */
const quiet = (): void => undefined;

/**
 * Whether `logger.info` does anything with a message, so that the message is worth making:
 * false only for {@link stderrLogger}'s without `verbose`. Any other logger gets every message.
 */
export function logsInfo(logger: Logger): boolean {
  return logger.info !== quiet;
}

function isVerboseFromEnv(): boolean {
  const value = process.env.MEMORI_VERBOSE;
  return value !== undefined && value !== "" && value !== "0" && value !== "false";
}
