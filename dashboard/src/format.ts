/** How numbers, durations and times read on the dashboard. Pure. */

/** 7, 950, 1.2k, 34k, 1.5M. */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) {
    return "–";
  }
  const abs = Math.abs(n);
  if (abs < 1000) {
    return String(Math.round(n));
  }
  if (abs < 10_000) {
    return `${(n / 1000).toFixed(1)}k`;
  }
  if (abs < 1_000_000) {
    return `${Math.round(n / 1000)}k`;
  }
  return `${(n / 1_000_000).toFixed(1)}M`;
}

/** 850 ms, 1.2 s, 45 s, 3 min. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) {
    return "–";
  }
  if (ms < 1000) {
    return `${Math.round(ms)} ms`;
  }
  if (ms < 10_000) {
    return `${(ms / 1000).toFixed(1)} s`;
  }
  if (ms < 120_000) {
    return `${Math.round(ms / 1000)} s`;
  }
  return `${Math.round(ms / 60_000)} min`;
}

/** "just now", "12 s ago", "3 min ago" for a time `at` seen from `now`. */
export function formatAgo(at: number, now: number): string {
  const ms = now - at;
  if (ms < 1500) {
    return "just now";
  }
  return `${formatDuration(ms)} ago`;
}

/** A share as a percentage: 0.456 → "46%"; null → "–". */
export function formatPercent(share: number | null): string {
  return share === null || !Number.isFinite(share) ? "–" : `${Math.round(share * 100)}%`;
}

/** In flight over capacity, or null when the region has no capacity (no node to run anything). */
export function loadShare(inFlight: number, capacity: number): number | null {
  return capacity > 0 ? inFlight / capacity : null;
}

/** A distance in km, "–" when unknown (no location). */
export function formatKm(km: number | null): string {
  return km === null ? "–" : `${Math.round(km).toLocaleString("en")} km`;
}

/** A clock time for a server timestamp, HH:MM:SS in the viewer's zone. */
export function formatClock(at: number): string {
  return new Date(at).toTimeString().slice(0, 8);
}
