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
    info: verbose ? (message) => process.stderr.write(`memori: ${message}\n`) : () => undefined,
    warn: (message) => process.stderr.write(`memori: warning: ${message}\n`),
  };
}

function isVerboseFromEnv(): boolean {
  const value = process.env.MEMORI_VERBOSE;
  return value !== undefined && value !== "" && value !== "0" && value !== "false";
}
