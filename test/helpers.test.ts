import { lstat, readFile, readlink, realpath, writeFile, mkdir, stat } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  MemoriError,
  Stage,
  createOutputPath,
  createSymlinkToFolder,
  createSymlinkToPath,
  createSymlinksToInputFiles,
  hashFunction,
  redefineResultKey,
  useAbspaths,
  useOutputPathWorkingDirectory,
  withWorkingDirectory,
} from "../src/index.js";
import { canChdir, recordingLogger, tempDir } from "./util/tmp.js";

describe("decorators", () => {
  it("createOutputPath makes the directory and keeps parameter names and code reachable", async () => {
    const dir = await tempDir();
    const inner = async function write(text: string, outputPath: string) {
      await writeFile(path.join(outputPath, "x.txt"), text);
      return path.join(outputPath, "x.txt");
    };
    const decorated = createOutputPath(inner);
    const stage = new Stage(decorated, {
      hashOutput: path.join(dir, "s"),
      logger: recordingLogger().logger,
    });
    expect(stage.name).toBe("write");
    expect(stage.inputs).toEqual(["text", "outputPath"]);
    const out = path.join(dir, "deep", "er");
    expect(await stage.run("hi", out)).toEqual({ output: path.join(out, "x.txt") });
    expect(await readFile(path.join(out, "x.txt"), "utf8")).toBe("hi");
    // the decorator is part of the code identity
    expect(hashFunction(decorated)).not.toBe(hashFunction(inner));
    expect(() =>
      createOutputPath(function noOut(a: number) {
        return a;
      }),
    ).toThrow(/has no parameter named "outputPath" or "output_path"/);
  });

  it.skipIf(!canChdir)("useAbspaths turns file arguments absolute", async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, "a.txt"), "a");
    const fn = useAbspaths(function show(file: string, other: string) {
      return [file, other];
    });
    const result = await withWorkingDirectory(dir, () => fn("a.txt", "nothing.txt"));
    expect(result).toEqual([path.join(await realpath(dir), "a.txt"), "nothing.txt"]);
  });

  it("createSymlinksToInputFiles links file arguments into a folder", async () => {
    const dir = await tempDir();
    const input = path.join(dir, "data", "t1.nii");
    await mkdir(path.dirname(input));
    await writeFile(input, "vol");
    const links = path.join(dir, "work", "input_data");
    const fn = createSymlinksToInputFiles(links)(async function read(file: string) {
      return file;
    });
    const link = (await fn(input)) as string;
    expect(link).toBe(path.join(links, "t1.nii"));
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(path.isAbsolute(await readlink(link))).toBe(false);
    expect(await readFile(link, "utf8")).toBe("vol");
    // the folder is part of the code identity
    const other = createSymlinksToInputFiles("elsewhere")(async function read(file: string) {
      return file;
    });
    expect(hashFunction(other)).not.toBe(hashFunction(fn));
  });

  it.skipIf(!canChdir)(
    "useOutputPathWorkingDirectory runs inside outputPath and restores the cwd",
    async () => {
      const dir = await tempDir();
      const before = process.cwd();
      const fn = useOutputPathWorkingDirectory(function where(outputPath: string) {
        return [outputPath, process.cwd()];
      });
      expect(await fn(dir)).toEqual([dir, await realpath(dir)]);
      expect(process.cwd()).toBe(before);
    },
  );
});

describe("symlink helpers", () => {
  it("create relative links to a file and to a folder, replacing old ones", async () => {
    const dir = await tempDir();
    await mkdir(path.join(dir, "anat"));
    await writeFile(path.join(dir, "anat", "t1.nii"), "1");
    const first = await createSymlinkToPath(
      path.join(dir, "anat", "t1.nii"),
      path.join(dir, "links"),
    );
    const second = await createSymlinkToPath(
      path.join(dir, "anat", "t1.nii"),
      path.join(dir, "links"),
    );
    expect(second).toBe(first);
    expect(await readlink(first)).toBe(path.join("..", "anat", "t1.nii"));
    const folder = await createSymlinkToFolder(
      path.join(dir, "anat"),
      path.join(dir, "sub"),
      "anat_link",
    );
    expect((await stat(path.join(folder, "t1.nii"))).isFile()).toBe(true);
    expect(await readlink(folder)).toBe(path.join("..", "anat"));
  });
});

describe("redefineResultKey", () => {
  it("renames a key and says which keys exist when it is absent", () => {
    expect(redefineResultKey({ a: 1, b: 2 }, "a", "c")).toEqual({ b: 2, c: 1 });
    expect(() => redefineResultKey({ a: 1 }, "z", "c")).toThrow(
      /there is no key "z"; the keys are "a"/,
    );
  });
});

describe("withWorkingDirectory", () => {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  // Proves overlapping calls are an error naming both directories (never a body running in
  // another call's directory), and the working directory is restored after the first ends.
  it.skipIf(!canChdir)(
    "rejects a call that overlaps another, naming both directories",
    async () => {
      const first = await tempDir();
      const second = await tempDir();
      const before = process.cwd();
      const running = withWorkingDirectory(first, async () => {
        await sleep(200);
        return process.cwd();
      });
      try {
        const error = await withWorkingDirectory(second, () => process.cwd()).catch(
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(MemoriError);
        const { message } = error as MemoriError;
        expect(message).toContain(first);
        expect(message).toContain(second);
        expect(message).toContain("concurrency: 1");
        expect(await running).toBe(await realpath(first));
        expect(process.cwd()).toBe(before);
      } finally {
        await running.catch(() => undefined);
        process.chdir(before); // whatever happened, the next tests start where they should
      }
    },
  );

  // Proves a call made inside another's body (nesting, not overlapping) is fine, and each
  // level gets its directory back.
  it.skipIf(!canChdir)("allows a call nested in another's body", async () => {
    const outer = await tempDir();
    const inner = await tempDir();
    const before = process.cwd();
    const seen = await withWorkingDirectory(outer, async () => {
      await sleep(10);
      const deep = await withWorkingDirectory(inner, async () => {
        await sleep(10);
        return process.cwd();
      });
      return [deep, process.cwd()];
    });
    expect(seen).toEqual([await realpath(inner), await realpath(outer)]);
    expect(process.cwd()).toBe(before);
  });

  // Proves the way out the error suggests: a map of such a stage at concurrency 1 gives each
  // element its own directory's result.
  it.skipIf(!canChdir)(
    "a map of a useOutputPathWorkingDirectory stage at concurrency 1 runs each element in its own directory",
    async () => {
      const dir = await tempDir();
      const dirs = ["a", "b", "c"].map((name) => path.join(dir, name));
      for (const d of dirs) await mkdir(d);
      const before = process.cwd();
      const where = new Stage(
        useOutputPathWorkingDirectory(async function where(outputPath: string) {
          await sleep(100);
          await writeFile("here.txt", outputPath); // relative: in the working directory
          return process.cwd();
        }),
        { hashOutput: path.join(dir, "state"), logger: recordingLogger().logger },
      );
      const { output } = await where.map({ outputPath: dirs }, { concurrency: 1 });
      expect(output).toEqual(await Promise.all(dirs.map((d) => realpath(d))));
      for (const d of dirs) expect(await readFile(path.join(d, "here.txt"), "utf8")).toBe(d);
      expect(process.cwd()).toBe(before);
    },
  );
});
