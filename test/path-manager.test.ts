import { describe, expect, it } from "vitest";
import {
  PathManager,
  appendSuffix,
  deleteSuffix,
  getPathAndPrefix,
  getPrefix,
  replaceSuffix,
  repath,
} from "../src/index.js";

describe("path functions", () => {
  it("get prefixes and paths without extensions", () => {
    expect(getPrefix("/a/b/c.nii.gz")).toBe("c");
    expect(getPrefix("/my/path/to/a/file.ext.ext2")).toBe("file");
    expect(getPrefix("noext")).toBe("noext");
    expect(getPrefix("/d/.hidden.txt")).toBe(".hidden");
    expect(getPathAndPrefix("/my/path/to/a/file.ext.ext2")).toBe("/my/path/to/a/file");
    expect(getPathAndPrefix("file.nii.gz")).toBe("file");
    expect(getPathAndPrefix("./rel/file.nii")).toBe("rel/file");
  });

  it("keep a dot inside a BIDS entity in the prefix: only extension-like parts are extensions", () => {
    expect(getPrefix("/data/sub.01_T1w.nii.gz")).toBe("sub.01_T1w");
    expect(getPrefix("sub-01_run-1.5_bold.nii.gz")).toBe("sub-01_run-1.5_bold");
    expect(appendSuffix("/d/sub.01_T1w.nii.gz", "_brain")).toBe("/d/sub.01_T1w_brain.nii.gz");
    expect(getPrefix("anat+orig.BRIK.gz")).toBe("anat+orig");
    expect(getPrefix("/d/.hidden.txt")).toBe(".hidden");
    expect(getPrefix("archive.tar.gz")).toBe("archive");
  });

  it("act on the file name only, never on underscores in directories", () => {
    expect(appendSuffix("/my_dir/file.nii", "_brain")).toBe("/my_dir/file_brain.nii");
    expect(replaceSuffix("/my_dir/file.nii", "_brain")).toBe("/my_dir/file_brain.nii");
    expect(deleteSuffix("/my_dir/file.nii")).toBe("/my_dir/file.nii");
    expect(appendSuffix("/my/path/to/a/file.ext.ext2", "_newsuffix")).toBe(
      "/my/path/to/a/file_newsuffix.ext.ext2",
    );
    expect(replaceSuffix("/my/path/to/a/file_newsuffix.ext.ext2", "_newsuffix2")).toBe(
      "/my/path/to/a/file_newsuffix2.ext.ext2",
    );
    expect(deleteSuffix("/my/path/to/a/file_newsuffix2.ext.ext2")).toBe(
      "/my/path/to/a/file.ext.ext2",
    );
    expect(deleteSuffix("/data_x/sub-01_ses-1_T1w.nii.gz")).toBe("/data_x/sub-01_ses-1.nii.gz");
    expect(repath("/new/path", "/my/path/to/a/file.ext.ext2")).toBe("/new/path/file.ext.ext2");
  });

  it("reject bad arguments clearly", () => {
    expect(() => appendSuffix("/a/b.nii", "")).toThrow(/expected a suffix such as "_brain"/);
    expect(() => appendSuffix("/a/b.nii", "_x/y")).toThrow(/must not contain "\/"/);
    expect(() => getPrefix(undefined as never)).toThrow(/expected a path string, got undefined/);
  });
});

describe("PathManager", () => {
  it("chains and returns new managers", () => {
    const pm = new PathManager("/my/path/to/a/file.ext.ext2");
    expect(pm.getPrefix().path).toBe("file");
    expect(pm.repath("/new").appendSuffix("_test").getPathAndPrefix().path).toBe("/new/file_test");
    expect(String(pm.appendSuffix("_x").replaceSuffix("_y").deleteSuffix())).toBe(pm.path);
    expect(new PathManager("/data/sub-01_T1w.nii.gz").getPrefix().appendSuffix("_brain").path).toBe(
      "sub-01_T1w_brain",
    );
  });
});
