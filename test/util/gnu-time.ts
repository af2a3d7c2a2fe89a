// Whether GNU time (`/usr/bin/time -v`) runs here, for the test that checks a recorded peak
// RSS against it. Without it the test skips with a warning; in CI (CI=true) it fails:
// scripts/gnu-time.sh installs it.
import { spawnSync } from "node:child_process";

/** `/usr/bin/time -v` runs here; otherwise `false` with a warning, or an error in CI. */
export function hasGnuTime(): boolean {
  const ran = spawnSync("/usr/bin/time", ["-v", "true"], { encoding: "utf8" });
  if (ran.error === undefined && ran.status === 0) return true;
  const why = ran.error?.message ?? `exit status ${ran.status}`;
  if (process.env.CI === "true") {
    throw new Error(
      `/usr/bin/time -v does not run here (${why}), and CI needs it: run scripts/gnu-time.sh first.`,
    );
  }
  console.warn(
    `skipping the peak RSS comparison: /usr/bin/time -v does not run here (${why}); scripts/gnu-time.sh installs it`,
  );
  return false;
}

/** What `/usr/bin/time -v` says a command used: peak RSS in bytes, CPU time in ms. */
export function gnuTime(command: readonly string[]): { peakRss: number; cpuMs: number } {
  const ran = spawnSync("/usr/bin/time", ["-v", ...command], { encoding: "utf8" });
  if (ran.status !== 0)
    throw new Error(`/usr/bin/time -v ${command.join(" ")} failed: ${ran.stderr}`);
  const field = (name: string) => {
    const match = new RegExp(`${name}: ([\\d.]+)`).exec(ran.stderr);
    if (match === null) throw new Error(`no "${name}" in /usr/bin/time's report: ${ran.stderr}`);
    return Number(match[1]);
  };
  return {
    peakRss: field("Maximum resident set size \\(kbytes\\)") * 1024,
    cpuMs: (field("User time \\(seconds\\)") + field("System time \\(seconds\\)")) * 1000,
  };
}
