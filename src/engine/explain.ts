/**
 * The dry run of one call: the runner's path stopped after the lookup. It reads files and
 * writes nothing. A `cheap` stage that would run is called (its state is not written), so what
 * follows it can be explained too.
 */
import type { Explanation, Reason } from "../decision.js";
import { callName, failureOf, locationOf, type Call, type CallContext } from "./call.js";
import type { CallFailure, Failure } from "./failure.js";
import type { Fingerprint } from "./fingerprint.js";
import { lookupNow } from "./lookup.js";
import { prepare } from "./run.js";
import { checkRunOptions } from "./run-options.js";
import { withAliases } from "./signature.js";

/** What a call would do, with its results when they are known. */
export type ExplainResult =
  | { ok: true; explanation: Explanation; results?: Record<string, unknown> }
  | { ok: false; failure: CallFailure };

/** Explain one call. Never throws: a call that would fail before running is a failure. */
export async function explainCall(call: Call, ctx: CallContext): Promise<ExplainResult> {
  const { def } = call;
  let inputArgs: Record<string, unknown> | undefined;
  const explanation = (action: Explanation["action"], reason: Reason): Explanation => {
    const explained: Explanation = { stage: callName(def, call.element), action, reason };
    if (call.element !== undefined) explained.element = call.element;
    return explained;
  };
  const failed = (failure: Failure): ExplainResult => ({
    ok: false,
    failure: failureOf(call, ctx, inputArgs, failure),
  });
  try {
    checkRunOptions(def.name, call.options);
    inputArgs = def.signature.bind(call.invocation, def.args);
    let reason: Reason = { kind: "not-memoized" };
    let fingerprint: Fingerprint | undefined;
    const location = locationOf(call);
    if (location !== undefined) {
      const { input } = await prepare(call, ctx, location, inputArgs);
      fingerprint = input.fingerprint;
      const found = await lookupNow(input);
      if (found.hit) {
        const results = withAliases(def.name, def.outputs, def.aliases, found.outputs);
        return { ok: true, explanation: explanation("skip", found.reason), results };
      }
      reason = found.reason;
    }
    if (!def.cheap) return { ok: true, explanation: explanation("run", reason) };
    const { execute } = await import("./execute.js");
    const executed = await execute(call, ctx, inputArgs, fingerprint);
    if (!executed.ok) return failed(executed.failure);
    const results = withAliases(def.name, def.outputs, def.aliases, executed.outputs);
    return { ok: true, explanation: explanation("run", reason), results };
  } catch (error) {
    return failed({ kind: "error", error });
  }
}
