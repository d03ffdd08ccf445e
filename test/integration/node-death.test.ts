import { describe, expect, it } from "vitest";
import { harness } from "./harness";

describe("node death", () => {
  it("puts a dead node's tasks back in the queue and passes its leadership on with a higher term", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const tokenA = await h.token("node");
    const tokenB = await h.token("node");
    const a = await h.node(tokenA, "eu-west");
    const b = await h.node(tokenB, "eu-west");

    const ttlMs = 60_000; // longer than the node deadline: the leadership must end with the node
    const leaderA = await h.post("/v1/elections/eu-west.leader/campaign", { candidate: a, ttlMs }, tokenA);
    expect(leaderA.body).toMatchObject({ isLeader: true, position: 0 });
    const firstTerm = leaderA.body.leader.term as number;
    expect(firstTerm).toBeGreaterThanOrEqual(h.now);
    h.now += 1;
    const followerB = await h.post("/v1/elections/eu-west.leader/campaign", { candidate: b, ttlMs }, tokenB);
    expect(followerB.body).toMatchObject({ isLeader: false, position: 1, leader: { candidate: a } });

    const { id } = (await h.submit({ type: "x", maxAttempts: 3 })).body;
    const [held] = await h.poll(a, tokenA);
    expect(held.id).toBe(id);

    // a goes silent; b keeps heartbeating.
    for (let t = 0; t < 10_000; t += 2_000) {
      await h.advance(2_000);
      await h.post(`/v1/nodes/${b}/heartbeat`, {}, tokenB);
    }
    expect(await h.alarm("eu-west")).toBe(true);

    const task = (await h.get(`/v1/tasks/${id}`)).body;
    expect(task).toMatchObject({ status: "scheduled", attempts: 1, nodeId: null });
    expect(task.lastError).toMatch(/heartbeat/);
    const election = (await h.get("/v1/elections/eu-west.leader")).body;
    expect(election.leader.candidate).toBe(b);
    expect(election.term).toBeGreaterThan(firstTerm);
    expect(election.term).toBeGreaterThanOrEqual(h.now);
    expect(election.candidates.map((c: { candidate: string }) => c.candidate)).toEqual([b]);

    // The task runs again on b once its back-off is over.
    await h.advance(1_000);
    const [again] = await h.poll(b, tokenB);
    expect(again).toMatchObject({ id, attempt: 2 });
    // The dead node's stale lease is refused.
    const stale = await h.post(`/v1/tasks/${id}/complete`, { leaseToken: held.leaseToken }, tokenA);
    expect(stale.status).toBe(409);
    expect((await h.post(`/v1/nodes/${a}/poll`, {}, tokenA)).body.error.reason).toBe("node_dead");
  });

  it("deregistration returns held work to the queue at once and leaves elections", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const token = await h.token("node");
    const a = await h.node(token, "eu-west");
    await h.post("/v1/elections/jobs/campaign", { candidate: a, ttlMs: 30_000 }, token);
    const { id } = (await h.submit({ type: "x" })).body;
    await h.poll(a, token);
    expect((await h.delete(`/v1/nodes/${a}`, token)).status).toBe(204);
    expect((await h.get(`/v1/tasks/${id}`)).body).toMatchObject({
      status: "scheduled",
      lastError: "node deregistered",
    });
    expect((await h.get("/v1/elections/jobs")).body).toMatchObject({ leader: null, candidates: [] });
    // Its id may not campaign again, not even as a name of no node (ids are never reused).
    const again = await h.post("/v1/elections/jobs/campaign", { candidate: a, ttlMs: 30_000 }, token);
    expect(again.status).toBe(409);
    expect(again.body.error.reason).toBe("node_dead");
  });
});
