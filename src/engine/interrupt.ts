/**
 * Interrupts of a run: Ctrl-C (SIGINT) or SIGTERM (`kill`, a cluster's `scancel`) while a
 * pipeline runs, or an abort signal of the caller's. The run stops starting work and cancels
 * what runs; then the pipeline says what finished and what did not, and a signal ends the
 * process as it would have. SIGHUP is left alone: `nohup` relies on it being ignored, and Node
 * cannot tell whether it is.
 */
import { constants } from "node:os";
import { InterruptedError, stopProcesses } from "../process.js";
import { lockSignalListeners } from "../state/lock.js";
import type { NodeReport, ScheduleReport } from "./report.js";

const SIGNALS = ["SIGINT", "SIGTERM"] as const;

/** Signals caught for one run. */
export interface Trap {
  /** Aborted by a caught signal, or by the caller's signal. */
  readonly signal: AbortSignal;
  /** The signal that was caught, if one was. */
  readonly received: NodeJS.Signals | undefined;
  /** Stop catching signals. */
  release(): void;
}

/**
 * Catch interrupt signals for the length of a run, for those signals the program does not
 * listen to itself. A second signal ends the process at once. `external` aborts the run too.
 */
export function trapInterrupts(external: AbortSignal | undefined): Trap {
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  const handlers = new Map<NodeJS.Signals, () => void>();
  const release = () => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
    handlers.clear();
  };
  for (const signal of SIGNALS) {
    const own = process.listeners(signal).filter((l) => !lockSignalListeners.has(l));
    if (own.length > 0) continue; // the program handles it

    const handler = () => {
      if (received !== undefined) {
        release();
        process.kill(process.pid, signal);
        return;
      }
      received = signal;
      controller.abort(
        new InterruptedError(`interrupted by ${signal}`, 128 + (constants.signals[signal] ?? 0)),
      );
      // The process is going down: no stage's process may outlive it.
      stopProcesses();
    };
    handlers.set(signal, handler);
    process.on(signal, handler);
  }
  return {
    signal:
      external === undefined ? controller.signal : AbortSignal.any([external, controller.signal]),
    get received() {
      return received;
    },
    release,
  };
}

/**
 * End the process with the signal that interrupted the run, as if memori had not caught it.
 * Resolves only if the signal does not end the process (it was ignored before memori caught
 * it): then the run's promise rejects instead.
 */
export async function reraise(trap: Trap): Promise<void> {
  trap.release();
  if (trap.received === undefined) return;
  process.kill(process.pid, trap.received);
  // The signal is delivered on the next turns of the event loop: wait for it.
  await new Promise((resolve) => setTimeout(resolve, 1000));
}

function names(list: readonly string[], max = 8): string {
  return list.length <= max ? list.join(", ") : `${list.slice(0, max).join(", ")}, ...`;
}

/** What finished, what was cancelled and what never started, for the interrupt message. */
export function interruptSummary(report: ScheduleReport, why: string): string {
  const finished: string[] = [];
  const cancelled: string[] = [];
  const notStarted: string[] = [];
  const sort = (name: string, status: NodeReport["status"]) => {
    if (status === "done") finished.push(name);
    else if (status === "cancelled" || status === "running") cancelled.push(name);
    else if (status === "waiting") notStarted.push(name);
  };
  for (const r of report.nodes) {
    if (r.elements === undefined) sort(r.node.name, r.status);
    else for (const e of r.elements) sort(`${r.node.name}[${e.label ?? `#${e.index}`}]`, e.status);
  }
  const { ran, cached } = report.counts;
  const lines = [
    `pipeline ${why} after ${(report.ms / 1000).toFixed(1)} s.`,
    `  finished: ${finished.length} (${ran} ran, ${cached} cached)${finished.length ? `: ${names(finished)}` : ""}`,
    `  cancelled: ${cancelled.length}${cancelled.length ? `: ${names(cancelled)}` : ""}`,
    `  not started: ${notStarted.length}${notStarted.length ? `: ${names(notStarted)}` : ""}`,
    "  Finished work is kept and nothing cancelled was recorded: run it again to resume.",
  ];
  return lines.join("\n");
}
