/**
 * `memori cache ls|show|why|gc|clear|accept DIR ...`: inspect and manage a state directory.
 */
import { accessSync, constants, statSync } from "node:fs";
import path from "node:path";
import { describeReason, type Reason } from "../decision.js";
import { codeOf, messageOf } from "../errors.js";
import { recheck } from "../engine/recheck.js";
import { isFileEntry } from "../hashing/values.js";
import { fsExtra } from "../lazy-modules.js";
import {
  acceptEntry,
  findEntries,
  listEntries,
  parseDuration,
  removeEntry,
  strayTempFiles,
  type CacheEntry,
  type EntryStatus,
} from "../state/cache-dir.js";
import type { StoredState } from "../state/store.js";
import { table } from "./table.js";

export const CACHE_HELP = `usage: memori cache COMMAND DIR [ARGS]

Inspect and manage a state directory (what memori -d DIR or a Stage's hashOutput wrote).

commands:
  ls DIR                          each stage: name, last run, size of tracked outputs, status
  show DIR NAME                   a stage's recorded inputs, outputs and code identity
  why DIR NAME                    what would make the stage run again, as far as its files show
  gc DIR --older-than DURATION    remove the state of stages last run before DURATION ago
                                  (30d, 12h, 90m, 2w) and temporary files left by killed runs
  clear DIR [NAME]                remove the state of one stage, or of all
  accept DIR NAME                 record the stage's current output files as valid, without
                                  running it

State files only are removed; outputs are never touched. To wrap a program called "cache",
write memori -- cache ...
`;

type Write = (text: string) => void;

function statusText(status: EntryStatus): string {
  switch (status.kind) {
    case "valid":
      return "valid";
    case "unreadable":
      return `unreadable: ${status.detail}`;
    case "output-missing":
      return `output missing: ${status.path}`;
    case "output-modified":
      return `output modified: ${status.path}`;
  }
}

/** The command line a command's state belongs to (`proc.sh sub-01`), or "" for other stages. */
function callOf(state: StoredState | undefined): string {
  const script = Object.keys(state?.record.code.extras ?? {}).find((k) => k.startsWith("script:"));
  if (state === undefined || script === undefined) return "";
  const args = state.inputs.args;
  const words = (Array.isArray(args) ? args : []).map((arg) =>
    isFileEntry(arg) ? arg.file : typeof arg === "string" ? arg : JSON.stringify(arg),
  );
  const call = [path.basename(script.slice("script:".length)), ...words].join(" ");
  return call.length > 60 ? `${call.slice(0, 59)}…` : call;
}

function size(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/**
 * What would make an entry's call run again: the lookup's own decision on its state, its files
 * as they are now (engine/recheck.ts), so `why` says what a run would do.
 */
async function whyReasons(entry: CacheEntry, dir: string): Promise<Reason[]> {
  if (entry.state === undefined) {
    return [
      {
        kind: "state-unreadable",
        file: entry.store.file("stage"),
        detail: statusText(entry.status),
      },
    ];
  }
  return recheck(entry.state, entry.store, dir);
}

/** Run a `memori cache` command; returns the exit status. */
export async function runCache(argv: readonly string[], out: Write, err: Write): Promise<number> {
  const [command, dir, ...rest] = argv;
  const usage = (message: string) => {
    err(`memori cache: ${message} (see memori cache --help)\n`);
    return 2;
  };
  if (command === undefined || command === "-h" || command === "--help") {
    out(CACHE_HELP);
    return command === undefined ? 2 : 0;
  }
  if (!["ls", "show", "why", "gc", "clear", "accept"].includes(command)) {
    return usage(`unknown command "${command}"; the commands are ls, show, why, gc, clear, accept`);
  }
  if (dir === undefined || dir === "") return usage(`${command} needs a state directory`);
  const missing = folderProblem(dir);
  if (missing !== undefined) {
    err(`memori cache: ${missing}\n`);
    return 1;
  }
  const one = async (name: string | undefined): Promise<CacheEntry[] | number> => {
    if (name === undefined) {
      err(`memori cache: ${command} needs a stage name (see memori cache ls ${dir})\n`);
      return 2;
    }
    const found = await findEntries(dir, name);
    if (found.length === 0) {
      err(`memori cache: no stage "${name}" in ${dir} (see memori cache ls ${dir})\n`);
      return 1;
    }
    return found;
  };

  switch (command) {
    case "ls": {
      const entries = await listEntries(dir);
      if (entries.length === 0) {
        out(`no memori state in ${dir}\n`);
        return 0;
      }
      out(
        table([
          ["NAME", "LAST RUN", "OUTPUTS", "STATUS", "CALL"],
          ...entries.map((e) => [
            e.name,
            e.time.toISOString().replace("T", " ").slice(0, 19),
            size(e.bytes),
            statusText(e.status),
            callOf(e.state),
          ]),
        ]),
      );
      return 0;
    }
    case "show": {
      const found = await one(rest[0]);
      if (typeof found === "number") return found;
      for (const entry of found) {
        out(`${entry.name}  (${statusText(entry.status)})\n`);
        if (entry.state === undefined) continue;
        const { record, inputs, outputs, written } = entry.state;
        out(
          `  last run:  ${record.time}\n  run id:    ${record.run}\n  code hash: ${record.code.hash}\n`,
        );
        for (const [name, hash] of Object.entries(record.code.callees))
          out(`    hashable ${name}: ${hash}\n`);
        for (const [name, value] of Object.entries(record.code.extras))
          out(`    ${name}: ${value}\n`);
        out(`  outputs:   ${record.outputs.join(", ")}\n`);
        out(
          `  inputs:\n${indent(JSON.stringify(inputs, null, 2))}\n  outputs:\n${indent(JSON.stringify(outputs, null, 2))}\n`,
        );
        if (written.length > 0)
          out(
            `  files written through arguments:\n${written.map((w) => `    ${w.file}\n`).join("")}`,
          );
      }
      return 0;
    }
    case "why": {
      const found = await one(rest[0]);
      if (typeof found === "number") return found;
      for (const entry of found) {
        const reasons = await whyReasons(entry, dir);
        if (reasons.length === 0) {
          out(
            `${entry.name}: up to date as far as its files show (it still runs again if its arguments or code change)\n`,
          );
        } else {
          out(
            `${entry.name} would run again:\n${reasons.map((r) => `  - ${describeReason(r)}\n`).join("")}`,
          );
        }
      }
      return 0;
    }
    case "gc": {
      const flag = rest.findIndex((a) => a === "--older-than" || a === "--older_than");
      const text = flag === -1 ? undefined : rest[flag + 1];
      if (text === undefined) return usage("gc needs --older-than DURATION (e.g. 30d)");
      const age = parseDuration(text);
      if (age === undefined)
        return usage(`"${text}" is not a duration such as 30d, 12h, 90m, 45s or 2w`);
      const cutoff = Date.now() - age;
      let count = 0;
      for (const entry of await listEntries(dir)) {
        if (entry.time.getTime() >= cutoff) continue;
        const removed = await removeEntry(entry);
        count++;
        out(
          `removed ${entry.name} (last run ${entry.time.toISOString()}): ${removed.map((f) => path.basename(f)).join(", ")}\n`,
        );
      }
      for (const temp of await strayTempFiles(dir, Math.min(age, 3600_000))) {
        await fsExtra().remove(temp);
        out(`removed temporary file ${temp}\n`);
      }
      out(`gc: removed ${states(count)} last run more than ${text} ago\n`);
      return 0;
    }
    case "clear": {
      const name = rest[0];
      const entries = name === undefined ? await listEntries(dir) : await one(name);
      if (typeof entries === "number") return entries;
      for (const entry of entries) {
        await removeEntry(entry);
        out(`removed ${entry.name}\n`);
      }
      out(`clear: removed ${states(entries.length)}\n`);
      return 0;
    }
    case "accept": {
      const found = await one(rest[0]);
      if (typeof found === "number") return found;
      for (const entry of found) {
        try {
          const changed = await acceptEntry(entry);
          out(
            changed.length === 0
              ? `${entry.name}: outputs unchanged; state rewritten\n`
              : `${entry.name}: accepted the current ${changed.join(", ")}\n`,
          );
        } catch (error) {
          err(`memori cache: cannot accept ${entry.name}: ${(error as Error).message}\n`);
          return 1;
        }
      }
      return 0;
    }
  }
  return 2;
}

/** `1 state`, `4 states`: a stage's, or a map element's (`memori cache ls` lists each). */
function states(n: number): string {
  return n === 1 ? "1 state" : `${n} states`;
}

/** Why `dir` is not a folder to look in (a typo in its path), if it is not one. */
function folderProblem(dir: string): string | undefined {
  try {
    if (!statSync(dir).isDirectory()) return `${dir} is not a folder`;
    accessSync(dir, constants.R_OK | constants.X_OK);
  } catch (error) {
    const code = codeOf(error);
    if (code === "ENOENT" || code === "ENOTDIR") return `no folder ${dir}`;
    if (code === "EACCES") return `cannot read ${dir} (permission denied)`;
    return `cannot read ${dir}: ${messageOf(error)}`;
  }
  return undefined;
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((line) => `    ${line}`)
    .join("\n");
}
