import { describe, expect, it } from "vitest";
import { harness } from "./harness";

describe("lease expiry", () => {
  it("expires a lease into a retry with back-off, and fails the task after maxAttempts", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    await h.startShard("eu-west", { random: () => 0.5 }); // fixed jitter: delays are 0.75 × the cap
    const node = await h.token("node");
    const nodeId = await h.node(node, "eu-west");
    const { id } = (await h.submit({ type: "x", timeoutMs: 1000, maxAttempts: 3 })).body;

    const expectedDelays = [750, 1500]; // 1 s then 2 s caps, equal jitter at 0.5
    for (let attempt = 1; attempt <= 3; attempt++) {
      const [task] = await h.poll(nodeId, node);
      expect(task).toMatchObject({ id, attempt });
      await h.advance(1000); // the lease runs out
      expect(await h.alarm("eu-west")).toBe(true);
      const stored = (await h.get(`/v1/tasks/${id}`)).body;
      expect(stored.lastError).toBe("lease expired");
      expect(stored.attempts).toBe(attempt);
      if (attempt < 3) {
        expect(stored.status).toBe("scheduled");
        expect(stored.runAt).toBe(h.now + expectedDelays[attempt - 1]!);
        await h.advance(expectedDelays[attempt - 1]!);
      } else {
        expect(stored.status).toBe("failed");
      }
    }
    // The late holder's complete is refused and changes nothing.
    const [region] = (await h.get("/v1/regions")).body.regions;
    expect(region).toMatchObject({ inFlight: 0, queued: 0 });
  });

  it("refuses a lease past its expiry even before the alarm has run", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const node = await h.token("node");
    const nodeId = await h.node(node, "eu-west");
    const { id } = (await h.submit({ type: "x", timeoutMs: 1000 })).body;
    const [task] = await h.poll(nodeId, node);
    await h.advance(1000);
    const late = await h.post(`/v1/tasks/${id}/complete`, { leaseToken: task.leaseToken }, node);
    expect(late.status).toBe(409);
    expect(late.body.error.reason).toBe("lease_lost");
    await h.alarm("eu-west");
    expect((await h.get(`/v1/tasks/${id}`)).body.status).toBe("scheduled");
  });

  it("keeps handling due rows when one of them is broken, and quarantines the broken one", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const node = await h.token("node");
    const nodeId = await h.node(node, "eu-west");
    for (let i = 0; i < 2; i++) {
      await h.submit({ type: "x", timeoutMs: 1000 });
    }
    const leased = await h.poll(nodeId, node, 2);
    // Corrupt the first task's payload: reading that row now throws.
    await h.shardSql("eu-west", "UPDATE tasks SET payload = '{broken' WHERE id = ?", leased[0].id);
    await h.advance(1000);
    await h.post(`/v1/nodes/${nodeId}/heartbeat`, {}, node);
    await h.alarm("eu-west");
    // The good row went on to its retry; the broken one was taken out of circulation as failed.
    expect((await h.get(`/v1/tasks/${leased[1].id}`)).body.status).toBe("scheduled");
    const statuses = await h.insideShard("eu-west", (s) => s.tasks.depth());
    expect(statuses).toMatchObject({ scheduled: 1, failed: 1, leased: 0 });
    expect(await h.alarm("eu-west")).toBe(true); // the next alarm is the retry, not the broken row again
  });
});
