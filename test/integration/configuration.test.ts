import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { harness } from "./harness";

// A setting that cannot be used: every request answers 500 `misconfigured` naming it, and nothing
// is done (docs/CONFIGURATION.md). The same deployment with its good settings is untouched.
describe("a misconfigured deployment", () => {
  it("answers every request 500 misconfigured with the setting named, and changes nothing", async () => {
    const h = await harness();
    const bad = { ...env, NODE_DEAD_AFTER_MS: "10s" } as unknown as Env;
    const app = createApp({ deployment: h.name, clock: h.clock });
    const call = async (method: string, path: string, body?: unknown) => {
      const response = await app.request(
        `http://meridian.test${path}`,
        {
          method,
          headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        },
        bad,
      );
      return {
        status: response.status,
        body: (await response.json()) as { error: { code: string; message: string } },
      };
    };
    for (const [method, path, body] of [
      ["GET", "/healthz"],
      ["GET", "/v1/regions"],
      ["PUT", "/v1/regions/eu-west", { lat: 53.35, lon: -6.26 }],
    ] as const) {
      const answer = await call(method, path, body);
      expect(answer.status).toBe(500);
      expect(answer.body.error.code).toBe("misconfigured");
      expect(answer.body.error.message).toContain(
        "NODE_DEAD_AFTER_MS: expected a whole number of milliseconds",
      );
      expect(answer.body.error.message).toContain('"10s"');
    }
    // Nothing was stored: the region does not exist for the well-configured edge.
    expect((await h.get("/v1/regions")).body.regions).toEqual([]);
    expect((await h.get("/healthz")).status).toBe(200);
  });
});
