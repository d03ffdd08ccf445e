import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Coordinator } from "../../durable-objects/coordinator";
import { emptyStats, simulate } from "../lib/sim-driver";
import { type Harness, harness } from "./harness";

/** Until the node's long poll has reached the coordinator (a bounded number of round trips, no sleeping). */
async function untilWaiting(h: Harness, nodeId: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await h.inside((s) => s.fleet.waiting.has(nodeId))) {
      return;
    }
  }
  throw new Error(`${nodeId} never started waiting`);
}

/**
 * The bugs the simulation found, each as the plain HTTP scenario it boils down to, plus the seeds
 * that found them (they replay with the simulation's current generator, 60 steps a run).
 */
describe("bugs found by the simulation", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("a candidate that lapsed and joins again queues behind those who stayed (seed 27)", async () => {
    const h = await harness();
    const node = await h.token("node");
    await h.post("/v1/elections/db/campaign", { candidate: "alpha", ttlMs: 1000 }, node);
    h.now += 10;
    await h.post("/v1/elections/db/campaign", { candidate: "beta", ttlMs: 60_000 }, node);
    h.now += 2000; // alpha's registration has lapsed (nothing has read the election since)
    const again = await h.post("/v1/elections/db/campaign", { candidate: "alpha", ttlMs: 60_000 }, node);
    expect(again.body).toMatchObject({ isLeader: false, position: 1, leader: { candidate: "beta" } });
    // Before the fix the stored row kept alpha's first joinedAt, so the next read made it leader again.
    const view = (await h.get("/v1/elections/db")).body;
    expect(view.leader).toMatchObject({ candidate: "beta", term: again.body.leader.term });
    expect(view.candidates.map((c: { candidate: string }) => c.candidate)).toEqual(["beta", "alpha"]);
  });

  it("a node waiting in a long poll gets queued work as soon as it frees a slot (seed 37)", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const node = await h.token("node");
    const client = await h.token("client");
    const nodeId = await h.node(node, "eu-west", 1);
    await h.submit({ type: "first" }, client);
    const [held] = await h.poll(nodeId, node);
    const waiting = h.post(`/v1/nodes/${nodeId}/poll`, { waitMs: 25_000 }, node); // full: it waits
    await untilWaiting(h, nodeId);
    const next = (await h.submit({ type: "second" }, client)).body.id;
    expect(
      (await h.post(`/v1/tasks/${held.id}/complete`, { leaseToken: held.leaseToken }, node)).status,
    ).toBe(200);
    // Before the fix the waiting node kept its "full" rank and nothing woke it: it sat idle for 25 s.
    const after = await h.inside((s) => ({ waiting: s.fleet.waiting.has(nodeId), task: s.tasks.get(next) }));
    expect(after).toMatchObject({ waiting: false, task: { status: "leased", nodeId } });
    expect((await waiting).body.tasks.map((t: { id: string }) => t.id)).toEqual([next]);
  });

  it("a long poll that replaces an earlier one is not cut off by the earlier one's timer (seed 109)", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const node = await h.token("node");
    const client = await h.token("client");
    const nodeId = await h.node(node, "eu-west", 1);
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const first = h.post(`/v1/nodes/${nodeId}/poll`, { waitMs: 5000 }, node);
    await untilWaiting(h, nodeId);
    const second = h.post(`/v1/nodes/${nodeId}/poll`, { waitMs: 20_000 }, node);
    expect((await first).body).toEqual({ tasks: [] }); // replaced: answered at once
    vi.advanceTimersByTime(6000); // the first poll's timer would have fired here
    // Before the fix the old timer removed the second poll from the waiters, and it never answered.
    expect(await h.inside((s) => s.fleet.waiting.has(nodeId))).toBe(true);
    const id = (await h.submit({ type: "x" }, client)).body.id;
    expect((await second).body.tasks.map((t: { id: string }) => t.id)).toEqual([id]);
  });

  it("a waiting node that was suspect gets queued work as soon as it beats again (seed 126)", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const node = await h.token("node");
    const client = await h.token("client");
    const waiter = await h.node(node, "eu-west", 1);
    const other = await h.node(node, "eu-west", 1);
    const waiting = h.post(`/v1/nodes/${waiter}/poll`, { waitMs: 25_000 }, node);
    await untilWaiting(h, waiter);
    h.now += 5000; // silent for over two intervals: suspect, skipped by dispatch
    await h.post(`/v1/nodes/${other}/heartbeat`, {}, node);
    const id = (await h.submit({ type: "x", region: "eu-west" }, client)).body.id;
    expect(await h.inside((s) => s.tasks.get(id)?.status)).toBe("queued");
    await h.post(`/v1/nodes/${waiter}/heartbeat`, {}, node);
    // Before the fix it sat in its poll, healthy again, while the task waited in the queue.
    expect(await h.inside((s) => s.tasks.get(id)?.nodeId)).toBe(waiter);
    expect((await waiting).body.tasks.map((t: { id: string }) => t.id)).toEqual([id]);
  });

  it("replays the seeds that found them", async () => {
    const stats = emptyStats();
    const stub = env.COORDINATOR.get(env.COORDINATOR.idFromName(crypto.randomUUID()));
    await runInDurableObject(stub, async (_: Coordinator, ctx) => {
      for (const seed of [27, 37, 109, 126]) {
        await simulate(ctx, env, seed, 60, stats);
      }
    });
    expect(stats.runs).toBe(4);
  });
});
