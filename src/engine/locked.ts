/**
 * What the runner (run.ts) does under a call's lock: after a miss, look again (another
 * process may have committed meanwhile), execute, commit; after a hit whose result is to be
 * recorded (taken from a read-only cache, `forceHashWrite`), write it. Loaded on demand: a
 * call that is skipped needs none of it, nor what it brings (the lock, the executors, read
 * tracking, tracing processes, committing).
 */
import { describeReason, type Reason } from "../decision.js";
import type { FileEntry, Json } from "../hashing/values.js";
import { MemoriError } from "../errors.js";
import { CarrierLostError } from "../state/atomic.js";
import { crashPoint } from "../state/fault.js";
import { fileLocker, withLock, type LockOptions } from "../state/lock.js";
import { referencedFiles, type ReadResult, type StateStore } from "../state/store.js";
import { callName, tell, type Call, type CallContext } from "./call.js";
import { commitRun, recordResult } from "./commit.js";
import { execute } from "./execute.js";
import type { Failure } from "./failure.js";
import type { Fingerprint } from "./fingerprint.js";
import { recordKnownFiles } from "./known-files.js";
import { lookup, type LookupInput, type Miss } from "./lookup.js";
import type { StageDef } from "./node.js";
import type { KnownFiles } from "../state/store.js";

/** How a call went under its lock: ran or found done meanwhile, with its outputs; or failed. */
export type Locked =
  | {
      readonly ok: true;
      readonly action: "run" | "skip";
      readonly reason: Reason;
      readonly outputs: Record<string, unknown>;
    }
  | { readonly ok: false; readonly failure: Failure };

function lockOptions(def: StageDef, signal: AbortSignal | undefined): LockOptions {
  return {
    onWait: (message) => def.logger.info(message),
    onCompromised: (message) => def.logger.warn(message),
    signal, // an interrupted run stops waiting for another process's lock
  };
}

/** The failure of a call whose lock another process took over before its commit. */
function lockLost(name: string, lost: CarrierLostError): MemoriError {
  return new MemoriError(
    "lock-failed",
    `stage "${name}": another process took over its lock (${lost.path}) while it ran: this process was blocked or suspended for longer than the lock's stale time (a synchronous call such as execSync, Ctrl-Z). Its result was not recorded, and the files it wrote may since hold the other process's; run it again.`,
    { stage: name, cause: lost },
  );
}

/**
 * A memoized call whose lookup missed: take the lock, look again, and unless another run
 * committed meanwhile, execute and commit (never once the lock is lost).
 */
export async function runLocked(
  call: Call,
  ctx: CallContext,
  input: LookupInput & { fingerprint: Fingerprint },
  known: KnownFiles,
  found: Miss,
  inputArgs: Record<string, unknown>,
): Promise<Locked> {
  const { def } = call;
  const { previous, fingerprint } = input;
  const store = input.location!.store;
  const name = callName(def, call.element);
  return withLock(
    store,
    async (lock): Promise<Locked> => {
      let reason = found.reason;
      let current: ReadResult = previous;
      if (reason.kind !== "forced") {
        // Another run may have committed while this one waited for the lock (when there was
        // no record, a look at whether there is one now spares reading a missing file).
        current = previous.kind === "absent" && !store.hasRecord() ? previous : store.read();
        const again = await lookup({ ...input, previous: current, ownOnly: true });
        if (again.hit) {
          await recordKnownFiles(def, store, referencedFiles(again.state), known);
          return { ok: true, action: "skip", reason: again.reason, outputs: again.outputs };
        }
        reason = again.reason;
      }
      def.logger.info(`stage "${name}": running (${describeReason(reason)})`);
      tell(call, ctx, (about) => ({ type: "stage:run", ...about, reason, time: Date.now() }));
      crashPoint("before-function", true);
      const executed = await execute(call, ctx, inputArgs, fingerprint);
      crashPoint("after-function", true);
      if (!executed.ok) return executed;
      const created = call.memo?.absent;
      let changed: string[];
      try {
        changed = await commitRun(
          def,
          store,
          fingerprint,
          executed.outputs,
          current,
          known,
          ctx.scope,
          created,
          executed.access,
          lock.carrier,
        );
      } catch (error) {
        if (!(error instanceof CarrierLostError)) throw error;
        // Never a commit without the lock: the other holder's state stays as it committed it.
        return { ok: false, failure: { kind: "error", error: lockLost(name, error) } };
      }
      if (changed.length > 0) {
        def.logger.warn(
          `stage "${name}": ${changed.join(", ")} changed while it ran, and memori cannot tell who changed it (it existed before, and the stage's last run did not write it: the stage itself, another process, or a stage it is not ordered after). Recorded as changed, so the next run runs it again.`,
        );
      }
      return { ok: true, action: "run", reason, outputs: executed.outputs };
    },
    lockOptions(def, ctx.signal),
    ctx.locker ?? fileLocker,
  );
}

/**
 * Record a result found valid as the call's own state, with its current inputs and code, under
 * the lock (a result taken from a read-only cache, `forceHashWrite`). `make` gives the outputs
 * and written files to record.
 */
export async function recordLocked(
  def: StageDef,
  ctx: CallContext,
  store: StateStore,
  fingerprint: Fingerprint,
  make: () => Promise<[Record<string, Json>, readonly FileEntry[]]>,
): Promise<void> {
  await withLock(
    store,
    async (lock) => recordResult(def, store, fingerprint, ...(await make()), lock.carrier),
    lockOptions(def, ctx.signal),
    ctx.locker ?? fileLocker,
  );
}
