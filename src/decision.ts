import type { MemoriErrorReason } from "./errors.js";

/** Why a stage ran or was skipped (or, in a dry run, would be). */
export type Reason =
  | { kind: "not-memoized" }
  | { kind: "first-run" }
  | { kind: "forced" }
  | { kind: "function-changed"; changed: string[] }
  /** `inside`: for a directory, the first paths inside it that changed (`mri/T1.mgz changed`). */
  | { kind: "input-changed"; name: string; old: string; new: string; inside?: string[] }
  | { kind: "output-names-changed"; old: string[]; new: string[] }
  | { kind: "output-missing"; path: string }
  | { kind: "output-modified"; path: string; inside?: string[] }
  | { kind: "state-unreadable"; file: string; detail: string }
  /** The state was written by an older memori, in format `from`: run once to upgrade it. */
  | { kind: "format-upgraded"; from: number }
  | { kind: "cached"; from?: string }
  | { kind: "upstream-would-run"; upstream: string[] }
  | { kind: "upstream-failed"; upstream: string[] }
  | { kind: "invalid-call"; error: MemoriErrorReason; message: string };

/** What a stage did in its last run, and why. */
export interface Decision {
  /** The stage's name. */
  stage: string;
  /** `run`: the function executed; `skip`: the results came from the state files. */
  action: "run" | "skip";
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
  stage: string;
  action: "run" | "skip" | "run-if-upstream-changes" | "fail" | "blocked";
  reason: Reason;
  /** The label of the map element, for one element of a map. */
  element?: string;
  /** For a map: what each element would do, in input order (when the elements are known). */
  elements?: Explanation[];
}

function insideOf(inside: readonly string[] | undefined): string {
  return inside === undefined || inside.length === 0 ? "" : `: ${inside.join(", ")}`;
}

/** One line for a reason: `input changed: a (1 -> 2)`. */
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
      return `input changed: ${reason.name} (${reason.old} -> ${reason.new})${insideOf(reason.inside)}`;
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
