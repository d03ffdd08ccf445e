import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { harness } from "./harness";

async function setup() {
  const h = await harness();
  const node = await h.token("node");
  return { h, node };
}

describe("elections", () => {
  it("elects the oldest live candidate; term is a timestamp fencing token", async () => {
    const { h, node } = await setup();
    const first = await h.post("/v1/elections/db/campaign", { candidate: "alpha", ttlMs: 10_000 }, node);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      isLeader: true,
      position: 0,
      leader: { candidate: "alpha", term: h.now, since: h.now, expiresAt: h.now + 10_000 },
    });
    h.now += 10;
    const second = await h.post("/v1/elections/db/campaign", { candidate: "beta", ttlMs: 10_000 }, node);
    expect(second.body).toMatchObject({ isLeader: false, position: 1, leader: { candidate: "alpha" } });
    const third = await h.post("/v1/elections/db/campaign", { candidate: "gamma", ttlMs: 10_000 }, node);
    expect(third.body.position).toBe(2);
    const view = await h.get("/v1/elections/db");
    expect(view.body).toMatchObject({
      name: "db",
      term: first.body.leader.term,
      leader: { candidate: "alpha" },
    });
    expect(view.body.candidates.map((c: { candidate: string }) => c.candidate)).toEqual([
      "alpha",
      "beta",
      "gamma",
    ]);
  });

  it("passes leadership to the next-oldest at once on resign, with a strictly higher term", async () => {
    const { h, node } = await setup();
    const a = await h.post("/v1/elections/db/campaign", { candidate: "alpha", ttlMs: 10_000 }, node);
    await h.post("/v1/elections/db/campaign", { candidate: "beta", ttlMs: 10_000 }, node);
    // Same millisecond: the term still grows.
    expect((await h.post("/v1/elections/db/resign", { candidate: "alpha" }, node)).status).toBe(200);
    const view = (await h.get("/v1/elections/db")).body;
    expect(view.leader.candidate).toBe("beta");
    expect(view.term).toBe(a.body.leader.term + 1);
  });

  it("expires a candidate that does not renew, and renewing keeps the place in line", async () => {
    const { h, node } = await setup();
    await h.post("/v1/elections/db/campaign", { candidate: "alpha", ttlMs: 5_000 }, node);
    h.now += 1;
    await h.post("/v1/elections/db/campaign", { candidate: "beta", ttlMs: 20_000 }, node);
    h.now += 4_000;
    const renewed = await h.post("/v1/elections/db/campaign", { candidate: "alpha", ttlMs: 5_000 }, node);
    expect(renewed.body).toMatchObject({ isLeader: true, position: 0 });
    await h.advance(5_000);
    expect(await runDurableObjectAlarm(h.stub)).toBe(true);
    const view = (await h.get("/v1/elections/db")).body;
    expect(view.leader).toMatchObject({ candidate: "beta", since: h.now });
    expect(view.term).toBe(h.now);
  });

  it("fences: the current term passes, an older one is 409 stale_term", async () => {
    const { h, node } = await setup();
    const a = await h.post("/v1/elections/db/campaign", { candidate: "alpha", ttlMs: 10_000 }, node);
    const term = a.body.leader.term;
    expect((await h.post("/v1/elections/db/fence", { term }, node)).body).toEqual({ ok: true, term });
    await h.post("/v1/elections/db/campaign", { candidate: "beta", ttlMs: 10_000 }, node);
    await h.post("/v1/elections/db/resign", { candidate: "alpha" }, node);
    const stale = await h.post("/v1/elections/db/fence", { term }, node);
    expect(stale.status).toBe(409);
    expect(stale.body.error.reason).toBe("stale_term");
  });

  it("404 for an unknown election; 400 for bad names and ttl; 403 for clients", async () => {
    const { h, node } = await setup();
    expect((await h.get("/v1/elections/nobody")).status).toBe(404);
    expect((await h.post("/v1/elections/db/fence", { term: 1 }, node)).status).toBe(404);
    expect((await h.post("/v1/elections/DB!/campaign", { candidate: "a", ttlMs: 5000 }, node)).status).toBe(
      400,
    );
    expect((await h.post("/v1/elections/db/campaign", { candidate: "a", ttlMs: 999 }, node)).status).toBe(
      400,
    );
    expect((await h.post("/v1/elections/db/campaign", { candidate: "a", ttlMs: 300_001 }, node)).status).toBe(
      400,
    );
    const client = await h.token("client");
    expect((await h.post("/v1/elections/db/campaign", { candidate: "a", ttlMs: 5000 }, client)).status).toBe(
      403,
    );
  });

  it("streams leadership changes to a WebSocket observer, starting with the current leader", async () => {
    const { h, node } = await setup();
    await h.post("/v1/elections/db/campaign", { candidate: "alpha", ttlMs: 10_000 }, node);
    await h.post("/v1/elections/db/campaign", { candidate: "beta", ttlMs: 10_000 }, node);
    const response = await h.app.request(
      "http://meridian.test/v1/elections/db/observe",
      { headers: { upgrade: "websocket", authorization: `Bearer ${node}` } },
      (await import("cloudflare:workers")).env,
    );
    expect(response.status).toBe(101);
    const ws = response.webSocket!;
    const messages: { leader: { candidate: string } | null; term: number }[] = [];
    const second = new Promise<void>((resolve) => {
      ws.addEventListener("message", (event) => {
        messages.push(JSON.parse(event.data as string));
        if (messages.length === 2) {
          resolve();
        }
      });
    });
    ws.accept();
    await h.post("/v1/elections/db/resign", { candidate: "alpha" }, node);
    await second;
    expect(messages.map((m) => m.leader?.candidate)).toEqual(["alpha", "beta"]);
    expect(messages[1]!.term).toBeGreaterThan(messages[0]!.term);
    ws.close();
  });

  it("streams Server-Sent Events without an upgrade", async () => {
    const { h, node } = await setup();
    await h.post("/v1/elections/db/campaign", { candidate: "alpha", ttlMs: 10_000 }, node);
    const controller = new AbortController();
    const response = await h.app.request(
      "http://meridian.test/v1/elections/db/observe",
      { headers: { authorization: `Bearer ${node}` }, signal: controller.signal },
      (await import("cloudflare:workers")).env,
    );
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    const reader = response.body!.getReader();
    const { value } = await reader.read();
    const text = new TextDecoder().decode(value);
    expect(text).toContain("event: leader");
    expect(text).toContain('"candidate":"alpha"');
    await reader.cancel();
  });

  it("refuses more than the candidate limit per election", async () => {
    const { h, node } = await setup();
    await h.inside(async (s) => {
      for (let i = 0; i < 1000; i++) {
        s.elections.apply("big", { kind: "campaign", candidate: `c${i}`, ttlMs: 60_000 }, s.gate.now());
      }
    });
    const over = await h.post("/v1/elections/big/campaign", { candidate: "one-more", ttlMs: 60_000 }, node);
    expect(over.status).toBe(409);
    expect(over.body.error.reason).toBe("too_many_candidates");
    const renew = await h.post("/v1/elections/big/campaign", { candidate: "c5", ttlMs: 60_000 }, node);
    expect(renew.status).toBe(200);
  });

  describe("a candidate that is no node belongs to the token that first campaigned it", () => {
    const campaign = (h: Awaited<ReturnType<typeof harness>>, token: string, ttlMs = 10_000) =>
      h.post("/v1/elections/jobs/campaign", { candidate: "job-x", ttlMs }, token);
    const resign = (h: Awaited<ReturnType<typeof harness>>, token: string) =>
      h.post("/v1/elections/jobs/resign", { candidate: "job-x" }, token);
    const stored = (h: Awaited<ReturnType<typeof harness>>) =>
      runInDurableObject(h.stub, (_, state) =>
        state.storage.sql.exec("SELECT candidate, owner, joined_at, expires_at FROM candidates").toArray(),
      );

    it("another token's renewal and resignation are 403 and change nothing; its owner's work", async () => {
      const { h, node: a } = await setup();
      const b = await h.token("node");
      const first = await campaign(h, a);
      expect(first.body).toMatchObject({ isLeader: true, leader: { candidate: "job-x" } });
      const before = await stored(h);
      h.now += 1_000;
      for (const reply of [await campaign(h, b, 60_000), await resign(h, b)]) {
        expect([reply.status, reply.body.error.code]).toEqual([403, "forbidden"]);
        expect(reply.body.error.message).toBe("candidate job-x belongs to another token");
      }
      expect(await stored(h)).toEqual(before);
      const view = (await h.get("/v1/elections/jobs")).body;
      expect([view.term, view.leader.candidate, view.leader.expiresAt]).toEqual([
        first.body.leader.term,
        "job-x",
        first.body.leader.expiresAt,
      ]);
      // Its owner renews (the same leadership) and resigns.
      const renewed = await campaign(h, a);
      expect(renewed.body.leader).toMatchObject({ term: first.body.leader.term, expiresAt: h.now + 10_000 });
      expect((await resign(h, a)).body).toEqual({ resigned: true });
      expect((await h.get("/v1/elections/jobs")).body.leader).toBeNull();
      // Gone, it is anyone's again: b campaigns it, with a higher term, and now owns it.
      const taken = await campaign(h, b);
      expect(taken.body.leader.term).toBeGreaterThan(first.body.leader.term);
      expect((await resign(h, a)).status).toBe(403);
    });

    it("an admin of the tenant may resign it; a lapsed candidacy is anyone's", async () => {
      const { h, node: a } = await setup();
      const b = await h.token("node");
      await campaign(h, a);
      const admin = (await h.post("/v1/tokens", { role: "admin", tenant: "default" })).body.token as string;
      expect((await resign(h, admin)).status).toBe(200);
      expect((await h.get("/v1/elections/jobs")).body.leader).toBeNull();
      await campaign(h, a, 5_000);
      h.now += 5_000; // a's ttl has run out: b may take the name
      const taken = await campaign(h, b);
      expect(taken.status).toBe(200);
      expect(taken.body).toMatchObject({ isLeader: true, leader: { candidate: "job-x" } });
      expect((await campaign(h, a)).status).toBe(403);
    });

    it("a candidacy from before owners were kept (no owner) is claimed by the token that renews it", async () => {
      const { h, node: a } = await setup();
      const b = await h.token("node");
      await campaign(h, a);
      await runInDurableObject(h.stub, (_, state) =>
        state.storage.sql.exec("UPDATE candidates SET owner = NULL"),
      );
      expect((await campaign(h, b)).status).toBe(200); // as before v10: any token of the tenant
      expect((await campaign(h, a)).status).toBe(403);
      expect((await resign(h, b)).status).toBe(200);
    });

    it("a node's candidacy stays its token's, as before", async () => {
      const { h, node: a } = await setup();
      const b = await h.token("node");
      await h.region("eu-west", 53.3, -6.2);
      const id = await h.node(a, "eu-west");
      expect((await h.post("/v1/elections/jobs/campaign", { candidate: id, ttlMs: 10_000 }, a)).status).toBe(
        200,
      );
      const other = await h.post("/v1/elections/jobs/resign", { candidate: id }, b);
      expect([other.status, other.body.error.code]).toEqual([403, "forbidden"]);
      expect((await h.post("/v1/elections/jobs/resign", { candidate: id }, a)).status).toBe(200);
    });
  });
});
