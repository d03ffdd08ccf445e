/**
 * The fleet's recent happenings in words (nodes up and down, leaders changing, regions turning
 * healthy or not): where the demo's chaos shows. Task events are not logged here: they are the
 * arcs and counters. Pure.
 */
import type { LiveEvent } from "./live-events";

/** How many lines the log keeps. */
export const EVENT_LOG_LINES = 12;

/**
 * A line for `event`, or null when it is not worth one. `wasHealthy`: the region's health before a
 * `region.changed` (only a change of health is logged; load changes are many and shown elsewhere).
 * `nameOf`: what to call a node (its name label when the dashboard knows it).
 */
export function describeEvent(
  event: LiveEvent,
  wasHealthy?: boolean,
  nameOf: (nodeId: string) => string = (id) => id,
): string | null {
  switch (event.type) {
    case "node.up":
      return `▲ node ${nameOf(event.nodeId)} up in ${event.region} (${event.transport})`;
    case "node.down":
      return `▼ node ${nameOf(event.nodeId)} down in ${event.region}: ${event.reason}`;
    case "leader.changed":
      return event.leader === null
        ? `◇ ${event.election}: no leader (term ${event.term})`
        : `★ ${event.election}: ${nameOf(event.leader)} leads (term ${event.term})`;
    case "region.changed":
      if (wasHealthy === undefined || wasHealthy === event.healthy) {
        return null;
      }
      return event.healthy ? `● ${event.region} is healthy again` : `◆ ${event.region} is unhealthy`;
    default:
      return null;
  }
}
