/** Why a stage ran or was skipped. */
export type Reason =
  | { kind: "not-memoized" }
  | { kind: "first-run" }
  | { kind: "forced" }
  | { kind: "function-changed"; changed: string[] }
  | { kind: "input-changed"; name: string; old: string; new: string }
  | { kind: "output-names-changed"; old: string[]; new: string[] }
  | { kind: "output-missing"; path: string }
  | { kind: "output-modified"; path: string }
  | { kind: "state-unreadable"; file: string; detail: string }
  | { kind: "cached"; from?: string }
  | { kind: "upstream-would-run"; upstream: string[] };

/** What a stage did in its last run, and why. */
export interface Decision {
  /** The stage's name. */
  stage: string;
  /** `run`: the function executed; `skip`: the results came from the state files. */
  action: "run" | "skip";
  reason: Reason;
}

/**
 * What a dry run (`explain()`) says of a stage: it would `run`, be skipped (`skip`), or run
 * only if what the stages before it produce differs from last time (`run-if-upstream-changes`).
 */
export interface Explanation {
  stage: string;
  action: "run" | "skip" | "run-if-upstream-changes";
  reason: Reason;
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
      return `input changed: ${reason.name} (${reason.old} -> ${reason.new})`;
    case "output-names-changed":
      return `output names changed (${reason.old.join(", ")} -> ${reason.new.join(", ")})`;
    case "output-missing":
      return `output missing: ${reason.path}`;
    case "output-modified":
      return `output modified: ${reason.path}`;
    case "state-unreadable":
      return `state unreadable: ${reason.file} ${reason.detail}`;
    case "upstream-would-run":
      return `would run if upstream outputs change (${reason.upstream.join(", ")} would run)`;
    case "cached":
      return reason.from === undefined ? "cached" : `cached (from read-only cache ${reason.from})`;
    default:
      return unreachable(reason);
  }
}

function unreachable(value: never): never {
  throw new Error(`unexpected reason ${JSON.stringify(value)}`);
}
