/**
 * A stored state checked alone, as the lookup would check the call it records if that call
 * came again (`memori cache why`): without the stage's function or its arguments, only what
 * the state names. The call's fingerprint is made from the state, its files as they are now
 * (the files its inputs name, the scripts its code is read from, what its code found), and
 * the lookup decides on it with its own rules ({@link validState}): a directory the call wrote
 * into is a place to write, not an input by content, as in a run.
 *
 * What the state cannot tell is taken as recorded: the function's own code (only the scripts a
 * command or `scriptFunction` runs are files), the environment variables it read, the working
 * directory a run would have, and an input recorded as a plain path (a `byName` parameter, or
 * a path that named nothing at the last run) stays one. The stage's `ignore` globs are not in
 * its state: a directory is hashed here without them.
 */
import path from "node:path";
import type { Reason } from "../decision.js";
import { HashScope, defaultHasher, type DirectoryRule } from "../hashing/files.js";
import { withHash, type CodeIdentity } from "../hashing/hashable.js";
import { fileEntries, mapStored, type Json } from "../hashing/values.js";
import type { StateStore, StoredState } from "../state/store.js";
import { directoryRule, encodeAll, verifyFiles, type Fingerprint } from "./fingerprint.js";
import { CWD_KEY, foundNow, withoutFound } from "./found.js";
import { trackedOf, validState, type CheckedStage } from "./lookup.js";

/** A code identity's extras that are the content of a file: `script:<path>`, `dependent:<path>`. */
const FILE_EXTRA = /^(?:script|dependent):(.*)$/;

/** The recorded code identity, with the scripts it was read from hashed again. */
async function codeNow(recorded: CodeIdentity): Promise<CodeIdentity> {
  const extras = { ...recorded.extras };
  let changed = false;
  for (const [key, hash] of Object.entries(recorded.extras)) {
    const file = FILE_EXTRA.exec(key)?.[1];
    if (file === undefined) continue;
    const now = (await defaultHasher.hash(file)) ?? "(missing)";
    if (now !== hash) {
      extras[key] = now;
      changed = true;
    }
  }
  if (!changed) return recorded;
  const { self, callees, wrappers } = recorded; // another script's content: another identity
  return withHash({ self, callees, wrappers, extras });
}

/**
 * The recorded inputs as a call passing the same arguments would have them now: each file or
 * directory they name hashed again (a path, if it is gone), and what the code found (`read:`,
 * `list:`) as the engine looks at it again; the rest, and the working directory, as recorded.
 */
async function inputsNow(
  def: CheckedStage,
  state: StoredState,
  scope: HashScope,
  rule: DirectoryRule,
): Promise<Record<string, Json>> {
  const own = withoutFound(state.inputs);
  const hashes = new Map<string, string | undefined>();
  for (const entry of fileEntries(own)) {
    if (!hashes.has(entry.file))
      hashes.set(entry.file, await def.hasher.hash(entry.file, scope, rule));
  }
  const inputs = mapStored(own, (entry) => {
    const hash = hashes.get(entry.file);
    return hash === undefined ? entry.file : { file: entry.file, hash };
  }) as Record<string, Json>;
  const { reads, lists } = foundNow(state.inputs, rule.skip ?? []);
  const read = reads === undefined ? {} : await encodeAll(def, reads, "inputs", scope, rule);
  const cwd = state.inputs[CWD_KEY];
  return { ...inputs, ...read, ...lists, ...(cwd === undefined ? {} : { [CWD_KEY]: cwd }) };
}

/**
 * What would make the call a state records run again, as far as its files show: nothing (an
 * empty list) when the lookup would find it cached; else the lookup's reason first, then, when
 * that reason was found before the files the stage wrote were looked at, the first of those not
 * as it left them. `stateDir`: the state directory it is in, left out of the directories it
 * hashes as the stage's run leaves out its own.
 */
export async function recheck(
  state: StoredState,
  store: StateStore,
  stateDir: string,
): Promise<Reason[]> {
  const def: CheckedStage = {
    name: state.record.name,
    outputs: state.record.outputs,
    hasher: defaultHasher,
    ignore: [],
    hashOutput: path.resolve(stateDir),
  };
  const scope = new HashScope();
  const rule = directoryRule(def);
  const fingerprint: Fingerprint = {
    code: await codeNow(state.record.code),
    inputs: await inputsNow(def, state, scope, rule),
    outputs: state.record.outputs,
    rule,
  };
  const tracked = trackedOf(state);
  const valid = await validState(def, fingerprint, state, store, scope, tracked);
  if (valid.ok) return [];
  const { reason } = valid;
  if (reason.kind === "output-missing" || reason.kind === "output-modified") return [reason];
  const tampered = await verifyFiles(tracked, def, scope);
  return tampered === undefined ? [reason] : [reason, tampered];
}
