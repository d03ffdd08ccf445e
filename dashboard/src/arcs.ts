/**
 * Arcs on the map: one per routed task, from the city it came from to the region that took it,
 * bright at first and fading out. Pure: the caller passes the time, the view draws what `live`
 * answers.
 */
import type { LatLon } from "./live-events";

/** How long an arc stays on the map. Long enough to see where a burst went, short enough not to clutter. */
export const ARC_LIFETIME_MS = 6000;

/** An arc is fully opaque for this share of its life, then fades linearly to nothing. */
const HOLD_SHARE = 0.25;

/** At most this many arcs at once (a burst of thousands would otherwise stall the page); the oldest go first. */
export const MAX_ARCS = 400;

export interface Arc {
  taskId: string;
  region: string;
  from: LatLon;
  to: LatLon;
  /** `nearest`, `spillover`, ...: spillover arcs are drawn dashed. */
  reason: string;
  /** When the page received it (the page's clock, not the server's: fading is about what the viewer saw). */
  bornAt: number;
}

/** Opacity of an arc `ageMs` old: 1 while held, then linear to 0 at the end of its life. */
export function arcOpacity(ageMs: number, lifetimeMs = ARC_LIFETIME_MS): number {
  if (ageMs < 0) {
    return 1;
  }
  if (ageMs >= lifetimeMs) {
    return 0;
  }
  const hold = lifetimeMs * HOLD_SHARE;
  return ageMs <= hold ? 1 : 1 - (ageMs - hold) / (lifetimeMs - hold);
}

/** The arcs alive now, oldest first. */
export class ArcSet {
  private arcs: Arc[] = [];

  constructor(
    private readonly lifetimeMs = ARC_LIFETIME_MS,
    private readonly max = MAX_ARCS,
  ) {}

  add(arc: Arc): void {
    this.arcs.push(arc);
    if (this.arcs.length > this.max) {
      this.arcs.splice(0, this.arcs.length - this.max);
    }
  }

  /** Every arc still visible at `now` with its opacity; arcs that have faded out are dropped. */
  live(now: number): { arc: Arc; opacity: number }[] {
    this.arcs = this.arcs.filter((arc) => now - arc.bornAt < this.lifetimeMs);
    return this.arcs.map((arc) => ({ arc, opacity: arcOpacity(now - arc.bornAt, this.lifetimeMs) }));
  }

  get size(): number {
    return this.arcs.length;
  }
}
