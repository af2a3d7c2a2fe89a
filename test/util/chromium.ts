// Whether a headless Chromium runs here, for the tests that load the HTML report in a real
// browser. On a developer's machine without one they skip (with a warning naming the script
// that installs it); in CI (CI=true) a missing Chromium fails them: a browser test that
// silently skips is not a test.
import { spawnSync } from "node:child_process";
import { chromium, type Browser } from "playwright-core";

const CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];

let answer: { path: string; why: string } | undefined;

/** The Chromium binary, or why there is none that starts (asked once per process). */
function find(): { path: string; why: string } {
  if (answer !== undefined) return answer;
  const named = process.env.MEMORI_CHROMIUM;
  const candidates = named === undefined || named === "" ? CANDIDATES : [named];
  let why = `none of ${candidates.join(", ")} is installed`;
  for (const candidate of candidates) {
    const ran = spawnSync(candidate, ["--headless", "--no-sandbox", "--version"], {
      encoding: "utf8",
      timeout: 30_000,
    });
    if (ran.error !== undefined) {
      if ((ran.error as NodeJS.ErrnoException).code !== "ENOENT") {
        why = `${candidate} cannot run (${ran.error.message})`;
      }
      continue;
    }
    if (ran.status === 0) return (answer = { path: candidate, why: "" });
    why = `${candidate} --version failed: ${ran.stderr.trim() || `exit status ${ran.status}`}`;
  }
  return (answer = { path: "", why });
}

/**
 * Whether tests may use Chromium: one starts here. Without one: `false` with a warning, or, in
 * CI, an error (scripts/chromium.sh installs Debian's chromium).
 *
 * @example
 * ```ts
 * describe.runIf(hasChromium())("the report in a browser", () => { ... });
 * ```
 */
export function hasChromium(): boolean {
  const { why } = find();
  if (why === "") return true;
  if (process.env.CI === "true") {
    throw new Error(
      `Chromium is not usable here, and CI needs it: ${why}. Run scripts/chromium.sh first.`,
    );
  }
  console.warn(`skipping the browser tests: ${why} (scripts/chromium.sh installs chromium)`);
  return false;
}

/** Start a headless Chromium (playwright-core driving the system's binary). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: find().path,
    // Root in a container: Chromium's sandbox needs user namespaces it may not have.
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
}
