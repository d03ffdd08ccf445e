import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { AUTH_CACHE_TTL_MS } from "../../src/http/auth-cache";
import { ADMIN, harness } from "./harness";

describe("authentication at the edge", () => {
  it("a revoked token stops at once at the edge that revoked it, and at every other edge within AUTH_CACHE_TTL_MS", async () => {
    const h = await harness();
    // A second isolate of the same deployment: its own auth cache, on the same clock.
    const other = createApp({ deployment: h.name, clock: h.clock });
    const get = async (token: string) =>
      (
        await other.request(
          "http://meridian.test/v1/regions",
          { headers: { authorization: `Bearer ${token}` } },
          env,
        )
      ).status;
    const reader = (await h.post("/v1/tokens", { role: "reader" })).body;
    expect(await get(reader.token)).toBe(200); // now cached at the other edge
    expect((await h.get("/v1/regions", reader.token)).status).toBe(200);

    expect((await h.delete(`/v1/tokens/${reader.id}`)).status).toBe(204);
    expect((await h.get("/v1/regions", reader.token)).status).toBe(401); // this edge forgot at once
    h.now += AUTH_CACHE_TTL_MS - 1;
    expect(await get(reader.token)).toBe(200); // the other edge still trusts its copy: the bound
    h.now += 1;
    expect(await get(reader.token)).toBe(401);
  });

  it("asks the coordinator about a token at most once per bound, known or not", async () => {
    const h = await harness();
    const client = await h.token("client");
    const calls = () => h.inside((s) => s.calls.get("authenticate") ?? 0);
    const start = await calls();
    for (let i = 0; i < 5; i++) {
      await h.get("/v1/regions", client);
      await h.get("/v1/regions", `mrd_${"a".repeat(32)}`); // well formed, unknown
    }
    expect(await calls()).toBe(start + 2);
    h.now += AUTH_CACHE_TTL_MS;
    await h.get("/v1/regions", client);
    expect(await calls()).toBe(start + 3);
    expect((await h.get("/v1/regions", ADMIN)).status).toBe(200); // the admin secret is checked at the edge
    expect(await calls()).toBe(start + 3);
  });
});
