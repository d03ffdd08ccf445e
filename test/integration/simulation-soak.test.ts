import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { emptyStats, type SimStats, simulate } from "../lib/sim-driver";
import { Sut } from "../lib/sim-sut";

/** Settings from the environment (`SIM_SOAK_RUNS`, `SIM_SOAK_STEPS`, `SIM_SEED`), passed in by vitest.config.ts. */
const settings = env as unknown as { SIM_SOAK_RUNS?: string; SIM_SOAK_STEPS?: string; SIM_SEED?: string };
const RUNS = Number(settings.SIM_SOAK_RUNS || 5);
const STEPS = Number(settings.SIM_SOAK_STEPS || 400);
const FIRST_SEED = settings.SIM_SEED ? Number(settings.SIM_SEED) : 1;
// Replaying one seed prints its whole step log on failure, not only the last steps.
(globalThis as { SIM_LOG?: number }).SIM_LOG = RUNS === 1 ? 100_000 : 25;

/** One run's figures, in one line. */
function figures(seed: number, s: SimStats, ms: number): string {
  const r = s.retention;
  return [
    `seed ${seed}: ${s.ops} steps over ${(r.simulatedHours / 24).toFixed(1)} simulated days in ${ms} ms`,
    `${s.submitted} tasks submitted, ${r.prunedTasks} pruned, ${r.erased} erased; ${r.prunedNodes} dead nodes pruned`,
    `most rows a shard stored: ${r.maxTaskRows} tasks (bound then ${r.maxTaskBound}: ${r.maxTaskUnfinished} unfinished + ${r.maxTaskRecent} finished within the retention), ${r.maxNodeRows} nodes (bound then ${r.maxNodeBound})`,
    `${r.longJumps} long jumps, ${r.runtimeAlarms} alarms on time for retention, ${r.expiredKeys} keys expired and reused`,
  ].join("; ");
}

describe("soak of the deterministic simulation: stored rows stay bounded by the retention", () => {
  it(
    `keeps every invariant, and each shard's rows within the retention's bound, over ${RUNS} runs of ${STEPS} steps (SIM_SEED=${FIRST_SEED})`,
    async () => {
      const started = Date.now();
      const sut = await Sut.create(env, `soak-${crypto.randomUUID()}`);
      let pruned = 0;
      let most = 0;
      for (let seed = FIRST_SEED; seed < FIRST_SEED + RUNS; seed++) {
        const stats = emptyStats();
        const runStarted = Date.now();
        await simulate(sut, seed, STEPS, stats, { soak: true });
        console.log(`soak ${figures(seed, stats, Date.now() - runStarted)}`);
        expect(stats.runs).toBe(1);
        // A soak that never crossed the retention would have proven nothing.
        expect(stats.retention.prunedTasks).toBeGreaterThan(0);
        expect(stats.retention.prunedNodes).toBeGreaterThan(0);
        pruned += stats.retention.prunedTasks;
        most = Math.max(most, stats.retention.maxTaskRows);
      }
      console.log(
        `soak: ${RUNS} runs in ${Date.now() - started} ms, ${pruned} tasks pruned, at most ${most} task rows in a shard`,
      );
    },
    Math.max(120_000, RUNS * STEPS * 100),
  );
});
