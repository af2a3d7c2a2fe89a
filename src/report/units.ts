/** Durations, sizes and times as the report shows them (a missing value: "–"). */

export const MISSING = "–";

/** `1.2 s`, `340 ms`, `2 min 5 s`, `1 h 3 min`. */
export function duration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return MISSING;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const min = Math.floor(s / 60);
  if (min < 60) return `${min} min ${Math.round(s - min * 60)} s`;
  return `${Math.floor(min / 60)} h ${min % 60} min`;
}

/** `512 B`, `1.5 KiB`, `20 MiB`, `3.1 GiB`. */
export function bytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return MISSING;
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0
    ? `${value} B`
    : `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** A time as UTC, to the second: `2026-11-26 09:50:12 UTC`. */
export function clock(time: number | undefined): string {
  if (time === undefined || !Number.isFinite(time)) return MISSING;
  return new Date(time)
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, " UTC");
}
