import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { emptyStats, simulate } from "../lib/sim-driver";
import { Sut } from "../lib/sim-sut";

/** Settings from the environment (`SIM_RUNS`, `SIM_SEED`, `SIM_STEPS`), passed in by vitest.config.ts. */
const settings = env as unknown as { SIM_RUNS?: string; SIM_SEED?: string; SIM_STEPS?: string };
const RUNS = Number(settings.SIM_RUNS || 1000);
const STEPS = Number(settings.SIM_STEPS || 30);
const FIRST_SEED = settings.SIM_SEED ? Number(settings.SIM_SEED) : 1;
/** Runs per deployment: each run wipes the objects' tables first, so they share one set of objects. */
const RUNS_PER_DEPLOYMENT = 250;
// Replaying one seed prints its whole step log on failure, not only the last steps.
(globalThis as { SIM_LOG?: number }).SIM_LOG = RUNS === 1 ? 10_000 : 25;

describe("deterministic simulation of the coordinator and its region shards", () => {
  it(
    `keeps every invariant over ${RUNS} seeded runs of ${STEPS} steps (SIM_SEED=${FIRST_SEED})`,
    async () => {
      const stats = emptyStats();
      const started = Date.now();
      for (let first = 0; first < RUNS; first += RUNS_PER_DEPLOYMENT) {
        const sut = await Sut.create(env, `sim-${crypto.randomUUID()}`);
        for (let i = first; i < Math.min(RUNS, first + RUNS_PER_DEPLOYMENT); i++) {
          await simulate(sut, FIRST_SEED + i, STEPS, stats);
        }
      }
      console.log(`simulation: ${JSON.stringify(stats)} in ${Date.now() - started} ms`);
      expect(stats.runs).toBe(RUNS);
      expect(stats.ops).toBe(RUNS * STEPS);
    },
    Math.max(120_000, RUNS * 300),
  );
});
