/**
 * Atomic writes (src/state/atomic.ts) and the crash points (src/state/fault.ts): temporary file
 * names, the two phases of writeFilesAtomic (all temps written, then renamed in order), cleanup
 * on failure, MEMORI_FSYNC, and a SIGKILL at each named point of a real stage run.
 */
import { spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { open } from "node:fs/promises";
import path from "node:path";
import { hostname } from "node:os";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { CarrierLostError, writeFileAtomic, writeFilesAtomic } from "../../src/state/atomic.js";
import { stampOf } from "../../src/state/stamp.js";
import { runChild, type ChildResult } from "../util/child.js";
import { tempDir } from "../util/tmp.js";

const host = vi.hoisted(() => ({ name: undefined as string | undefined }));
vi.mock("node:os", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:os")>();
  const hostname = () => host.name ?? real.hostname();
  return { ...real, default: { ...real, hostname }, hostname };
});
// Temp removals, recorded with whether the file existed; `failRm` makes them fail. Flushes
// (fsyncSync) are counted.
const removals = vi.hoisted(() => ({ failRm: false, calls: [] as [string, boolean][], syncs: 0 }));
vi.mock("node:fs", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs")>();
  const rmSync = ((file: string, options?: object) => {
    removals.calls.push([file, real.existsSync(file)]);
    if (removals.failRm) throw Object.assign(new Error("EBUSY: resource busy"), { code: "EBUSY" });
    return real.rmSync(file, options);
  }) as typeof real.rmSync;
  const fsyncSync = ((fd: number) => {
    removals.syncs++;
    real.fsyncSync(fd);
  }) as typeof real.fsyncSync;
  const patched = { rmSync, fsyncSync };
  return { ...real, ...patched, default: { ...real, ...patched } };
});
beforeEach(() => {
  removals.calls = [];
  removals.syncs = 0;
});
afterEach(() => {
  host.name = undefined;
  removals.failRm = false; // before tmp.ts removes the test's directories
});

/** The built module, as a child process loads it (under the mutation runner: the mutated one). */
const ATOMIC = path.resolve(import.meta.dirname, "..", "..", "dist", "state", "atomic.js");
/** A temp file of one of the targets these tests write: the target's name is group 1. */
const TEMP = /^\.(s\.(?:inputs|outputs|stage|bin))\.[\w.-]+\.\d+\.\d+\.[0-9a-f]{8}\.tmp$/;
const read = (file: string) => readFileSync(file, "utf8");
/** A size written asynchronously (atomic.ts writes smaller data synchronously). */
const LARGE = 1 << 20;
const temps = (dir: string) => readdirSync(dir).filter((f) => f.endsWith(".tmp"));
/** Files under `dir` this process holds open (Linux). */
const openUnder = (dir: string) =>
  readdirSync("/proc/self/fd").flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      return target.startsWith(dir + path.sep) ? [target] : [];
    } catch {
      return [];
    }
  });

/**
 * A child process that counts FileHandle.sync calls, then writes files with the built
 * writeFilesAtomic: each file is [path, text] or [path, { bytes, from, to }] (a view).
 */
const CHILD = `
const { open } = await import("node:fs/promises");
const { pathToFileURL } = await import("node:url");
const probe = await open(process.env.T_PROBE, "w");
const proto = Object.getPrototypeOf(probe);
await probe.close();
let syncs = 0;
const sync = proto.sync;
proto.sync = function () { syncs++; return sync.call(this); };
const fs = await import("node:fs");
const fsyncSync = fs.default.fsyncSync;
fs.default.fsyncSync = (fd) => { syncs++; return fsyncSync(fd); };
(await import("node:module")).syncBuiltinESMExports();
const { writeFilesAtomic } = await import(pathToFileURL(process.env.T_MODULE).href);
const files = JSON.parse(process.env.T_FILES).map(([file, data]) =>
  [file, typeof data === "string" ? data : "repeat" in data ? "z".repeat(data.repeat) : Uint8Array.from(data.bytes).subarray(data.from, data.to)]);
await writeFilesAtomic(files);
process.stdout.write(JSON.stringify({ syncs }));
`;
type ChildData = string | { bytes: number[]; from: number; to: number } | { repeat: number };
function writeInChild(
  dir: string,
  files: [string, ChildData][],
  env: Record<string, string | undefined>,
): Promise<ChildResult> {
  const child = spawn(process.execPath, ["--input-type=module", "-e", CHILD], {
    env: {
      ...process.env,
      MEMORI_FSYNC: undefined,
      MEMORI_TEST_CRASH_AT: undefined,
      ...env,
      T_PROBE: path.join(dir, "probe"),
      T_MODULE: ATOMIC,
      T_FILES: JSON.stringify(files),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

/** atomic.ts as freshly loaded, for a test's host name (it reads the host name once). */
async function withHost(name: string): Promise<typeof import("../../src/state/atomic.js")> {
  host.name = name;
  vi.resetModules();
  return import("../../src/state/atomic.js");
}

describe("tempPathFor", () => {
  // Beside the target: .<base>.<host>.<pid>.<counter>.<8 hex>.tmp, the host made file-safe.
  it("names a temp file beside the target with host, pid, counter and a random part", async () => {
    const { tempPathFor } = await withHost("Lab node/ü.x-1_9");
    const target = path.join("/state", "dir", "bet.stage");
    const temp = tempPathFor(target);
    expect(path.dirname(temp)).toBe(path.dirname(target));
    const name = `^\\.bet\\.stage\\.Lab_node__\\.x-1_9\\.${process.pid}\\.\\d+\\.[0-9a-f]{8}\\.tmp$`;
    expect(path.basename(temp)).toMatch(new RegExp(name));
    expect(tempPathFor("x.txt")).toMatch(
      /^\.x\.txt\.Lab_node__\.x-1_9\.\d+\.\d+\.[0-9a-f]{8}\.tmp$/,
    );
  });

  // The counter goes up by one per call; names never repeat.
  it("counts calls and never returns the same name twice", async () => {
    const { tempPathFor } = await withHost("h");
    const counters = [0, 1, 2].map(() => Number(tempPathFor("/d/f").split(".").at(-3)));
    expect(counters[1]).toBe(counters[0]! + 1);
    expect(counters[2]).toBe(counters[0]! + 2);
    const names = Array.from({ length: 1000 }, () => tempPathFor("/d/f"));
    expect(new Set(names).size).toBe(1000);
    for (const name of names) expect(name).toMatch(/\.[0-9a-f]{8}\.tmp$/);
    const randoms = new Set(names.map((n) => n.split(".").at(-2)));
    expect(randoms.size).toBeGreaterThan(990); // the random part varies too
  });
});

describe("temp names within a file name's 255 bytes", () => {
  // The longest state name memori accepts, on a node with a long host name: the temp names of
  // its files fit, and the write works (ENAMETOOLONG otherwise).
  it("cuts the base and the host so the longest state name can be written", async () => {
    const long = `compute-node-0042.${"very-long-domain.".repeat(6)}example.org`;
    const { tempPathFor, writeFilesAtomic } = await withHost(long);
    const dir = await tempDir();
    const name = "s".repeat(200);
    for (const ext of ["inputs", "outputs", "stage", "files"]) {
      const temp = path.basename(tempPathFor(path.join(dir, `${name}.${ext}`)));
      expect(Buffer.byteLength(temp)).toBeLessThanOrEqual(255);
      expect(temp.startsWith(`.${`${name}.${ext}`.slice(0, 120)}.`)).toBe(true);
      expect(temp).toContain(`.${long.slice(0, 40)}.${process.pid}.`);
    }
    await writeFilesAtomic([[path.join(dir, `${name}.outputs`), "x"]]);
    expect(read(path.join(dir, `${name}.outputs`))).toBe("x");
  });
});

describe("writeFilesAtomic: new files in place, the last one through a carrier", () => {
  /** A carrier file made beside the targets, as the lock is. */
  function carrier(dir: string, owned = true) {
    const file = path.join(dir, "x.lock");
    writeFileSync(file, '{"host":"h","pid":1}');
    const told: string[] = [];
    return {
      told,
      carrier: {
        path: file,
        fill(data: string) {
          told.push("fill");
          if (!owned) return false;
          writeFileSync(file, data);
          return true;
        },
        moved() {
          told.push("moved");
          return undefined;
        },
      },
    };
  }

  // Targets that do not exist are made in place (no temporary, no rename); the last file
  // takes the carrier's place; nothing else is left in the directory.
  it("makes absent targets in place and renames the carrier over the last", async () => {
    const dir = await tempDir();
    const { carrier: c, told } = carrier(dir);
    const replaced: string[] = [];
    const [a, b, last] = ["x.inputs", "x.outputs", "x.stage"].map((f) => path.join(dir, f));
    await writeFilesAtomic(
      [
        [a!, "A"],
        [b!, "B"],
        [last!, (stamps) => `record ${stamps.length}`],
      ],
      { newInPlace: true, carrier: c, onReplaced: (t) => replaced.push(path.basename(t)) },
    );
    expect([read(a!), read(b!), read(last!)]).toEqual(["A", "B", "record 2"]);
    expect(readdirSync(dir).sort()).toEqual(["x.inputs", "x.outputs", "x.stage"]);
    expect(told).toEqual(["fill", "moved"]);
    expect(replaced).toEqual(["x.stage"]); // the only rename: the others were made in place
  });

  // An existing target is replaced through a temporary, whatever newInPlace says: the
  // previous file stays whole until the rename.
  it("replaces existing targets through temporaries", async () => {
    const dir = await tempDir();
    const [a, b] = [path.join(dir, "a"), path.join(dir, "b")];
    writeFileSync(a, "old a");
    const before = statSync(a).ino;
    await writeFilesAtomic(
      [
        [a, "new a"],
        [b, "b"],
      ],
      { newInPlace: true },
    );
    expect(read(a)).toBe("new a");
    expect(statSync(a).ino).not.toBe(before); // renamed over, not written in place
    expect(readdirSync(dir).sort()).toEqual(["a", "b"]);
  });

  // A carrier that is no longer this process's (the lock was taken over) carries nothing:
  // the last file goes through a temporary, and the carrier is left as it was.
  // A carrier that refuses is a lock another process took over: committing without it could
  // pair this call's inputs with what the other one wrote. Nothing is renamed, nothing made in
  // place is left, and the other's files stay.
  it("commits nothing when the carrier refuses (the lock was taken over)", async () => {
    const dir = await tempDir();
    const { carrier: c, told } = carrier(dir, false);
    const files = [
      [path.join(dir, "x.inputs"), "A"],
      [path.join(dir, "x.stage"), "record"],
    ] as const;
    await expect(writeFilesAtomic(files, { newInPlace: true, carrier: c })).rejects.toBeInstanceOf(
      CarrierLostError,
    );
    expect(told).toEqual(["fill"]);
    expect(read(c.path)).toBe('{"host":"h","pid":1}');
    expect(readdirSync(dir).sort()).toEqual(["x.lock"]);
  });

  // A failure after files were made in place removes them (nothing commits them), and never
  // the carrier (its holder gives it back).
  it("removes what it made in place when a later file cannot be written", async () => {
    const dir = await tempDir();
    const { carrier: c } = carrier(dir);
    const files = [
      [path.join(dir, "x.inputs"), "A"],
      [path.join(dir, "no-such-dir", "x.outputs"), "B"],
      [path.join(dir, "x.stage"), "record"],
    ] as const;
    await expect(writeFilesAtomic(files, { newInPlace: true, carrier: c })).rejects.toMatchObject({
      code: "ENOENT",
    });
    expect(readdirSync(dir).sort()).toEqual(["x.lock"]);
  });
});

describe("writeFilesAtomic / writeFileAtomic", () => {
  // All files written (replacing old ones), no temp left; strings and byte views alike.
  it("writes every file and leaves no temp files", async () => {
    const dir = await tempDir();
    const [a, b] = [path.join(dir, "a"), path.join(dir, "b")];
    writeFileSync(a, "old a, longer than the new one");
    await writeFilesAtomic([
      [a, "new a"],
      [b, new Uint8Array([1, 2, 3])],
    ]);
    expect(read(a)).toBe("new a");
    expect([...readFileSync(b)]).toEqual([1, 2, 3]);
    expect(readdirSync(dir).sort()).toEqual(["a", "b"]);
  });

  // writeFileAtomic: a string, and a Uint8Array view with an offset (only its bytes).
  it("writes one file from a string or from a view of a larger buffer", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "one.bin");
    await writeFileAtomic(file, "héllo");
    expect(read(file)).toBe("héllo");
    await writeFileAtomic(file, new Uint8Array([9, 9, 1, 2, 3, 9]).subarray(2, 5));
    expect([...readFileSync(file)]).toEqual([1, 2, 3]);
    expect(temps(dir)).toEqual([]);
  });

  // A failure writing the second file's temp: the first target is not replaced, no temps.
  it("replaces nothing when a temp file cannot be written", async () => {
    const dir = await tempDir();
    const a = path.join(dir, "a");
    writeFileSync(a, "old a");
    const error = (await writeFilesAtomic([
      [a, "new a"],
      [path.join(dir, "missing", "b"), "new b"],
    ]).catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(error.code).toBe("ENOENT");
    expect(read(a)).toBe("old a");
    expect(readdirSync(dir)).toEqual(["a"]);
  });

  // Renames go in the given order; on a failed rename the not-yet-renamed temps are removed.
  it.each([0, 1])(
    "on a failed rename of file %i, renamed files stay, the rest are removed",
    async (bad) => {
      const dir = await tempDir();
      const names = ["a", "b", "c"];
      for (const name of names) writeFileSync(path.join(dir, name), `old ${name}`);
      const blocked = path.join(dir, "blocked");
      mkdirSync(path.join(blocked, "inside"), { recursive: true });
      const files = names.map((n) => [path.join(dir, n), `new ${n}`] as [string, string]);
      files.splice(bad, 0, [blocked, "new blocked"]);
      await expect(writeFilesAtomic(files)).rejects.toMatchObject({
        code: expect.stringMatching(/^E/),
      });
      expect(names.map((n) => read(path.join(dir, n)))).toEqual(
        names.map((n, i) => (i < bad ? "new " : "old ") + n),
      );
      expect(existsSync(path.join(blocked, "inside"))).toBe(true);
      expect(temps(dir)).toEqual([]);
      // only the temps not renamed are removed (each still there when removed)
      const removed = removals.calls.map(([temp, existed]) => [
        path.basename(temp).split(".")[1],
        existed,
      ]);
      expect(removed).toEqual(files.slice(bad).map(([file]) => [path.basename(file), true]));
    },
  );

  // Every temp file handle is closed, whether the write succeeds or fails.
  it.runIf(existsSync("/proc/self/fd"))("closes every file it opens", async () => {
    const dir = await tempDir();
    const files = ["a", "b", "c"].map((n) => [path.join(dir, n), n] as [string, string]);
    await writeFilesAtomic(files);
    await expect(writeFilesAtomic([...files, [path.join(dir, "no", "d"), "d"]])).rejects.toThrow();
    expect(openUnder(dir)).toEqual([]);
  });

  // A temp that cannot be removed does not hide the error that made the write fail.
  it("reports the original error even when cleaning up fails", async () => {
    const dir = await tempDir();
    removals.failRm = true;
    const files: [string, string][] = [
      [path.join(dir, "a"), "a"],
      [path.join(dir, "no", "b"), "b"],
    ];
    await expect(writeFilesAtomic(files)).rejects.toMatchObject({ code: "ENOENT" });
    expect(removals.calls).toHaveLength(2); // both temps were tried
    removals.failRm = false;
  });

  // MEMORI_FSYNC is off in this process: no fsync per file, small or large.
  it("does not fsync without MEMORI_FSYNC=1", async () => {
    const dir = await tempDir();
    const probe = await open(path.join(dir, "probe"), "w");
    const sync = vi.spyOn(Object.getPrototypeOf(probe) as { sync(): Promise<void> }, "sync");
    await probe.close();
    try {
      await writeFilesAtomic([
        [path.join(dir, "a"), "a"],
        [path.join(dir, "b"), "b".repeat(LARGE)],
      ]);
      const expected = process.env.MEMORI_FSYNC === "1" ? 1 : 0;
      expect([removals.syncs, sync.mock.calls.length]).toEqual([expected, expected]);
    } finally {
      sync.mockRestore();
    }
  });

  // Data of 1 MiB or more is written asynchronously, the same way: all or nothing, no temps.
  it("writes large files the same way, and cleans up when one fails", async () => {
    const dir = await tempDir();
    const [a, b] = [path.join(dir, "a"), path.join(dir, "b")];
    writeFileSync(a, "old a");
    const big = "y".repeat(LARGE);
    await writeFilesAtomic([
      [a, big],
      [b, new TextEncoder().encode(big)],
    ]);
    expect([read(a), read(b)]).toEqual([big, big]);
    await expect(
      writeFilesAtomic([
        [a, "small"],
        [path.join(dir, "no", "c"), big],
      ]),
    ).rejects.toMatchObject({ code: "ENOENT" });
    expect(read(a)).toBe(big);
    expect(readdirSync(dir).sort()).toEqual(["a", "b"]);
    expect(openUnder(dir)).toEqual([]);
  });

  // A file made from the stamps of the files before it gets them as they are after the rename
  // (small and large files alike); those files are dated back in whole seconds, it is not.
  it("gives a made file the stamps of the files before it, dated back", async () => {
    const dir = await tempDir();
    const [a, b, c] = ["a", "b", "c"].map((n) => path.join(dir, n)) as [string, string, string];
    const before = Date.now();
    let given: readonly string[] = [];
    await writeFilesAtomic([
      [a, "small"],
      [b, "z".repeat(LARGE)],
      [c, (stamps) => ((given = [...stamps]), stamps.join("\n"))],
    ]);
    const now = [a, b].map((f) => stampOf(statSync(f)));
    expect(given).toEqual(now);
    expect(read(c)).toBe(now.join("\n"));
    for (const file of [a, b]) {
      const { mtimeMs } = statSync(file);
      expect(mtimeMs % 1000).toBe(0);
      expect(mtimeMs).toBeLessThanOrEqual(before - 9000);
      expect(mtimeMs).toBeGreaterThanOrEqual(before - 12000);
    }
    expect(statSync(c).mtimeMs).toBeGreaterThanOrEqual(before - 1000);
    // Without a made file nothing is dated back, small or large.
    await writeFilesAtomic([
      [a, "again"],
      [b, "w".repeat(LARGE)],
    ]);
    expect(statSync(a).mtimeMs).toBeGreaterThanOrEqual(before - 1000);
    expect(statSync(b).mtimeMs).toBeGreaterThanOrEqual(before - 1000);
  });

  // MEMORI_FSYNC=1 (read at load) flushes each file once and still writes them; other values do not.
  it.each([
    ["1", 3],
    [undefined, 0],
    ["0", 0],
    ["true", 0],
  ])("MEMORI_FSYNC=%s in a child process: %i fsyncs", async (value, syncs) => {
    const dir = await tempDir();
    const files: [string, ChildData][] = [
      [path.join(dir, "a.json"), "alpha"],
      [path.join(dir, "b.bin"), { bytes: [7, 1, 2, 7], from: 1, to: 3 }],
      [path.join(dir, "c.txt"), { repeat: LARGE }],
    ];
    const result = await writeInChild(dir, files, { MEMORI_FSYNC: value });
    expect(result.status, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ syncs });
    expect(read(path.join(dir, "a.json"))).toBe("alpha");
    expect([...readFileSync(path.join(dir, "b.bin"))]).toEqual([1, 2]);
    expect(temps(dir)).toEqual([]);
  });
});

describe("crash points in writeFilesAtomic (MEMORI_TEST_CRASH_AT)", () => {
  const ORDER = ["inputs", "outputs", "stage"] as const;
  const NEW = { inputs: "new inputs!", outputs: "new outputs", stage: "new stage" };
  const POINTS = [
    "mid-temp-write",
    ...ORDER.map((k) => `after-prepare-${k}`),
    ...ORDER.map((k) => `after-commit-${k}`),
  ];
  const BYTES = { bytes: [9, 9, 1, 2, 3, 4, 5, 6, 7, 9], from: 2, to: 9 }; // a view of 1..7
  const newFiles = (dir: string) =>
    ORDER.map((k) => [path.join(dir, `s.${k}`), NEW[k]] as [string, string]);
  /** The previous state, written in this process (so the test also covers this code). */
  const writeOld = (dir: string) =>
    writeFilesAtomic(ORDER.map((k) => [path.join(dir, `s.${k}`), `old ${k}`]));

  /** Targets and temps (as "tmp:<target>") in a directory, with their contents. */
  function snapshot(dir: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const f of readdirSync(dir)) {
      if (f === "probe") continue;
      const m = TEMP.exec(f);
      out[m ? `tmp:${m[1]}` : f] = read(path.join(dir, f));
    }
    return out;
  }
  /** What is on disk after a kill at `point`: renamed targets are new, prepared temps remain. */
  function expected(point: string): Record<string, string> {
    const [, phase, ext] = /^after-(prepare|commit)-(\w+)$/.exec(point) ?? [];
    const at = ORDER.indexOf(ext as (typeof ORDER)[number]);
    const out: Record<string, string> = {};
    for (const [i, kind] of ORDER.entries()) {
      const committed = phase === "commit" && i <= at;
      out[`s.${kind}`] = committed ? NEW[kind] : `old ${kind}`;
      if (!committed && i <= (phase === "commit" ? ORDER.length - 1 : at))
        out[`tmp:s.${kind}`] = NEW[kind];
    }
    if (point === "mid-temp-write") out["tmp:s.inputs"] = "new i"; // half of 11 characters
    return out;
  }

  /**
   * Load atomic.ts afresh with the crash point set and write `files`, the SIGKILL intercepted:
   * what it was sent to, and the directory at that moment.
   */
  async function crashInProcess(
    point: string,
    dir: string,
    files: [string, string | Uint8Array][],
  ) {
    const saved = process.env.MEMORI_TEST_CRASH_AT;
    vi.resetModules();
    process.env.MEMORI_TEST_CRASH_AT = point;
    let fresh: typeof import("../../src/state/atomic.js");
    try {
      fresh = await import("../../src/state/atomic.js");
    } finally {
      if (saved === undefined) delete process.env.MEMORI_TEST_CRASH_AT;
      else process.env.MEMORI_TEST_CRASH_AT = saved;
    }
    let seen: unknown;
    const kill = vi.spyOn(process, "kill").mockImplementation(((pid: number, signal: string) => {
      seen = { pid, signal, files: snapshot(dir) };
      throw new Error("killed");
    }) as never);
    try {
      await expect(fresh.writeFilesAtomic(files)).rejects.toThrow("killed");
    } finally {
      kill.mockRestore();
    }
    return seen;
  }

  // In this process (the kill intercepted): SIGKILL is sent at the point, after exactly its work.
  it.each(POINTS)("%s, in process: SIGKILL sent right there", async (point) => {
    const dir = await tempDir();
    await writeOld(dir);
    const seen = await crashInProcess(point, dir, newFiles(dir));
    expect(seen).toEqual({ pid: process.pid, signal: "SIGKILL", files: expected(point) });
  });

  // In a child process: it really dies there, leaving exactly that on disk.
  it.each(POINTS)("%s, in a child: killed there, nothing after it done", async (point) => {
    const dir = await tempDir();
    await writeOld(dir);
    const result = await writeInChild(dir, newFiles(dir), { MEMORI_TEST_CRASH_AT: point });
    expect(result.signal, result.stderr).toBe("SIGKILL");
    expect(snapshot(dir)).toEqual(expected(point));
  });

  // mid-temp-write with bytes: the first half of the view's own bytes, then death.
  it("mid-temp-write writes half of a byte view (in process and in a child)", async () => {
    const dir = await tempDir();
    const target = path.join(dir, "s.bin");
    const view = Uint8Array.from(BYTES.bytes).subarray(BYTES.from, BYTES.to);
    const seen = await crashInProcess("mid-temp-write", dir, [[target, view]]);
    expect(seen).toMatchObject({ files: { "tmp:s.bin": "\x01\x02\x03" } });
    expect(readdirSync(dir)).toEqual([]);
    const child = await writeInChild(dir, [[target, BYTES]], {
      MEMORI_TEST_CRASH_AT: "mid-temp-write",
    });
    expect(child.signal, child.stderr).toBe("SIGKILL");
    expect(existsSync(target)).toBe(false);
    const [temp] = temps(dir);
    expect(TEMP.exec(temp!)![1]).toBe("s.bin");
    expect([...readFileSync(path.join(dir, temp!))]).toEqual([1, 2, 3]);
  });

  // A large file (written asynchronously) has the same crash point: half of it, then death.
  it("mid-temp-write writes half of a large file (in process and in a child)", async () => {
    const dir = await tempDir();
    const target = path.join(dir, "s.bin");
    const seen = await crashInProcess("mid-temp-write", dir, [[target, "y".repeat(LARGE)]]);
    expect(seen).toMatchObject({ files: { "tmp:s.bin": "y".repeat(LARGE / 2) } });
    expect(readdirSync(dir)).toEqual([]);
    expect(openUnder(dir)).toEqual([]);
    const child = await writeInChild(dir, [[target, { repeat: LARGE }]], {
      MEMORI_TEST_CRASH_AT: "mid-temp-write",
    });
    expect(child.signal, child.stderr).toBe("SIGKILL");
    expect(existsSync(target)).toBe(false);
    const [temp] = temps(dir);
    expect(readFileSync(path.join(dir, temp!), "utf8")).toBe("z".repeat(LARGE / 2));
  });

  // Without a crash point set, the same child completes normally.
  it("does not crash when no point is set", async () => {
    const dir = await tempDir();
    await writeOld(dir);
    const result = await writeInChild(dir, newFiles(dir), {});
    expect(result.status, result.stderr).toBe(0);
    expect(snapshot(dir)).toEqual({
      "s.inputs": NEW.inputs,
      "s.outputs": NEW.outputs,
      "s.stage": NEW.stage,
    });
  });
});

describe("crash points of a real stage run (square-child.mjs)", () => {
  /** State files, the lock and temps ("tmp:<target>") of the square stage, sorted. */
  function shape(state: string): string[] {
    if (!existsSync(state)) return [];
    return readdirSync(state)
      .flatMap((f) => {
        const m = /^\.(square\.\w+)\..+\.tmp$/.exec(f);
        if (m) return [`tmp:${m[1]}`];
        return /^square\.(inputs|outputs|stage|files|lock)$/.test(f) ? [f] : [];
      })
      .sort();
  }
  const all = ["square.inputs", "square.outputs", "square.stage"];
  const lock = "square.lock";
  // A first run: .inputs and .outputs are made in place (nothing trusts them before .stage
  // names them); the record is written into the lock, which is then renamed to .stage.
  const FIRST: [string, number, string[]][] = [
    ["before-function", 0, [lock]],
    ["after-function", 1, [lock]],
    ["mid-temp-write", 1, ["square.inputs", lock]],
    ["after-prepare-inputs", 1, ["square.inputs", lock]],
    ["after-prepare-outputs", 1, ["square.inputs", lock, "square.outputs"]],
    ["after-prepare-stage", 1, ["square.inputs", lock, "square.outputs"]],
    ["after-commit-inputs", 1, ["square.inputs", lock, "square.outputs"]],
    ["after-commit-outputs", 1, ["square.inputs", lock, "square.outputs"]],
    ["after-commit-stage", 1, all],
  ];
  // Over a previous state: the new .inputs and .outputs go through temporary files, the
  // previous triple stays whole until the renames, and .stage is renamed from the lock last.
  const OVER: [string, number, string[]][] = [
    ["before-function", 0, [...all, lock]],
    ["after-function", 1, [...all, lock]],
    ["mid-temp-write", 1, [...all, lock, "tmp:square.inputs"]],
    ["after-prepare-inputs", 1, [...all, lock, "tmp:square.inputs"]],
    ["after-prepare-outputs", 1, [...all, lock, "tmp:square.inputs", "tmp:square.outputs"]],
    ["after-prepare-stage", 1, [...all, lock, "tmp:square.inputs", "tmp:square.outputs"]],
    ["after-commit-inputs", 1, [...all, lock, "tmp:square.outputs"]],
    ["after-commit-outputs", 1, [...all, lock]],
    ["after-commit-stage", 1, all],
  ];

  // Each point of crash.test.ts really kills the run there: the function ran or not, and
  // exactly the state files before that point are committed.
  it.each(FIRST)(
    "first run, %s: SIGKILL, function runs %i time(s), state %j",
    async (point, runs, state) => {
      const work = await tempDir();
      const dir = path.join(work, "state");
      const result = await runChild("square-child.mjs", [dir, work, "2"], {
        env: { MEMORI_TEST_CRASH_AT: point },
      });
      expect(result.signal, result.stderr).toBe("SIGKILL");
      expect(result.stdout).toBe("");
      const log = path.join(work, "executions.log");
      expect(existsSync(log) ? read(log).split("\n").filter(Boolean).length : 0).toBe(runs);
      expect(shape(dir)).toEqual([...state].sort());
    },
  );

  it.each(OVER)(
    "over a state, %s: SIGKILL, function runs %i time(s), state %j",
    async (point, runs, state) => {
      const work = await tempDir();
      const dir = path.join(work, "state");
      expect((await runChild("square-child.mjs", [dir, work, "1"])).status).toBe(0);
      const log = path.join(work, "executions.log");
      const before = read(log).split("\n").filter(Boolean).length;
      const result = await runChild("square-child.mjs", [dir, work, "2"], {
        env: { MEMORI_TEST_CRASH_AT: point },
      });
      expect(result.signal, result.stderr).toBe("SIGKILL");
      expect(read(log).split("\n").filter(Boolean).length - before).toBe(runs);
      expect(shape(dir)).toEqual([...state].sort());
    },
  );

  // Killed with the record written into the lock: the lock names its dead owner (the record
  // carries host and pid, as a lock does), so the next run takes it over at once, runs again
  // (nothing was committed) and commits.
  it("a record left in the lock names its owner; the next run takes the lock over", async () => {
    const work = await tempDir();
    const dir = path.join(work, "state");
    const killed = await runChild("square-child.mjs", [dir, work, "2"], {
      env: { MEMORI_TEST_CRASH_AT: "after-prepare-stage" },
    });
    expect(killed.signal).toBe("SIGKILL");
    const left = JSON.parse(read(path.join(dir, lock))) as Record<string, unknown>;
    expect(left).toMatchObject({ host: hostname(), memori: 3, name: "square" });
    expect(typeof left.pid).toBe("number");
    expect(existsSync(path.join(dir, "square.stage"))).toBe(false);
    // Judged by its owner, not by its age: with a stale time of an hour, only the dead owner
    // lets this run take the lock within the test's time.
    const rerun = await runChild("square-child.mjs", [dir, work, "2"], {
      env: { MEMORI_LOCK_STALE_MS: "3600000" },
    });
    expect(JSON.parse(rerun.stdout)).toMatchObject({ value: 5, fromCache: false });
    expect(shape(dir)).toEqual(all);
  }, 20_000);

  // mid-temp-write over a previous state: targets unchanged, the temp holds half the new .inputs.
  it("mid-temp-write leaves the previous state untouched and a half-written temp", async () => {
    const work = await tempDir();
    const dir = path.join(work, "state");
    expect((await runChild("square-child.mjs", [dir, work, "1"])).status).toBe(0);
    const before = all.map((f) => read(path.join(dir, f)));
    const killed = await runChild("square-child.mjs", [dir, work, "2"], {
      env: { MEMORI_TEST_CRASH_AT: "mid-temp-write" },
    });
    expect(killed.signal).toBe("SIGKILL");
    expect(all.map((f) => read(path.join(dir, f)))).toEqual(before);
    const [temp, ...more] = temps(dir);
    expect(more).toEqual([]);
    const half = read(path.join(dir, temp!));
    expect(() => JSON.parse(half) as unknown).toThrow();
    const rerun = await runChild("square-child.mjs", [dir, work, "2"]);
    expect(JSON.parse(rerun.stdout)).toMatchObject({ value: 5, fromCache: false });
    const full = read(path.join(dir, "square.inputs")); // same shape, another run id
    expect(half.length).toBe(full.length >> 1);
    expect(full.startsWith(half.slice(0, 40))).toBe(true);
  });
});
