// A runnable pipeline module: `memori run examples/pipelines/smooth.ts --param bids=DIR`
// (add `--executor slurm` to run each stage and subject as a SLURM job).
// It finds every subject's T1w file in a dataset (optionally only some subjects), smooths each
// (a map: one memoized element per subject, labelled by subject) and averages them. The
// parameters reach the stages fed by "start" by name (bids, subjects, fwhm, derivatives);
// `derivatives` also places the state directory, so the pipeline is made by a function of them.
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { MappedStage, Pipeline, Stage, definePipeline } from "memori";

/** `sub-07` for `.../sub-07_T1w.txt`. */
const subjectOf = (file: string): string => path.basename(file).split("_")[0]!;

async function voxels(file: string): Promise<number[]> {
  return (await readFile(file, "utf8")).trim().split("\n").map(Number);
}

export default definePipeline({
  description: "smooth each subject's T1w image, then average the subjects",
  params: {
    bids: { type: "path", mustExist: true, help: "the dataset: one sub-*/ directory per subject" },
    subjects: { type: "list", default: [], help: "the subjects to process (default: all)" },
    fwhm: { type: "number", default: 6, help: "smoothing kernel width, in voxels" },
    derivatives: { type: "path", default: "work/derivatives", help: "where results go" },
  },
  // What each stage's job asks for with `memori run --executor slurm` (ignored otherwise).
  resources: {
    default: { memory: "512M", time: "10:00" },
    stages: { smooth: { cpus: 1, memory: "1G" } },
  },
  pipeline: ({ derivatives }) => {
    const hashOutput = path.join(derivatives, ".memori");
    // Listing is cheap: a dry run may call it to explain each subject's element.
    const find = new Stage(
      async function findT1w(bids: string, subjects: string[]) {
        const all = (await readdir(bids)).filter((name) => name.startsWith("sub-")).sort();
        const chosen = subjects.length === 0 ? all : all.filter((s) => subjects.includes(s));
        return chosen.map((s) => path.join(bids, s, "anat", `${s}_T1w.txt`));
      },
      { outputs: "t1w", hashOutput, cheap: true },
    );
    const smooth = new MappedStage(
      new Stage(
        async function smooth(t1w: string, fwhm: number, derivatives: string) {
          const values = await voxels(t1w);
          const half = Math.max(1, Math.round(fwhm / 2));
          const smoothed = values.map((_, i) => {
            const window = values.slice(Math.max(0, i - half), i + half + 1);
            return window.reduce((a, b) => a + b, 0) / window.length;
          });
          await mkdir(derivatives, { recursive: true });
          const out = path.join(derivatives, `${subjectOf(t1w)}_desc-smooth${fwhm}_T1w.txt`);
          await writeFile(out, smoothed.map((v) => v.toFixed(3)).join("\n") + "\n");
          return out;
        },
        { outputs: "smoothed", hashOutput },
      ),
      ["t1w"],
      { label: ({ t1w }) => subjectOf(String(t1w)) },
    );
    const average = new Stage(
      async function average(smoothed: string[]) {
        const means = await Promise.all(
          smoothed.map(async (file) => {
            const values = await voxels(file);
            return values.reduce((a, b) => a + b, 0) / values.length;
          }),
        );
        return means.reduce((a, b) => a + b, 0) / means.length;
      },
      { outputs: "groupMean", hashOutput },
    );
    return new Pipeline([
      ["start", find],
      [find, smooth],
      ["start", smooth], // fwhm, derivatives
      [smooth, average],
    ]);
  },
});
