import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { objectConfig } from "../../durable-objects/call-gate";
import type { Coordinator } from "../../durable-objects/coordinator";
import { harness } from "./harness";

describe("tokens and authentication", () => {
  it("mints a token shown once, lists it without the secret, and revocation is immediate", async () => {
    const h = await harness();
    const created = await h.post("/v1/tokens", { role: "reader", label: "dashboards" });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ role: "reader", label: "dashboards" });
    expect(created.body.token).toMatch(/^mrd_/);

    const list = await h.get("/v1/tokens");
    expect(list.status).toBe(200);
    expect(list.body.tokens).toEqual([
      expect.objectContaining({ id: created.body.id, role: "reader", label: "dashboards" }),
    ]);
    expect(JSON.stringify(list.body)).not.toContain(created.body.token);

    expect((await h.get("/v1/regions", created.body.token)).status).toBe(200);
    expect((await h.delete(`/v1/tokens/${created.body.id}`)).status).toBe(204);
    const after = await h.get("/v1/regions", created.body.token);
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe("unauthorized");
    expect((await h.delete(`/v1/tokens/${created.body.id}`)).status).toBe(404);
  });

  it("stores only a SHA-256 hash of each token", async () => {
    const h = await harness();
    const { token } = (await h.post("/v1/tokens", { role: "client" })).body;
    const rows = await h.inside((s) => [...s.tokens.list(null)]);
    expect(rows).toHaveLength(1);
    const stored = await h.inside(async (s) => {
      const hash = [...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token)))]
        .map((b) => b.toString(16).padStart(2, "0"))
        .join("");
      return { known: s.tokens.lookup(hash)?.role, raw: s.tokens.lookup(token) };
    });
    expect(stored).toEqual({ known: "client", raw: undefined });
  });

  it("answers 401 without a token or with an unknown one, before validating the body", async () => {
    const h = await harness();
    expect((await h.get("/v1/regions", null)).status).toBe(401);
    const unknown = await h.post("/v1/tasks", { type: "BAD TYPE" }, "mrd_not_a_token");
    expect(unknown.status).toBe(401);
    expect(unknown.body.error).toMatchObject({ code: "unauthorized" });
  });

  it("answers 403 when the role may not act, even with an invalid body", async () => {
    const h = await harness();
    const reader = await h.token("reader");
    const wrongRole = await h.post("/v1/tasks", { type: "BAD TYPE" }, reader);
    expect(wrongRole.status).toBe(403);
    expect(wrongRole.body.error.code).toBe("forbidden");
    expect((await h.post("/v1/tokens", { role: "admin" }, reader)).status).toBe(403);
  });

  it("rejects a bad role with 400 and the issue listed", async () => {
    const h = await harness();
    const bad = await h.post("/v1/tokens", { role: "root" });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("invalid_request");
    expect(bad.body.error.issues[0].path).toBe("role");
  });

  it("binds a node id to the token that registered it", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const mine = await h.token("node");
    const other = await h.token("node");
    const nodeId = await h.node(mine, "eu-west");
    const hijack = await h.post(`/v1/nodes/${nodeId}/heartbeat`, {}, other);
    expect(hijack.status).toBe(403);
    expect((await h.post(`/v1/nodes/${nodeId}/poll`, {}, other)).status).toBe(403);
    expect((await h.delete(`/v1/nodes/${nodeId}`, other)).status).toBe(403);
    expect((await h.post(`/v1/nodes/${nodeId}/heartbeat`, {}, mine)).status).toBe(200);
  });
});

describe("rate limits", () => {
  it("answers 429 with Retry-After past a token's budget, other tokens unaffected", async () => {
    const h = await harness();
    const client = await h.token("client");
    const other = await h.token("client");
    // The coordinator, which GET /v1/regions reaches first, with a budget of 3 and 1 a second.
    await runInDurableObject(h.stub, (instance: Coordinator) =>
      instance.restartWith({
        clock: h.clock,
        config: { ...objectConfig(env), rateLimit: { ratePerSec: 1, burst: 3 } },
      }),
    );
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      statuses.push((await h.get("/v1/regions", client)).status);
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    const limited = await h.get("/v1/regions", client);
    expect(limited.body.error.code).toBe("rate_limited");
    expect(limited.headers.get("retry-after")).toBe("1");
    expect((await h.get("/v1/regions", other)).status).toBe(200);
    h.now += 1000;
    expect((await h.get("/v1/regions", client)).status).toBe(200);
  });
});
