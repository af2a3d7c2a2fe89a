import type { MemoriErrorReason } from "./errors.js";

/**
 * Why a stage ran or was skipped (or, in a dry run, would be), by `kind`; `describeReason()`
 * says it in one line. Kinds that run: `not-memoized`, `first-run`, `forced`,
 * `function-changed`, `input-changed`, `output-names-changed`, `output-missing`,
 * `output-modified`, `state-unreadable`, `format-upgraded`; that skip: `cached`; in dry runs
 * only: `upstream-would-run`, `upstream-failed`, `invalid-call`.
 */
export type Reason =
  | {
      /** The stage has no `hashOutput`: it always runs. */
      kind: "not-memoized";
    }
  | {
      /** No state of this call was found. */
      kind: "first-run";
    }
  | {
      /** `forceRun`, or `MEMORI_REFRESH` naming the stage. */
      kind: "forced";
    }
  | {
      /** The code identity differs from the recorded one. */
      kind: "function-changed";
      /**
       * What changed: the stage's own name when its function's code did, and the helpers,
       * constants, packages and scripts whose identity differs (`helper`, `FWHM`,
       * `script:/abs/run.sh`), or `wrappers` (the decorators around the function).
       */
      changed: string[];
    }
  | {
      /** An input's value or content differs. */
      kind: "input-changed";
      /**
       * The input that changed: a parameter's name, `env:NAME` (an environment variable), or
       * `read:<path>` (a file the stage read without naming it).
       */
      name: string;
      /**
       * Where in the input it first differs, when it is a list of the same length or an
       * object with the same keys: `[2]`, `.options.fwhm`, `.files[0]` (`old` and `new` are
       * then that part's values).
       */
      part?: string;
      /**
       * The recorded value, shortened for display (a file as `path@hash`); for a list whose
       * length changed, its length (`4 items`); for values that shorten alike, the part
       * around where they first differ (`...sub-01/anat.nii"}`).
       */
      old: string;
      /**
       * The current value, shortened likewise; for a list whose length changed, its length
       * and which items were added or removed (`2 items, removed [1] ..., [3] ...`).
       */
      new: string;
      /** For a directory, the first paths inside it that changed (`mri/T1.mgz changed`). */
      inside?: string[];
    }
  | {
      /** The stage's output names differ from the recorded ones. */
      kind: "output-names-changed";
      /** The recorded output names. */
      old: string[];
      /** The current output names. */
      new: string[];
    }
  | {
      /** A file or directory the stage produced is gone. */
      kind: "output-missing";
      /** Its path. */
      path: string;
    }
  | {
      /** A file or directory the stage produced has other content than it left. */
      kind: "output-modified";
      /** Its path. */
      path: string;
      /** For a directory, the first paths inside it that changed (`b.txt removed`). */
      inside?: string[];
    }
  | {
      /** A state file could not be read or does not check (torn, edited, another format). */
      kind: "state-unreadable";
      /** The state file. */
      file: string;
      /** What is wrong with it. */
      detail: string;
    }
  | {
      /** The state was written by an older memori, in format `from`: run once to upgrade it. */
      kind: "format-upgraded";
      /** The format version of the state found. */
      from: number;
    }
  | {
      /** Everything matches: the stored results are used. */
      kind: "cached";
      /** The read-only cache the results came from, if not the stage's own `hashOutput`. */
      from?: string;
    }
  | {
      /** Dry run: runs only if what the stages before it produce differs from last time. */
      kind: "upstream-would-run";
      /** The stages before it that would run. */
      upstream: string[];
    }
  | {
      /** Dry run: a stage it depends on would fail (action `blocked`). */
      kind: "upstream-failed";
      /** The stages that would fail. */
      upstream: string[];
    }
  | {
      /** Dry run: the call itself cannot be made (a missing argument, say). */
      kind: "invalid-call";
      /** The reason of the error the run would raise. */
      error: MemoriErrorReason;
      /** Its message. */
      message: string;
    };

/** What a stage did in its last run, and why. */
export interface Decision {
  /** The stage's name. */
  stage: string;
  /** `run`: the function executed; `skip`: the results came from the state files. */
  action: "run" | "skip";
  /** Why. */
  reason: Reason;
  /** The label of the map element, for one element of a map. */
  element?: string;
  /** Which attempt succeeded, when the stage has `retries` and the first attempt failed. */
  attempt?: number;
}

/**
 * What a dry run (`explain()`) says of a stage: it would `run`, be skipped (`skip`), run only
 * if what the stages before it produce differs from last time (`run-if-upstream-changes`),
 * `fail` before running (a missing argument, say: `reason` says what), or not run because a
 * stage before it would fail (`blocked`).
 */
export interface Explanation {
  /** The stage's name. */
  stage: string;
  /** What the stage would do. */
  action: "run" | "skip" | "run-if-upstream-changes" | "fail" | "blocked";
  /** Why. */
  reason: Reason;
  /** The label of the map element, for one element of a map. */
  element?: string;
  /** For a map: what each element would do, in input order (when the elements are known). */
  elements?: Explanation[];
}

function insideOf(inside: readonly string[] | undefined): string {
  return inside === undefined || inside.length === 0 ? "" : `: ${inside.join(", ")}`;
}

/**
 * One line for a reason: `input changed: a (1 -> 2)`.
 *
 * @example
 * ```ts
 * await pipeline.run(subjects);
 * for (const d of pipeline.decisions) console.log(d.stage, d.action, describeReason(d.reason));
 * ```
 */
export function describeReason(reason: Reason): string {
  switch (reason.kind) {
    case "not-memoized":
      return "not memoized (no hashOutput)";
    case "first-run":
      return "first run";
    case "forced":
      return "forced";
    case "function-changed":
      return `function changed${reason.changed.length ? `: ${reason.changed.join(", ")}` : ""}`;
    case "input-changed":
      return `input changed: ${reason.name}${reason.part ?? ""} (${reason.old} -> ${reason.new})${insideOf(reason.inside)}`;
    case "output-names-changed":
      return `output names changed (${reason.old.join(", ")} -> ${reason.new.join(", ")})`;
    case "output-missing":
      return `output missing: ${reason.path}`;
    case "output-modified":
      return `output modified: ${reason.path}${insideOf(reason.inside)}`;
    case "state-unreadable":
      return `state unreadable: ${reason.file} ${reason.detail}`;
    case "format-upgraded":
      return `state written by an older memori (format ${reason.from}): running once to upgrade it`;
    case "upstream-would-run":
      return `would run if upstream outputs change (${reason.upstream.join(", ")} would run)`;
    case "upstream-failed":
      return `not run: ${reason.upstream.join(", ")} failed`;
    case "invalid-call":
      return `cannot run: ${reason.message}`;
    case "cached":
      return reason.from === undefined ? "cached" : `cached (from read-only cache ${reason.from})`;
    default:
      return unreachable(reason);
  }
}

function unreachable(value: never): never {
  throw new Error(`unexpected reason ${JSON.stringify(value)}`);
}
