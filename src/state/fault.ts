/**
 * Fault injection for the crash-consistency tests: with `MEMORI_TEST_CRASH_AT=<point>` in the
 * environment, the process kills itself with SIGKILL when it reaches that point of a stage run
 * (`before-function`, `after-function`, `after-prepare-inputs`, `after-commit-stage`, ...).
 * Without the variable this is one string comparison per point.
 */
const target = process.env.MEMORI_TEST_CRASH_AT;

/**
 * Whether `point` is the crash point; with `crash`, die there and then (SIGKILL: no cleanup,
 * no `finally`, exactly like a power cut for this process).
 */
export function crashPoint(point: string, crash = false): boolean {
  if (target !== point) return false;
  if (crash) process.kill(process.pid, "SIGKILL");
  return true;
}
