// What a stage depends on, seen in separate processes as a user's pipeline sees it: a project
// in a temp directory (a pipeline script, a local module, an installed package), run with
// `node`, edited between runs. Each row edits one thing: exactly the stages that depend on it
// (and their downstream) re-run, with a reason naming it; edits that change nothing a stage
// depends on re-run nothing.
import { execFile } from "node:child_process";
import {
  cp,
  mkdtemp,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canTrace } from "../../src/trace.js";
import { writeTree } from "../util/tmp.js";

const run = promisify(execFile);
const memori = path.resolve(import.meta.dirname, "..", "..", "dist", "index.js");

const LIB = `
export function scaleBy(x) {
  return x * 2;
}
export class Model {
  fit(x) {
    return x + 0.5;
  }
}
// What a decorator leaves (TypeScript's, compiled): the method replaced, not enumerable.
export class Decorated {
  predict(x) {
    return x;
  }
}
const predict = Decorated.prototype.predict;
Object.defineProperty(Decorated.prototype, "predict", {
  value: function scaledPredict(x) {
    return predict.call(this, x) * 10;
  },
  writable: true,
  configurable: true,
});
export class Defined {}
Object.defineProperty(Defined, "FACTOR", { value: 7 });
// Tables of operations: a Map and a Set holding functions.
export const OPS = new Map([["scale", (x) => x * 4]]);
export const STEPS = new Set([(x) => x + 40]);
// A getter that throws until something connects: never called while a stage is hashed.
export const conn = {
  get db() {
    throw new Error("db not connected");
  },
  scale(x) {
    return x * 6;
  },
};
`;

const PIPELINE = `
import { Pipeline, Stage, runProcess } from ${JSON.stringify(memori)};
import { scaleBy, Model, Decorated, Defined, OPS, STEPS, conn } from "./lib.mjs";
import { pkgFn, memoize, memoInner, pipeFns, memoObject } from "fakepkg";
import { readFileSync, readdirSync } from "node:fs";
import nodeProcess, { env as nodeEnv } from "node:process";

const FWHM = 6;
const DEFAULT_SIGMA = 2;

function clean(x) {
  return x - 1;
}
const load = async (x) => x + 1;
function slowStep(x) {
  return x + 100;
}
const fastStep = memoize(slowStep);
function innerStep(x) { return x + 1000; }
function pipedStep(x) { return x + 2000; }
function boxedStep(x) { return x + 3000; }
const deep = memoInner(innerStep);
const piped = pipeFns(pipedStep);
const boxed = memoObject(boxedStep);

function makeScaled(k) {
  return function closure(x) {
    return x * k;
  };
}

const stages = [
  new Stage(function helper(x) { return clean(x); }, { outputs: "h", hashOutput: "state" }),
  new Stage((h) => h + 1, { name: "afterHelper", outputs: "h2", hashOutput: "state" }),
  new Stage(function imported(x) { return scaleBy(x); }, { outputs: "i", hashOutput: "state" }),
  new Stage(function constant(x) { return x * FWHM; }, { outputs: "c", hashOutput: "state" }),
  new Stage(makeScaled(3), { outputs: "k", hashOutput: "state" }),
  new Stage(function defaults(x, sigma = DEFAULT_SIGMA) { return x + sigma; }, { outputs: "d", hashOutput: "state" }),
  new Stage(function method(x) { return new Model().fit(x); }, { outputs: "m", hashOutput: "state" }),
  new Stage(function decorated(x) { return new Decorated().predict(x); }, { outputs: "m2", hashOutput: "state" }),
  new Stage(function defined(x) { return x * Defined.FACTOR; }, { outputs: "m3", hashOutput: "state" }),
  new Stage(function viaGetterObject(x) { return conn.scale(x); }, { outputs: "m5", hashOutput: "state" }),
  new Stage(function table(x) { return OPS.get("scale")(x) + [...STEPS][0](x); }, { outputs: "m4", hashOutput: "state" }),
  new Stage(async function asyncArrow(x) { return await load(x); }, { outputs: "a", hashOutput: "state" }),
  new Stage(function pkg(x) { return pkgFn(x); }, { outputs: "p", hashOutput: "state" }),
  new Stage(function listed(x) { return x; }, { outputs: "l", env: ["MEMORI_T_LISTED"], hashOutput: "state" }),
  new Stage(function envRead(x) { return process.env.MEMORI_T_READ ?? x; }, { outputs: "e", hashOutput: "state" }),
  new Stage(function envImported(x) { return nodeProcess.env.MEMORI_T_READ ?? x; }, { outputs: "e2", hashOutput: "state" }),
  new Stage(function envNamed(x) { return nodeEnv["MEMORI_T_READ"] ?? x; }, { outputs: "e3", hashOutput: "state" }),
  new Stage(function envPicked(x) { const { MEMORI_T_READ: v } = nodeEnv; return v ?? x; }, { outputs: "e4", hashOutput: "state" }),
  new Stage(function envVersioned(x) { return process.env.MEMORI_T_READ ?? x; }, { outputs: "e5", hashOutput: "state", codeVersion: "1" }),
  new Stage(function envIgnored(x) { return nodeEnv.MEMORI_T_READ ?? x; }, { outputs: "e6", hashOutput: "state", ignoreCode: true }),
  new Stage(function readsConfig(x) { return JSON.parse(readFileSync("config.json", "utf8")).k + x; }, { outputs: "r", hashOutput: "state" }),
  new Stage(function listsDir(x, dataDir) { return readdirSync(dataDir, { recursive: true }).length + x; }, { outputs: "n", hashOutput: "state", args: { dataDir: "data" } }),
  new Stage(function atlas(x, atlasDir) { return x; }, { outputs: "t", hashOutput: "state", args: { atlasDir: "atlas" } }),
  new Stage(function wrapped(x) { return fastStep(x); }, { outputs: "w", hashOutput: "state" }),
  new Stage(function wrappedDeeper(x) { return deep(x) + piped(x) + boxed(x); }, { outputs: "w2", hashOutput: "state" }),
  new Stage(async function shellReads(x) { await runProcess("cat template.txt > copied.txt"); return x; }, { outputs: "s", hashOutput: "state" }),
];
const [helper, afterHelper, ...rest] = stages;
const pipeline = new Pipeline(
  [["start", helper], [helper, afterHelper], ...rest.map((s) => ["start", s])],
);
await pipeline.runNamed({ x: 1 });
process.stdout.write(
  JSON.stringify(pipeline.decisions.map((d) => ({ stage: d.stage, action: d.action, reason: d.reason }))),
);
`;

const PACKAGE = (version: string) =>
  JSON.stringify({ name: "fakepkg", version, type: "module", exports: "./index.js" });

interface Decided {
  stage: string;
  action: "run" | "skip";
  reason: { kind: string; changed?: string[]; name?: string; inside?: string[] };
}

let project: string;

async function runPipeline(dir = project, env: NodeJS.ProcessEnv = {}): Promise<Decided[]> {
  const { stdout } = await run(process.execPath, ["pipeline.mjs"], {
    cwd: dir,
    env: { ...process.env, MEMORI_T_LISTED: "one", MEMORI_T_READ: "one", ...env },
  });
  return JSON.parse(stdout) as Decided[];
}

/** The stages that ran, with what their reason names. */
function ran(decisions: Decided[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const d of decisions) {
    if (d.action !== "run") continue;
    const r = d.reason;
    out[d.stage] =
      r.kind === "function-changed"
        ? `code: ${(r.changed ?? []).join(", ")}`
        : r.kind === "input-changed"
          ? `input: ${r.name}${r.inside ? ` (${r.inside.join(", ")})` : ""}`
          : r.kind;
  }
  return out;
}

async function edit(file: string, from: string, to: string): Promise<void> {
  const full = path.join(project, file);
  const text = await readFile(full, "utf8");
  if (!text.includes(from)) throw new Error(`${file} has no ${JSON.stringify(from)}`);
  await writeFile(full, text.replace(from, to));
}

// One project for the whole file (the rows build on each other), removed at the end.
const projects: string[] = [];
async function projectDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "memori-closure-"));
  projects.push(dir);
  return dir;
}
afterAll(async () => {
  for (const dir of projects) await rm(dir, { recursive: true, force: true });
});

beforeAll(async () => {
  project = await projectDir();
  await writeTree(project, {
    "pipeline.mjs": PIPELINE,
    "lib.mjs": LIB,
    "node_modules/fakepkg/package.json": PACKAGE("1.0.0"),
    "node_modules/fakepkg/index.js": [
      "export function pkgFn(x) { return x * 10; }",
      "export function memoize(f) {",
      "  const seen = new Map();",
      "  return function memoized(x) { if (!seen.has(x)) seen.set(x, f(x)); return seen.get(x); };",
      "}",
      "export function memoInner(fn) {",
      "  const cache = new Map();",
      "  function compute(x) { return fn(x); }",
      "  return function m(x) { if (!cache.has(x)) cache.set(x, compute(x)); return cache.get(x); };",
      "}",
      "export function pipeFns(...fns) { return function composed(x) { return fns.reduce((v, f) => f(v), x); }; }",
      "export function memoObject(fn) { const state = { fn }; return function m(x) { return state.fn(x); }; }",
    ].join("\n"),
    "config.json": '{ "k": 1 }\n',
    "data/sub-01/anat/T1w.nii": "t1 of sub-01\n",
    "data/sub-02/anat/T1w.nii": "t1 of sub-02\n",
    "atlas/v1.txt": "atlas one\n",
    "template.txt": "template one\n",
    "atlas/v2.txt": "atlas two\n",
  });
  await symlink("v1.txt", path.join(project, "atlas", "current"));
  // Old enough for stat identities to be trusted at once (as data usually is).
  const old = new Date(Date.now() - 60_000);
  for (const f of ["data/sub-01/anat/T1w.nii", "data/sub-02/anat/T1w.nii", "atlas/v1.txt"])
    await utimes(path.join(project, f), old, old);
  const first = await runPipeline();
  expect(Object.values(ran(first))).toEqual(Array(first.length).fill("first-run"));
}, 60_000);

// Rows run in order, each from the state the one before left.
describe("a change to what a stage depends on re-runs exactly it and its downstream", () => {
  const rows: [string, () => Promise<NodeJS.ProcessEnv | void>, Record<string, unknown>][] = [
    ["nothing changed", async () => {}, {}],
    [
      "an unmarked helper",
      () => edit("pipeline.mjs", "return x - 1;", "return x - 2;"),
      { helper: "code: clean", afterHelper: "input: h" },
    ],
    [
      "a helper imported from a local module",
      () => edit("lib.mjs", "return x * 2;", "return x * 3;"),
      { imported: "code: scaleBy" },
    ],
    [
      "a module constant",
      () => edit("pipeline.mjs", "FWHM = 6", "FWHM = 8"),
      { constant: "code: FWHM" },
    ],
    [
      "a value captured by a factory's closure",
      () => edit("pipeline.mjs", "makeScaled(3)", "makeScaled(4)"),
      { closure: "code: k" },
    ],
    [
      "a constant a default parameter reads",
      () => edit("pipeline.mjs", "DEFAULT_SIGMA = 2", "DEFAULT_SIGMA = 3"),
      { defaults: "code: DEFAULT_SIGMA" },
    ],
    [
      "a class method",
      () => edit("lib.mjs", "return x + 0.5;", "return x + 1.5;"),
      { method: "code: Model" },
    ],
    [
      "a method a decorator replaced (not enumerable)",
      () => edit("lib.mjs", "* 10;", "* 20;"),
      { decorated: "code: Decorated.prototype.predict" },
    ],
    [
      "a static member put there by Object.defineProperty (not enumerable)",
      () => edit("lib.mjs", "value: 7", "value: 8"),
      { defined: "code: Defined.FACTOR" },
    ],
    [
      "a method of an object whose getter throws (never called while hashing)",
      () => edit("lib.mjs", "return x * 6;", "return x * 7;"),
      { viaGetterObject: "code: conn.scale" },
    ],
    [
      "a function in a Map",
      () => edit("lib.mjs", "(x) => x * 4]", "(x) => x * 5]"),
      { table: 'code: OPS.get("scale")' },
    ],
    [
      "a function in a Set",
      () => edit("lib.mjs", "(x) => x + 40]", "(x) => x + 50]"),
      { table: "code: STEPS<item 0>" },
    ],
    [
      "an async arrow helper",
      () => edit("pipeline.mjs", "async (x) => x + 1", "async (x) => x + 2"),
      { asyncArrow: "code: load" },
    ],
    [
      "an installed package's version",
      () => writeFile(path.join(project, "node_modules/fakepkg/package.json"), PACKAGE("1.1.0")),
      { pkg: "code: pkgFn", wrapped: "code: fastStep", wrappedDeeper: "code: boxed, deep, piped" },
    ],
    [
      "a function of the user's that a package's function wraps (memoize(fn))",
      () => edit("pipeline.mjs", "return x + 100;", "return x + 200;"),
      { wrapped: "code: fastStep(f)" },
    ],
    [
      "a user's function a package's helper calls (memoInner(fn))",
      () => edit("pipeline.mjs", "return x + 1000;", "return x + 1001;"),
      { wrappedDeeper: "code: deep(compute)(fn)" },
    ],
    [
      "a user's function in an array a package's function holds (pipe(...fns))",
      () => edit("pipeline.mjs", "return x + 2000;", "return x + 2001;"),
      { wrappedDeeper: "code: piped(fns)[0]" },
    ],
    [
      "a user's function in an object a package's function holds",
      () => edit("pipeline.mjs", "return x + 3000;", "return x + 3001;"),
      { wrappedDeeper: "code: boxed(state).fn" },
    ],
    [
      "an env variable listed in env",
      async () => ({ MEMORI_T_LISTED: "two" }),
      {
        listed: "input: env:MEMORI_T_LISTED",
      },
    ],
    [
      "a file a JavaScript stage reads by path",
      () => edit("config.json", '"k": 1', '"k": 2'),
      { readsConfig: "input: read:config.json" }, // inside the project: recorded relative to it
    ],
    [
      "a file added to a directory argument",
      () => writeFile(path.join(project, "data/sub-02/anat/T2w.nii"), "t2 of sub-02\n"),
      { listsDir: "input: dataDir (sub-02/anat/T2w.nii added)" },
    ],
    [
      "a file edited inside a directory argument",
      () => edit("data/sub-01/anat/T1w.nii", "t1", "T1"),
      { listsDir: "input: dataDir (sub-01/anat/T1w.nii changed)" },
    ],
    [
      "a rewrite of the same size keeping the old timestamps",
      async () => {
        const file = path.join(project, "data/sub-02/anat/T1w.nii");
        const { mtime, atime } = await stat(file);
        await writeFile(file, "t1 of sub-2x\n"); // same length
        await utimes(file, atime, mtime);
      },
      { listsDir: "input: dataDir (sub-02/anat/T1w.nii changed)" },
    ],
    [
      "a file deleted from a directory argument",
      () => rm(path.join(project, "data/sub-02/anat/T2w.nii")),
      { listsDir: "input: dataDir (sub-02/anat/T2w.nii removed)" },
    ],
    [
      "a directory renamed inside a directory argument",
      () => rename(path.join(project, "data/sub-02"), path.join(project, "data/sub-03")),
      {
        listsDir: "input: dataDir (sub-03 added, sub-03/anat added, sub-03/anat/T1w.nii added)",
      },
    ],
    [
      "a symlink's target inside a directory argument",
      async () => {
        await rm(path.join(project, "atlas/current"));
        await symlink("v2.txt", path.join(project, "atlas/current"));
      },
      { atlas: "input: atlasDir (current changed)" },
    ],
    [
      "a file a shell command reads inside a process stage",
      () => edit("template.txt", "one", "two"),
      { shellReads: "input: read:template.txt" },
    ],
    [
      "a file a shell command wrote, deleted",
      () => rm(path.join(project, "copied.txt")),
      { shellReads: "output-missing" },
    ],
    [
      "an env variable read as process.env.NAME",
      async () => ({ MEMORI_T_LISTED: "two", MEMORI_T_READ: "two" }),
      // through the global `process`, an imported one, `env` imported (read by name, or
      // destructured), and when a version or nothing stands for the code
      {
        envRead: "input: env:MEMORI_T_READ",
        envImported: "input: env:MEMORI_T_READ",
        envNamed: "input: env:MEMORI_T_READ",
        envPicked: "input: env:MEMORI_T_READ",
        envVersioned: "input: env:MEMORI_T_READ",
        envIgnored: "input: env:MEMORI_T_READ",
      },
    ],
  ];
  let env: NodeJS.ProcessEnv = {};
  for (const [name, change, expected] of rows) {
    it(
      name,
      async (context) => {
        if (name.includes("shell command") && !canTrace()) {
          // Process stages' files are seen through strace (scripts/strace.sh); CI has it.
          if (process.env.CI === "true") throw new Error("CI needs strace: scripts/strace.sh");
          console.warn(`skipping "${name}": strace cannot trace here`);
          return context.skip();
        }
        env = { ...env, ...((await change()) ?? {}) };
        const decided = await runPipeline(project, env);
        expect(ran(decided), JSON.stringify(decided)).toEqual(expected);
        // and once more without a change: nothing runs
        expect(ran(await runPipeline(project, env))).toEqual({});
      },
      30_000,
    );
  }
});

describe("edits that change nothing a stage depends on re-run nothing", () => {
  const env = { MEMORI_T_LISTED: "two", MEMORI_T_READ: "two" };
  const rows: [string, () => Promise<string | void>][] = [
    [
      "reformatting and comments",
      async () => {
        await edit("pipeline.mjs", "return x - 2;", "/* cleaned */\n  return (x - 2)  ;");
        await edit("lib.mjs", "return x * 3;", "// scaled\n  return x*3;");
      },
    ],
    [
      "an unrelated function and constant added to the modules",
      async () => {
        await edit(
          "lib.mjs",
          "export class Model",
          "export const OTHER = 1;\nexport function other() { return OTHER; }\nexport class Model",
        );
        await edit(
          "pipeline.mjs",
          "const FWHM = 8;",
          "const FWHM = 8;\nconst UNRELATED = [1, 2];\nfunction unrelated() { return UNRELATED; }",
        );
      },
    ],
    [
      "touching the files",
      async () => {
        const later = new Date(Date.now() + 5000);
        for (const f of [
          "pipeline.mjs",
          "lib.mjs",
          "node_modules/fakepkg/index.js",
          "config.json",
          "data/sub-01/anat/T1w.nii",
          "atlas/v1.txt",
          "template.txt",
        ]) {
          await utimes(path.join(project, f), later, later);
        }
      },
    ],
    [
      "the project moved to another directory",
      async () => {
        const moved = path.join(await projectDir(), "moved");
        await cp(project, moved, { recursive: true, verbatimSymlinks: true });
        await rm(project, { recursive: true }); // a move: nothing is left at the old path
        return moved;
      },
    ],
  ];
  for (const [name, change] of rows) {
    it(
      name,
      async () => {
        const dir = (await change()) ?? project;
        expect(ran(await runPipeline(dir, env))).toEqual({});
      },
      30_000,
    );
  }
});
