import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// Three kinds of tests in one `npm test`:
// - unit: the pure core (src/core), the SDK and the dashboard's pure logic in plain Node, milliseconds each;
// - workers: integration tests inside the Workers runtime (workerd), against the real Worker and Durable Object;
// - e2e: a real `wrangler dev` server and real agent processes, driven over HTTP from Node.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/core/**/*.test.ts", "test/sdk/**/*.test.ts", "test/dashboard/**/*.test.ts"],
          environment: "node",
        },
      },
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                ADMIN_TOKEN: "test-admin-token",
                // The simulation's knobs (test/integration/simulation.test.ts): `SIM_RUNS=100000 npm run sim`.
                SIM_RUNS: process.env.SIM_RUNS ?? "",
                SIM_SEED: process.env.SIM_SEED ?? "",
                SIM_STEPS: process.env.SIM_STEPS ?? "",
                // The soak's (test/integration/simulation-soak.test.ts): `SIM_SOAK_RUNS=50 npm run sim:soak`.
                SIM_SOAK_RUNS: process.env.SIM_SOAK_RUNS ?? "",
                SIM_SOAK_STEPS: process.env.SIM_SOAK_STEPS ?? "",
              },
            },
          }),
        ],
        test: { name: "workers", include: ["test/integration/**/*.test.ts"] },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
