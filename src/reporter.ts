/**
 * A ready-made listener for pipeline events. On a terminal it keeps a live block at the
 * bottom of stderr: one status line per running stage (what it is doing, for how long) and a
 * progress bar for the whole run. Elsewhere (CI, log files) it writes one plain line per event.
 */
import { describeReason } from "./decision.js";
import type { EventListener, MemoriEvent } from "./events.js";
import { messageOf } from "./errors.js";
import { userFrames } from "./error-frames.js";

/** Options of {@link terminalReporter}. */
export interface ReporterOptions {
  /** Where to write. @default process.stderr */
  readonly stream?: NodeJS.WritableStream & {
    /** Whether it is a terminal (then the display is live by default). */
    isTTY?: boolean;
    /** Its width in characters: a live display's lines are cut to it (120 when unknown). */
    columns?: number;
  };
  /** Live display (true) or plain lines (false). @default whether the stream is a TTY */
  readonly live?: boolean;
}

/** Whether a call's error says it was cancelled by an interrupt, not that it failed. */
function cancelled(error: unknown): boolean {
  return (error as { reason?: unknown } | null)?.reason === "interrupted";
}

/** Where the user's code threw `error` (its first frame there), on a line of its own; or "". */
function where(error: unknown, newLine: string): string {
  const [first] = userFrames(error);
  return first === undefined ? "" : `${newLine}${first}`;
}

function seconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
}

/**
 * A listener that shows a pipeline's progress.
 * @example new Pipeline(definition, { onEvent: terminalReporter() })
 */
export function terminalReporter(options: ReporterOptions = {}): EventListener {
  const stream = options.stream ?? process.stderr;
  const live = options.live ?? stream.isTTY === true;
  return live ? liveReporter(stream) : plainReporter(stream);
}

function plainReporter(stream: NodeJS.WritableStream): EventListener {
  const lastQuarter = new Map<string, number>();
  return (event: MemoriEvent) => {
    const line = (text: string) => stream.write(`memori: ${text}\n`);
    switch (event.type) {
      case "pipeline:start":
        return line(`pipeline of ${event.stages} stage${event.stages === 1 ? "" : "s"} started`);
      case "stage:start":
        return undefined;
      case "map:start":
        return line(`${event.stage}: ${event.elements} elements`);
      case "stage:retry":
        return line(
          `${event.stage}: attempt ${event.attempt} of ${event.attempts} failed (${messageOf(event.error)}); trying again`,
        );
      case "stage:run":
        return line(`${event.stage}: running (${describeReason(event.reason)})`);
      case "stage:cached":
        return line(`${event.stage}: cached (${seconds(event.ms)})`);
      case "stage:done":
        return line(`${event.stage}: done in ${seconds(event.ms)}`);
      case "stage:error":
        return line(
          cancelled(event.error)
            ? `${event.stage}: cancelled after ${seconds(event.ms)}`
            : `${event.stage}: FAILED after ${seconds(event.ms)}: ${messageOf(event.error)}${where(event.error, "\nmemori:   ")}`,
        );
      case "hash:progress": {
        const quarter = Math.floor((4 * event.bytes) / Math.max(event.total, 1));
        if ((lastQuarter.get(event.file) ?? 0) >= quarter) return undefined;
        lastQuarter.set(event.file, quarter);
        return line(`hashing ${event.file}: ${mib(event.bytes)} of ${mib(event.total)}`);
      }
      case "pipeline:done":
        return line(`pipeline done in ${seconds(event.ms)}: ${summary(event)}`);
    }
  };
}

/** `3 ran, 27 cached, 0 failed` (and what was blocked or cancelled, if anything was). */
function summary(event: Extract<MemoriEvent, { type: "pipeline:done" }>): string {
  const parts = [`${event.ran} ran`, `${event.cached} cached`, `${event.failed} failed`];
  if (event.blocked) parts.push(`${event.blocked} blocked`);
  if (event.cancelled) parts.push(`${event.cancelled} cancelled`);
  if (event.excluded) parts.push(`${event.excluded} left out`);
  return parts.join(", ");
}

function liveReporter(stream: NodeJS.WritableStream & { columns?: number }): EventListener {
  const running = new Map<string, { since: number; what: string }>();
  let total = 0;
  let stages = 0;
  let finished = 0;
  let cached = 0;
  let failed = 0;
  let drawn = 0;
  let started = Date.now();
  let timer: NodeJS.Timeout | undefined;

  const draw = () => {
    // A terminal of unknown width (0 columns, as under `script` without a terminal) gets 120.
    const width = stream.columns !== undefined && stream.columns > 20 ? stream.columns - 1 : 120;
    const now = Date.now();
    const lines = [...running.entries()].map(([stage, r]) =>
      `  \u25b8 ${stage}  ${r.what}  ${seconds(now - r.since)}`.slice(0, width),
    );
    const ratio = total ? finished / total : 0;
    const barWidth = 24;
    const filled = Math.round(ratio * barWidth);
    lines.push(
      `  [${"#".repeat(filled)}${"-".repeat(barWidth - filled)}] ${finished}/${total} ${total === stages ? "stages" : "calls"}, ${cached} cached, ${failed} failed, ${seconds(now - started)}`.slice(
        0,
        width,
      ),
    );
    // Move up over the previous block, clear it, draw the new one.
    stream.write(`${drawn ? `\x1b[${drawn}A` : ""}\r\x1b[J${lines.join("\n")}\n`);
    drawn = lines.length;
  };
  const print = (text: string) => {
    // A permanent line above the live block.
    stream.write(`${drawn ? `\x1b[${drawn}A` : ""}\r\x1b[J${text}\n`);
    drawn = 0;
    draw();
  };

  return (event: MemoriEvent) => {
    switch (event.type) {
      case "pipeline:start":
        total = stages = event.stages;
        started = event.time;
        timer = setInterval(draw, 250);
        timer.unref();
        break;
      case "map:start":
        total += event.elements - 1; // the map counts as its elements
        break;
      case "stage:retry":
        print(
          `  \u21bb ${event.stage} attempt ${event.attempt} of ${event.attempts} failed: ${messageOf(event.error)}`,
        );
        return;
      case "stage:start":
        running.set(event.stage, { since: event.time, what: "checking" });
        break;
      case "stage:run":
        running.set(event.stage, {
          since: running.get(event.stage)?.since ?? event.time,
          what: `running (${describeReason(event.reason)})`,
        });
        break;
      case "hash:progress": {
        for (const [stage, r] of running) {
          if (r.what.startsWith("checking") || r.what.startsWith("hashing")) {
            running.set(stage, { ...r, what: `hashing ${mib(event.bytes)}/${mib(event.total)}` });
          }
        }
        break;
      }
      case "stage:cached":
        running.delete(event.stage);
        finished++;
        cached++;
        break;
      case "stage:done":
        running.delete(event.stage);
        finished++;
        print(
          `  \u2713 ${event.stage} ran in ${seconds(event.ms)} (${describeReason(event.reason)})`,
        );
        return;
      case "stage:error":
        running.delete(event.stage);
        finished++;
        if (cancelled(event.error)) {
          print(`  - ${event.stage} cancelled`);
          return;
        }
        failed++;
        print(
          `  \u2717 ${event.stage} failed: ${messageOf(event.error)}${where(event.error, "\n      ")}`,
        );
        return;
      case "pipeline:done":
        if (timer) clearInterval(timer);
        draw();
        return;
    }
    draw();
  };
}
