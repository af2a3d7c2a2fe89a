// Paths between the submitter's view of the project and the jobs' (pure).
import { describe, expect, it } from "vitest";
import type { JobResult } from "../../src/slurm/job-file.js";
import { mapPaths, resultHere, toLocal, toRemote } from "../../src/slurm/remote-root.js";

const roots = { local: "/lab/study", remote: "/mnt/lab/study" };

describe("remote roots", () => {
  it("places paths under the root under the other root, and nothing else", () => {
    expect(toRemote("/lab/study", roots)).toBe("/mnt/lab/study");
    expect(toRemote("/lab/study/bids/sub-01/t1w.nii", roots)).toBe(
      "/mnt/lab/study/bids/sub-01/t1w.nii",
    );
    expect(toLocal("/mnt/lab/study/derivatives/x.txt", roots)).toBe("/lab/study/derivatives/x.txt");
    // Outside the root (a shared atlas), a sibling that shares its prefix, relative paths and
    // words: as they are.
    for (const same of ["/opt/atlas.nii", "/lab/study2/x", "bids/sub-01", "sub-01", ""]) {
      expect(toRemote(same, roots)).toBe(same);
      expect(toLocal(same, roots)).toBe(same);
    }
    expect(toLocal("/lab/study/x", roots)).toBe("/lab/study/x"); // already here
    expect(toRemote("/lab/study/x", undefined)).toBe("/lab/study/x");
  });

  it("maps every string of an encoded value, at any depth, keys aside", () => {
    const value = {
      "/lab/study/key": ["/lab/study/a", { deep: "/lab/study/b", n: 1, none: null }],
      other: "/elsewhere",
    };
    expect(mapPaths(value, (file) => toRemote(file, roots))).toEqual({
      "/lab/study/key": ["/mnt/lab/study/a", { deep: "/mnt/lab/study/b", n: 1, none: null }],
      other: "/elsewhere",
    });
  });

  it("takes a job's result back: the value, the files it names, what it opened", () => {
    const result: JobResult = {
      format: 1,
      token: "t",
      host: "node1",
      ok: true,
      returned: { file: "/mnt/lab/study/derivatives/x.txt" },
      files: [{ path: "/mnt/lab/study/derivatives/x.txt", size: 3 }],
      access: {
        cwd: "/mnt/lab/study",
        reads: ["/mnt/lab/study/bids/a", "/opt/atlas.nii", "rel.txt"],
        writes: ["/mnt/lab/study/derivatives/x.txt"],
        untraced: false,
      },
      ms: 5,
    };
    expect(resultHere(result, roots)).toEqual({
      ...result,
      returned: { file: "/lab/study/derivatives/x.txt" },
      files: [{ path: "/lab/study/derivatives/x.txt", size: 3 }],
      access: {
        cwd: "/lab/study",
        reads: ["/lab/study/bids/a", "/opt/atlas.nii", "rel.txt"],
        writes: ["/lab/study/derivatives/x.txt"],
        untraced: false,
      },
    });
    expect(resultHere(result, undefined)).toBe(result);
  });
});
