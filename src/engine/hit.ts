/**
 * What a hit still has to do once the lookup found a valid result: record a result borrowed
 * from a read-only cache, or one `forceSkip` loaded (with `forceHashWrite`), and remember the
 * trusted hashes of the files the state refers to. Nothing at all, most of the time.
 */
import { describeReason } from "../decision.js";
import type { FileEntry } from "../hashing/values.js";
import type { StateLocation } from "../state/location.js";
import type { KnownFiles } from "../state/store.js";
import { callName, type Call, type CallContext } from "./call.js";
import { directoryRule, encodeAll, type Fingerprint } from "./fingerprint.js";
import { codeFilesOf } from "../hashing/wrappers.js";
import { recordKnownFiles } from "./known-files.js";
import type { recordLocked } from "./locked.js";
import type { Hit } from "./lookup.js";

type Recorded = Parameters<typeof recordLocked>[4];

/**
 * Record a result as the call's own state under its lock (locked.ts, loaded on demand: a hit
 * that records nothing needs neither it nor the lock).
 */
async function record(
  call: Call,
  ctx: CallContext,
  location: StateLocation,
  fingerprint: Fingerprint,
  make: Recorded,
): Promise<void> {
  const { recordLocked } = await import("./locked.js");
  await recordLocked(call.def, ctx, location.store, fingerprint, make);
}

/**
 * What a hit still has to do: warn, record a borrowed or forced result, remember file hashes
 * (`referenced`: the files its own state refers to). `undefined` when there is nothing to do.
 */
export function settleHit(
  call: Call,
  ctx: CallContext,
  found: Hit,
  location: StateLocation,
  fingerprint: Fingerprint,
  known: KnownFiles,
  referenced: readonly FileEntry[],
): Promise<void> | undefined {
  const { options } = call;
  if (found.from === undefined && found.reason.kind !== "forced") {
    // A hit on the call's own state (found.state is the state prepare() read).
    // (a script's own files are hints too: see known-files.ts)
    if (
      !options.forceHashWrite &&
      referenced.length === 0 &&
      codeFilesOf(call.def.fn) === undefined
    )
      return undefined;
    return rememberHit(call, ctx, found, location, fingerprint, known, referenced);
  }
  return settleOtherHit(call, ctx, found, location, fingerprint);
}

/** A hit on the call's own state: with `forceHashWrite`, recorded again; file hashes kept. */
async function rememberHit(
  call: Call,
  ctx: CallContext,
  found: Hit,
  location: StateLocation,
  fingerprint: Fingerprint,
  known: KnownFiles,
  referenced: readonly FileEntry[],
): Promise<void> {
  const { def } = call;
  const store = location.store;
  if (call.options.forceHashWrite) {
    await record(call, ctx, location, fingerprint, async () => [
      found.state.outputs,
      found.state.written,
    ]);
  }
  await recordKnownFiles(def, store, referenced, known);
}

/** A hit from a read-only cache (recorded as the call's own), or forced by `forceSkip`. */
async function settleOtherHit(
  call: Call,
  ctx: CallContext,
  found: Hit,
  location: StateLocation,
  fingerprint: Fingerprint,
): Promise<void> {
  const { def, options } = call;
  const name = callName(def, call.element);
  const stored: Recorded = async () => [found.state.outputs, found.state.written];
  if (found.from !== undefined) {
    await record(call, ctx, location, found.fingerprint ?? fingerprint, stored);
    def.logger.info(`stage "${name}": taken from read-only cache ${found.from}`);
    return;
  }
  if (found.reason.kind === "forced") {
    if (found.mismatch !== undefined) {
      def.logger.warn(
        `stage "${name}": forceSkip loads stored results although ${describeReason(found.mismatch)}.`,
      );
    }
    // Accept the outputs as they are now: their files, and the files written through
    // arguments, re-hashed; with the current inputs.
    if (options.forceHashWrite) {
      await record(call, ctx, location, fingerprint, async () => {
        const outputs = await encodeAll(def, found.outputs, "outputs", ctx.scope);
        const written = [];
        for (const { file } of found.state.written) {
          const hash = await def.hasher.hash(file, ctx.scope, directoryRule(def));
          if (hash !== undefined) written.push({ file, hash });
        }
        return [outputs, written];
      });
    }
  }
}
