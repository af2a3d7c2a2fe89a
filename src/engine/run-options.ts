/** The options of one run (`forceRun`, `forceSkip`, `forceHashWrite`) and `MEMORI_REFRESH`. */
import { MemoriError, describe } from "../errors.js";

/**
 * Whether `MEMORI_REFRESH` asks every stage to run again (as if given `forceRun`).
 */
export function refreshFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.MEMORI_REFRESH;
  return value !== undefined && value !== "" && value !== "0" && value !== "false";
}

/**
 * Whether a call runs whatever its state says: `forceRun`, or `MEMORI_REFRESH` (`refresh`)
 * unless `forceSkip`. The lookup's rule, and the dry run's for what follows a stage that runs.
 */
export function forcedToRun(options: RunOptions, refresh: boolean): boolean {
  return options.forceRun === true || (refresh && options.forceSkip !== true);
}

/** Options of one run of a stage. */
export interface RunOptions {
  /**
   * Run the function even if its state says the result is cached (`MEMORI_REFRESH=1` does this
   * for every stage). @default false
   */
  readonly forceRun?: boolean;
  /**
   * Load the stored results even if the code, inputs or output files changed (memori warns
   * about changed output files). It is an error if nothing is stored.
   * @default false
   */
  readonly forceSkip?: boolean;
  /** Write the state even when the stage was skipped (records the current inputs). @default false */
  readonly forceHashWrite?: boolean;
}

const RUN_OPTION_KEYS = new Set(["forceRun", "forceSkip", "forceHashWrite"]);

/** Check the options of one run (`forceRun`, `forceSkip`, `forceHashWrite`). */
export function checkRunOptions(stage: string, options: RunOptions): void {
  if (typeof options !== "object" || options === null) {
    throw new MemoriError(
      "invalid-option",
      `stage "${stage}": run options must be an object, got ${describe(options)}.`,
      { stage },
    );
  }
  for (const key in options) {
    if (!Object.hasOwn(options, key)) continue;
    const value = (options as Record<string, unknown>)[key];
    if (!RUN_OPTION_KEYS.has(key)) {
      throw new MemoriError(
        "invalid-option",
        `stage "${stage}": unknown run option \`${key}\`; the options are ${[...RUN_OPTION_KEYS].join(", ")}.`,
        { stage },
      );
    }
    if (value !== undefined && typeof value !== "boolean") {
      throw new MemoriError(
        "invalid-option",
        `stage "${stage}": expected \`${key}\` to be a boolean, got ${describe(value)}.`,
        { stage },
      );
    }
  }
  if (options.forceRun && options.forceSkip) {
    throw new MemoriError(
      "invalid-option",
      `stage "${stage}": forceRun and forceSkip exclude each other.`,
      { stage },
    );
  }
}
