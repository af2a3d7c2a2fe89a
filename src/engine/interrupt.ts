/**
 * Interrupts of a run: Ctrl-C (SIGINT) or SIGTERM (`kill`, a cluster's `scancel`) while a
 * pipeline runs, or an abort signal of the caller's. The run stops starting work and cancels
 * what runs; then the pipeline says what finished and what did not, and a signal ends the
 * process as it would have. SIGHUP is left alone: `nohup` relies on it being ignored, and Node
 * cannot tell whether it is.
 */
import { setMaxListeners } from "node:events";
import { constants } from "node:os";
import { InterruptedError, resumeProcesses, stopProcesses } from "../process.js";
import type { NodeReport, ScheduleReport } from "./report.js";

const SIGNALS = ["SIGINT", "SIGTERM"] as const;

/** Signals caught for one run. */
export interface Trap {
  /** Aborted by a caught signal, or by the caller's signal. */
  readonly signal: AbortSignal;
  /** The signal that interrupted this run, if one did. */
  readonly received: NodeJS.Signals | undefined;
  /** This run is over: stop catching signals for it. */
  release(): void;
}

/** The runs in progress in this process, each with what interrupts it and what did. */
const runs = new Map<AbortController, { received?: NodeJS.Signals }>();
/** The handler memori installed, by signal (none for a signal the program handles itself). */
const installed = new Map<NodeJS.Signals, () => void>();
let caught: NodeJS.Signals | undefined;

function uninstall(): void {
  for (const [signal, handler] of installed) process.off(signal, handler);
  installed.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  if (caught !== undefined) {
    // A second signal: stop waiting for the runs to wind down.
    uninstall();
    process.kill(process.pid, signal);
    return;
  }
  caught = signal;
  const reason = new InterruptedError(
    `interrupted by ${signal}`,
    128 + (constants.signals[signal] ?? 0),
  );
  for (const [controller, run] of runs) {
    run.received = signal;
    controller.abort(reason);
  }
  // The process is going down: no stage's process may outlive it, nor start now.
  stopProcesses();
}

/**
 * Catch interrupt signals while runs are in progress (one handler for all of them, for the
 * signals the program does not listen to itself). A second signal ends the process at once.
 * `external` aborts the run too.
 */
export function trapInterrupts(external: AbortSignal | undefined): Trap {
  const controller = new AbortController();
  const run: { received?: NodeJS.Signals } = {};
  runs.set(controller, run);
  for (const signal of SIGNALS) {
    if (installed.has(signal)) continue;
    if (process.listeners(signal).length > 0) continue; // the program handles it
    const handler = () => onSignal(signal);
    installed.set(signal, handler);
    process.on(signal, handler);
  }
  const signal =
    external === undefined ? controller.signal : AbortSignal.any([external, controller.signal]);
  // Every call in flight may listen to it (a SLURM job's wait does): hundreds, not a leak.
  setMaxListeners(0, signal);
  return {
    signal,
    get received() {
      return run.received;
    },
    release() {
      runs.delete(controller);
      if (runs.size > 0) return;
      uninstall();
      if (caught === undefined) return;
      caught = undefined;
      resumeProcesses();
    },
  };
}

/**
 * End the process with the signal that interrupted the run, as if memori had not caught it,
 * once no other run is in progress (the last one to end does it). Resolves only if the signal
 * does not end the process (it was ignored before memori caught it): then the run's promise
 * rejects instead.
 */
export async function reraise(trap: Trap): Promise<void> {
  trap.release();
  if (trap.received === undefined || runs.size > 0) return;
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
