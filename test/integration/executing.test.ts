import { describe, expect, it, vi } from "vitest";
import { harness } from "./harness";

async function setup(capacity = 10) {
  const h = await harness();
  await h.region("eu-west", 53.35, -6.26);
  const node = await h.token("node");
  const client = await h.token("client");
  const nodeId = await h.node(node, "eu-west", capacity);
  return { h, node, client, nodeId };
}

describe("executing tasks", () => {
  it("never hands a node more than its free capacity", async () => {
    const { h, node, client, nodeId } = await setup(3);
    for (let i = 0; i < 5; i++) {
      await h.submit({ type: "x" }, client);
    }
    expect(await h.poll(nodeId, node, 2)).toHaveLength(2);
    expect(await h.poll(nodeId, node, 100)).toHaveLength(1);
    expect(await h.poll(nodeId, node, 100)).toHaveLength(0);
    const [region] = (await h.get("/v1/regions")).body.regions;
    expect(region).toMatchObject({ inFlight: 3, queued: 2 });
  });

  it("hands out the highest priority first, oldest first within a priority", async () => {
    const { h, node, client, nodeId } = await setup();
    const low = (await h.submit({ type: "x", priority: 1 }, client)).body.id;
    const high1 = (await h.submit({ type: "x", priority: 9 }, client)).body.id;
    const mid = (await h.submit({ type: "x", priority: 5 }, client)).body.id;
    const high2 = (await h.submit({ type: "x", priority: 9 }, client)).body.id;
    const order = (await h.poll(nodeId, node, 4)).map((t) => t.id);
    expect(order).toEqual([high1, high2, mid, low]);
  });

  it("holds a delayed task until its time, then runs it", async () => {
    const { h, node, client, nodeId } = await setup();
    const delayed = await h.submit({ type: "x", delayMs: 60_000 }, client);
    expect(delayed.body.status).toBe("scheduled");
    expect(delayed.body.runAt).toBe(h.now + 60_000);
    const at = await h.submit({ type: "x", runAt: h.now + 5_000 }, client);
    expect(at.body.status).toBe("scheduled");
    expect(await h.poll(nodeId, node, 10)).toEqual([]);
    await h.advance(5_000);
    await h.alarm("eu-west");
    expect((await h.get(`/v1/tasks/${at.body.id}`)).body.status).toBe("queued");
    expect((await h.poll(nodeId, node, 10)).map((t) => t.id)).toEqual([at.body.id]);
    for (let waited = 0; waited < 55_000; waited += 5_000) {
      await h.advance(5_000);
      await h.post(`/v1/nodes/${nodeId}/heartbeat`, {}, node); // stay alive while time passes
    }
    expect((await h.poll(nodeId, node, 10)).map((t) => t.id)).toEqual([delayed.body.id]);
  });

  it("completes under the lease; a repeat is 409 already_terminal, a forged token 409 lease_lost", async () => {
    const { h, node, client, nodeId } = await setup();
    const { id } = (await h.submit({ type: "x", payload: { n: 2 } }, client)).body;
    const [task] = await h.poll(nodeId, node);
    expect(task).toMatchObject({
      id,
      type: "x",
      payload: { n: 2 },
      attempt: 1,
      leaseExpiresAt: h.now + 30_000,
    });
    const forged = await h.post(`/v1/tasks/${id}/complete`, { leaseToken: "l-forged" }, node);
    expect(forged.status).toBe(409);
    expect(forged.body.error.reason).toBe("lease_lost");
    const done = await h.post(
      `/v1/tasks/${id}/complete`,
      { leaseToken: task.leaseToken, result: { ok: 1 } },
      node,
    );
    expect(done.body).toEqual({ status: "succeeded" });
    const repeat = await h.post(`/v1/tasks/${id}/complete`, { leaseToken: task.leaseToken }, node);
    expect(repeat.status).toBe(409);
    expect(repeat.body.error.reason).toBe("already_terminal");
    const stored = (await h.get(`/v1/tasks/${id}`)).body;
    expect(stored).toMatchObject({ status: "succeeded", result: { ok: 1 }, attempts: 1, nodeId });
    expect((await h.post("/v1/tasks/t-unknown/complete", { leaseToken: "x" }, node)).status).toBe(404);
  });

  it("retries a failed attempt after a back-off, and fails for good when not retryable", async () => {
    const { h, node, client, nodeId } = await setup();
    const { id } = (await h.submit({ type: "x", maxAttempts: 3 }, client)).body;
    const [first] = await h.poll(nodeId, node);
    const failed = await h.post(
      `/v1/tasks/${id}/fail`,
      { leaseToken: first.leaseToken, error: "boom" },
      node,
    );
    expect(failed.body.status).toBe("scheduled");
    expect(failed.body.runAt).toBeGreaterThanOrEqual(h.now + 500);
    expect(failed.body.runAt).toBeLessThanOrEqual(h.now + 1000);
    await h.advance(1000);
    const [second] = await h.poll(nodeId, node);
    expect(second).toMatchObject({ id, attempt: 2 });
    const final = await h.post(
      `/v1/tasks/${id}/fail`,
      { leaseToken: second.leaseToken, error: "bad input", retryable: false },
      node,
    );
    expect(final.body).toEqual({ status: "failed" });
    expect((await h.get(`/v1/tasks/${id}`)).body).toMatchObject({
      status: "failed",
      lastError: "bad input",
      attempts: 2,
    });
  });

  it("extends a lease so it outlives its timeout", async () => {
    const { h, node, client, nodeId } = await setup();
    const { id } = (await h.submit({ type: "x", timeoutMs: 10_000 }, client)).body;
    const [task] = await h.poll(nodeId, node);
    await h.advance(8_000);
    await h.post(`/v1/nodes/${nodeId}/heartbeat`, {}, node);
    const extended = await h.post(
      `/v1/tasks/${id}/extend`,
      { leaseToken: task.leaseToken, extendMs: 10_000 },
      node,
    );
    expect(extended.body).toEqual({ leaseExpiresAt: h.now + 10_000 });
    await h.advance(5_000); // past the first expiry, within the extension
    await h.post(`/v1/nodes/${nodeId}/heartbeat`, {}, node);
    await h.alarm("eu-west");
    expect((await h.get(`/v1/tasks/${id}`)).body.status).toBe("leased");
    const done = await h.post(`/v1/tasks/${id}/complete`, { leaseToken: task.leaseToken }, node);
    expect(done.status).toBe(200);
  });

  it("reports many outcomes in one call, each alone", async () => {
    const { h, node, client, nodeId } = await setup();
    for (let i = 0; i < 3; i++) {
      await h.submit({ type: "x" }, client);
    }
    const [a, b, c] = await h.poll(nodeId, node, 3);
    const reply = await h.post(
      `/v1/nodes/${nodeId}/report`,
      {
        reports: [
          { id: a.id, leaseToken: a.leaseToken, outcome: "succeeded", result: 1 },
          { id: b.id, leaseToken: b.leaseToken, outcome: "failed", error: "nope", retryable: false },
          { id: c.id, leaseToken: "l-stale", outcome: "succeeded" },
          { id: a.id, leaseToken: a.leaseToken, outcome: "succeeded" },
        ],
      },
      node,
    );
    expect(reply.status).toBe(200);
    expect(reply.body.results).toEqual([
      { id: a.id, status: "succeeded" },
      { id: b.id, status: "failed" },
      { id: c.id, error: expect.objectContaining({ code: "conflict", reason: "lease_lost" }) },
      { id: a.id, error: expect.objectContaining({ code: "conflict", reason: "already_terminal" }) },
    ]);
    expect((await h.get(`/v1/tasks/${c.id}`)).body.status).toBe("leased");
  });

  it("answers a long poll as soon as work arrives", async () => {
    const { h, node, client, nodeId } = await setup();
    const waiting = h.post(`/v1/nodes/${nodeId}/poll`, { max: 5, waitMs: 20_000 }, node);
    // Let the poll reach the coordinator before the task does.
    await h.get(`/v1/nodes`);
    const { id } = (await h.submit({ type: "x" }, client)).body;
    const reply = await waiting;
    expect(reply.body.tasks.map((t: { id: string }) => t.id)).toEqual([id]);
  });

  it("gives new work to the least loaded of the waiting nodes", async () => {
    const { h, node, client, nodeId: busy } = await setup(2);
    const idle = await h.node(node, "eu-west", 2);
    await h.submit({ type: "x", region: "eu-west" }, client);
    expect(await h.poll(busy, node)).toHaveLength(1); // busy is now half full
    const busyWait = h.post(`/v1/nodes/${busy}/poll`, { waitMs: 20_000 }, node);
    const idleWait = h.post(`/v1/nodes/${idle}/poll`, { waitMs: 20_000 }, node);
    await h.get("/v1/nodes");
    const { id } = (await h.submit({ type: "x" }, client)).body;
    expect((await idleWait).body.tasks.map((t: { id: string }) => t.id)).toEqual([id]);
    await h.post(`/v1/nodes/${busy}/drain`, {}, node); // ends the other wait
    expect((await busyWait).body.tasks).toEqual([]);
  });

  it("sends a task with an affinity key to its owner while the owner is healthy", async () => {
    const { h, node, client, nodeId: a } = await setup();
    const b = await h.node(node, "eu-west");
    const owner = (await h.get("/v1/owners/user-42?region=eu-west")).body.nodeId as string;
    expect([a, b]).toContain(owner);
    const other = owner === a ? b : a;
    await h.submit({ type: "x", affinityKey: "user-42" }, client);
    expect(await h.poll(other, node)).toEqual([]);
    expect(await h.poll(owner, node)).toHaveLength(1);
  });

  it("keeps each call's own outcome when concurrent calls run as one group (one commit)", async () => {
    const { h, node, client } = await setup(100);
    const nodes = [await h.node(node, "eu-west", 100), await h.node(node, "eu-west", 100)];
    const turns = vi.spyOn(scheduler, "wait"); // one wait per group of calls
    const submitted = await Promise.all(
      Array.from({ length: 30 }, (_, i) => h.submit({ type: "x", payload: i }, client)),
    );
    // The calls came together: they ran in a few groups, not one turn each.
    expect(turns.mock.calls.length).toBeGreaterThan(0);
    expect(turns.mock.calls.length).toBeLessThanOrEqual(20); // 8 when measured
    turns.mockRestore();
    expect(submitted.map((r) => r.status)).toEqual(Array(30).fill(201));
    const ids = submitted.map((r) => r.body.id as string);
    expect(new Set(ids).size).toBe(30);
    // 30 concurrent polls of 1 task from two nodes: every task goes to exactly one of them.
    const polled = await Promise.all(Array.from({ length: 30 }, (_, i) => h.poll(nodes[i % 2]!, node)));
    const leased = polled.flat().map((t) => t.id as string);
    expect(leased.sort()).toEqual([...ids].sort());
    const done = await Promise.all(
      polled.flat().map((t) => h.post(`/v1/tasks/${t.id}/complete`, { leaseToken: t.leaseToken }, node)),
    );
    expect(done.map((r) => r.status)).toEqual(Array(30).fill(200));
    expect((await h.get("/v1/regions")).body.regions[0]).toMatchObject({ inFlight: 0, queued: 0 });
  });

  it("steps over tasks left for their owner, in order, to the work a node may take", async () => {
    const { h, node, client, nodeId: a } = await setup();
    const b = await h.node(node, "eu-west");
    const owner = (await h.get("/v1/owners/user-42?region=eu-west")).body.nodeId as string;
    const other = owner === a ? b : a;
    const owned: string[] = [];
    const free: string[] = [];
    for (let i = 0; i < 3; i++) {
      owned.push((await h.submit({ type: "x", affinityKey: "user-42" }, client)).body.id);
    }
    for (let i = 0; i < 3; i++) {
      free.push((await h.submit({ type: "x" }, client)).body.id);
      owned.push((await h.submit({ type: "x", affinityKey: "user-42" }, client)).body.id);
    }
    // The other node must read past the owned tasks (several reads) to reach the free ones.
    expect((await h.poll(other, node, 2)).map((t) => t.id)).toEqual(free.slice(0, 2));
    expect((await h.poll(other, node, 5)).map((t) => t.id)).toEqual(free.slice(2));
    expect((await h.poll(owner, node, 10)).map((t) => t.id)).toEqual(owned);
  });
});
