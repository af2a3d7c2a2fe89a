// Unit tests of src/engine/recheck.ts: a state checked alone (memori cache why) reaches the
// reason the lookup gives the call itself (a dry run's), on states written by real Stage runs.
import { readFileSync } from "node:fs";
import { chmod, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { recheck } from "../../src/engine/recheck.js";
import { Stage } from "../../src/stage.js";
import { scriptFunction } from "../../src/script.js";
import { StateStore } from "../../src/state/store.js";
import { recordingLogger, tempDir } from "../util/tmp.js";

const quiet = recordingLogger().logger;

/** What recheck says of the state `name` in `dir`. */
async function recheckOf(dir: string, name: string) {
  const store = new StateStore(dir, name);
  const read = store.read();
  if (read.kind !== "ok") throw new Error(`no state ${name} in ${dir}`);
  return recheck(read.state, store, dir);
}

describe("recheck", () => {
  it("gives a script's and a dependent's change as the run's reason", async () => {
    const dir = await tempDir();
    const state = path.join(dir, "state");
    const script = path.join(dir, "work.sh");
    const lib = path.join(dir, "lib.sh");
    await writeFile(script, '#!/bin/sh\n. "$1"\n');
    await chmod(script, 0o755);
    await writeFile(lib, "X=1\n");
    const make = () =>
      new Stage(scriptFunction(script, { dependents: [lib], stdio: "ignore" }), {
        hashOutput: state,
        logger: quiet,
      });
    await make().run(lib);
    expect(await recheckOf(state, "work")).toEqual([]);
    await writeFile(lib, "X=2\n");
    const [reason] = await recheckOf(state, "work");
    expect(reason).toStrictEqual({ kind: "function-changed", changed: [`dependent:${lib}`] });
    expect((await make().explain(lib)).reason).toStrictEqual(reason);
    await writeFile(script, '#!/bin/sh\n. "$1" # edited\n');
    expect((await recheckOf(state, "work"))[0]).toStrictEqual((await make().explain(lib)).reason);
  });

  it("gives an input file gone, and a file the code read changed, as the run's reason", async () => {
    const dir = await tempDir();
    const state = path.join(dir, "state");
    const config = path.join(dir, "config.txt");
    const input = path.join(dir, "in.txt");
    await writeFile(config, "scale=2\n");
    await writeFile(input, "3\n");
    const make = () =>
      new Stage(
        function scaled(file: string) {
          const scale = Number(readFileSync(config, "utf8").split("=")[1]);
          return scale * Number(readFileSync(file, "utf8"));
        },
        { hashOutput: state, logger: quiet },
      );
    expect(await make().run(input)).toEqual({ output: 6 });
    expect(await recheckOf(state, "scaled")).toEqual([]);
    // read without being given: a `read:` input, looked at again as the engine does
    await writeFile(config, "scale=3\n");
    const read = (await make().explain(input)).reason;
    expect(read).toMatchObject({ kind: "input-changed", name: `read:${config}` });
    expect(await recheckOf(state, "scaled")).toStrictEqual([read]);
    await writeFile(config, "scale=2\n");
    await rm(input);
    const gone = (await make().explain(input)).reason;
    expect(gone).toMatchObject({ kind: "input-changed", name: "file", new: JSON.stringify(input) });
    expect(await recheckOf(state, "scaled")).toStrictEqual([gone]);
  });
});
