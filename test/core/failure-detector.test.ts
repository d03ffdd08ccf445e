import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  deathDeadline,
  type HeartbeatConfig,
  type NodeHealth,
  nodeHealth,
} from "../../src/core/failure-detector";

const config: HeartbeatConfig = { heartbeatIntervalMs: 1000, deadAfterMs: 5000 };
const rank: Record<NodeHealth, number> = { healthy: 0, suspect: 1, dead: 2 };

describe("nodeHealth examples", () => {
  it.each<[string, number, HeartbeatConfig, NodeHealth]>([
    ["just seen", 0, config, "healthy"],
    ["one missed beat", 1500, config, "healthy"],
    ["exactly two intervals is still healthy", 2000, config, "healthy"],
    ["just over two intervals is suspect", 2001, config, "suspect"],
    ["just before the deadline is suspect", 4999, config, "suspect"],
    ["exactly deadAfterMs is dead", 5000, config, "dead"],
    ["long gone", 3_600_000, config, "dead"],
    ["a heartbeat from the future (clock skew) is healthy", -250, config, "healthy"],
    [
      "deadAfterMs below 2 intervals: dead wins",
      1500,
      { heartbeatIntervalMs: 1000, deadAfterMs: 1500 },
      "dead",
    ],
    [
      "deadAfterMs below 2 intervals: healthy before it",
      1499,
      { heartbeatIntervalMs: 1000, deadAfterMs: 1500 },
      "healthy",
    ],
  ])("%s (silence %i ms)", (_, silence, cfg, expected) => {
    const lastSeenAt = 1_700_000_000_000;
    expect(nodeHealth(lastSeenAt, lastSeenAt + silence, cfg)).toBe(expected);
  });

  it("deathDeadline = lastSeenAt + deadAfterMs", () => {
    expect(deathDeadline(1000, config)).toBe(6000);
    expect(nodeHealth(1000, deathDeadline(1000, config), config)).toBe("dead");
    expect(nodeHealth(1000, deathDeadline(1000, config) - 1, config)).toBe("suspect");
  });
});

describe("nodeHealth properties", () => {
  const configArb = fc.record({
    heartbeatIntervalMs: fc.integer({ min: 1, max: 60_000 }),
    deadAfterMs: fc.integer({ min: 1, max: 300_000 }),
  });
  const timeArb = fc.integer({ min: 0, max: 2 ** 42 });
  const silenceArb = fc.integer({ min: -10_000, max: 1_000_000 });

  it("property: dead exactly from deathDeadline on", () => {
    fc.assert(
      fc.property(configArb, timeArb, silenceArb, (cfg, lastSeenAt, silence) => {
        const now = lastSeenAt + silence;
        expect(nodeHealth(lastSeenAt, now, cfg) === "dead").toBe(now >= deathDeadline(lastSeenAt, cfg));
      }),
    );
  });

  it("property: health only worsens as silence grows (healthy -> suspect -> dead, never back)", () => {
    fc.assert(
      fc.property(configArb, timeArb, silenceArb, silenceArb, (cfg, lastSeenAt, s1, s2) => {
        const [shorter, longer] = s1 <= s2 ? [s1, s2] : [s2, s1];
        const h1 = nodeHealth(lastSeenAt, lastSeenAt + shorter, cfg);
        const h2 = nodeHealth(lastSeenAt, lastSeenAt + longer, cfg);
        expect(rank[h2]).toBeGreaterThanOrEqual(rank[h1]);
      }),
    );
  });

  it("property: a heartbeat resets health - only the silence now - lastSeenAt matters", () => {
    fc.assert(
      fc.property(configArb, timeArb, timeArb, silenceArb, (cfg, t1, t2, silence) => {
        expect(nodeHealth(t1, t1 + silence, cfg)).toBe(nodeHealth(t2, t2 + silence, cfg));
        expect(nodeHealth(t2, t2, cfg)).toBe("healthy");
      }),
    );
  });

  it("property: suspect iff not dead and silence > 2 heartbeat intervals", () => {
    fc.assert(
      fc.property(configArb, timeArb, silenceArb, (cfg, lastSeenAt, silence) => {
        const health = nodeHealth(lastSeenAt, lastSeenAt + silence, cfg);
        const dead = silence >= cfg.deadAfterMs;
        expect(health === "suspect").toBe(!dead && silence > 2 * cfg.heartbeatIntervalMs);
      }),
    );
  });
});
