import { evictDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { CHANNEL_MAX_STRIKES } from "../../durable-objects/region-shard/channels";
import { openChannel, type TestChannel } from "./channel-client";
import { harness } from "./harness";

async function setup() {
  const h = await harness();
  await h.region("eu-west", 53.35, -6.26);
  const node = await h.token("node");
  const client = await h.token("client");
  const nodeId = await h.node(node, "eu-west", 2);
  return { h, node, client, nodeId };
}

describe("the node channel", () => {
  it("welcomes the node, pushes work as credit allows, never past capacity, and takes batched outcomes", async () => {
    const { h, node, client, nodeId } = await setup();
    const { status, channel } = await openChannel(h, nodeId, node);
    expect(status).toBe(101);
    const ch = channel!;
    expect(await ch.next()).toEqual({
      op: "welcome",
      nodeId,
      region: "eu-west",
      heartbeatIntervalMs: 2000,
      graceMs: 1000,
      resumed: false,
    });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await h.submit({ type: "x", payload: i }, client)).body.id);
    }
    // Credit 5 is capped at the capacity (2): two tasks come, the third waits.
    const pushed = await ch.ask({ op: "credit", n: 5 });
    expect(pushed.op).toBe("tasks");
    expect(pushed.tasks.map((t: { id: string }) => t.id)).toEqual(ids.slice(0, 2));
    const reported = await ch.ask({
      op: "report",
      ref: "r1",
      reports: pushed.tasks.map((t: { id: string; leaseToken: string }) => ({
        id: t.id,
        leaseToken: t.leaseToken,
        outcome: "succeeded",
        result: "ok",
      })),
    });
    expect(reported).toEqual({
      op: "reported",
      ref: "r1",
      results: ids.slice(0, 2).map((id) => ({ id, ok: true, status: "succeeded" })),
    });
    expect((await h.get(`/v1/tasks/${ids[0]}`, client)).body).toMatchObject({
      status: "succeeded",
      result: "ok",
    });
    // Fresh credit: the waiting task is pushed at once, and a new one as soon as it is submitted.
    expect((await ch.ask({ op: "credit", n: 2 })).tasks.map((t: { id: string }) => t.id)).toEqual([ids[2]]);
    const late = (await h.submit({ type: "x" }, client)).body.id;
    expect((await ch.next()).tasks.map((t: { id: string }) => t.id)).toEqual([late]);
    // A ping is answered (by the runtime itself where it can, without waking the shard).
    expect(await ch.ask('{"op":"ping"}')).toEqual({ op: "pong" });
    expect(await ch.ask({ op: "ping" })).toEqual({ op: "pong" });
    // A stale lease token is refused item by item.
    const refused = await ch.ask({
      op: "report",
      ref: "r2",
      reports: [{ id: late, leaseToken: "l-forged", outcome: "succeeded" }],
    });
    expect(refused.results[0]).toMatchObject({
      id: late,
      ok: false,
      error: { code: "conflict", reason: "lease_lost" },
    });
    ch.ws.close(1000, "test done");
  });

  it("a node that went suspect with credit left is pushed the work queued meanwhile on its next frame", async () => {
    const { h, node, client, nodeId } = await setup();
    const ch = (await openChannel(h, nodeId, node)).channel!;
    await ch.next();
    ch.send({ op: "credit", n: 2 });
    // With a space, not the runtime's auto-response: the shard answers it after the credit.
    expect(await ch.ask('{"op": "ping"}')).toEqual({ op: "pong" });
    const idle = await h.node(node, "eu-west", 1); // an HTTP node that keeps the region healthy
    await h.advance(4_001); // two heartbeat intervals of silence: suspect, not dead
    await h.post(`/v1/nodes/${idle}/heartbeat`, {}, node);
    const { id } = (await h.submit({ type: "x", region: "eu-west" }, client)).body;
    expect((await h.get(`/v1/tasks/${id}`, client)).body.status).toBe("queued"); // skipped: suspect
    ch.send({ op: "heartbeat" });
    const pushed = await ch.next();
    expect(pushed.op).toBe("tasks");
    expect(pushed.tasks.map((t: { id: string }) => t.id)).toEqual([id]);
    ch.ws.close(1000, "test done");
  });

  it("refuses a token that does not own the node (403), a dead node (409), and a plain GET (400)", async () => {
    const { h, node, nodeId } = await setup();
    const other = await h.token("node");
    expect((await openChannel(h, nodeId, other)).status).toBe(403);
    expect((await h.get(`/v1/nodes/${nodeId}/channel`, node)).status).toBe(400);
    await h.advance(10_001);
    const dead = await openChannel(h, nodeId, node);
    expect(dead.status).toBe(409);
    expect(JSON.parse(dead.body).error.reason).toBe("node_dead");
  });

  it("answers malformed, unknown and oversized frames with error frames, and closes with 1008 on repeated abuse", async () => {
    const { h, node, nodeId } = await setup();
    const ch = (await openChannel(h, nodeId, node)).channel!;
    await ch.next(); // welcome
    const before = await h.shardSql("eu-west", "SELECT * FROM tasks");
    expect((await ch.ask("{not json")).error.code).toBe("invalid_request");
    expect(await ch.ask({ op: "launch", ref: "x1" })).toMatchObject({ op: "error", ref: "x1" });
    expect((await ch.ask({ op: "credit", n: -1 })).op).toBe("error");
    expect((await ch.ask("x".repeat(300_000))).op).toBe("error");
    for (let i = 4; i < CHANNEL_MAX_STRIKES; i++) {
      await ch.ask({ op: "nope" });
    }
    expect(await ch.next()).toMatchObject({ op: "closed", code: 1008 });
    expect(await h.shardSql("eu-west", "SELECT * FROM tasks")).toEqual(before);
  });

  it("a closed channel keeps the node's leases through the grace period; a reconnect resumes them", async () => {
    const { h, node, client, nodeId } = await setup();
    const first = (await openChannel(h, nodeId, node)).channel!;
    await first.next();
    const { id } = (await h.submit({ type: "x" }, client)).body;
    const [task] = (await first.ask({ op: "credit", n: 1 })).tasks;
    first.ws.close(1001, "going away");
    expect(await first.next()).toMatchObject({ op: "closed" }); // the shard has seen it close
    expect(await h.shardSql("eu-west", "SELECT channel_closed_at AS at FROM nodes")).toEqual([{ at: h.now }]);
    await h.advance(900); // within the grace period (CHANNEL_GRACE_MS, 1 s)
    const second = (await openChannel(h, nodeId, node)).channel!;
    expect(await second.next()).toMatchObject({ op: "welcome", resumed: true });
    expect(await h.shardSql("eu-west", "SELECT channel_closed_at AS at FROM nodes")).toEqual([{ at: null }]);
    const reported = await second.ask({
      op: "report",
      ref: "r",
      reports: [{ id, leaseToken: task.leaseToken, outcome: "succeeded" }],
    });
    expect(reported.results[0]).toMatchObject({ ok: true, status: "succeeded" });
  });

  it("after the grace period the node is dead at once: its leases go back to the queue, its leadership ends", async () => {
    const { h, node, client, nodeId } = await setup();
    const ch = (await openChannel(h, nodeId, node)).channel!;
    await ch.next();
    const { id } = (await h.submit({ type: "x" }, client)).body;
    await ch.ask({ op: "credit", n: 1 });
    const term = (await h.post("/v1/elections/db/campaign", { candidate: nodeId, ttlMs: 300_000 }, node)).body
      .leader.term;
    ch.ws.close(1001, "the process went away");
    await ch.next(); // the close reaches the shard
    await h.advance(1_000); // the grace period, not NODE_DEAD_AFTER_MS (10 s)
    expect(await h.alarm("eu-west")).toBe(true);
    expect((await h.get(`/v1/tasks/${id}`, client)).body).toMatchObject({
      status: "scheduled",
      attempts: 1,
      nodeId: null,
    });
    const election = (await h.get("/v1/elections/db")).body;
    expect(election.leader).toBeNull();
    expect(election.term).toBeGreaterThanOrEqual(term);
    expect((await openChannel(h, nodeId, node)).status).toBe(409);
  });

  it("a drain stops the pushes, and the shard closes the channel with 1000 once the node holds nothing", async () => {
    const { h, node, client, nodeId } = await setup();
    const ch = (await openChannel(h, nodeId, node)).channel!;
    await ch.next();
    const { id } = (await h.submit({ type: "x" }, client)).body;
    const [task] = (await ch.ask({ op: "credit", n: 2 })).tasks;
    ch.send({ op: "drain" });
    await h.submit({ type: "y" }, client); // not pushed: the node drains
    const reported = await ch.ask({
      op: "report",
      ref: "r",
      reports: [{ id, leaseToken: task.leaseToken, outcome: "succeeded" }],
    });
    expect(reported.op).toBe("reported");
    expect(await ch.next()).toMatchObject({ op: "closed", code: 1000 });
    expect((await h.get("/v1/nodes")).body.nodes[0].status).toBe("draining");
  });

  it("survives the shard's eviction with the socket open: the next frame is served from the attachment and storage", async () => {
    const { h, node, client, nodeId } = await setup();
    const ch = (await openChannel(h, nodeId, node)).channel!;
    await ch.next();
    await h.submit({ type: "x" }, client);
    const [task] = (await ch.ask({ op: "credit", n: 2 })).tasks;
    await evictDurableObject(h.shard("eu-west"));
    await h.startShard("eu-west");
    const reported = await ch.ask({
      op: "report",
      ref: "after",
      reports: [{ id: task.id, leaseToken: task.leaseToken, outcome: "succeeded" }],
    });
    expect(reported).toMatchObject({
      op: "reported",
      ref: "after",
      results: [{ ok: true, status: "succeeded" }],
    });
    // Its remaining credit (1) came back from the attachment: new work is still pushed.
    const next = (await h.submit({ type: "y" }, client)).body.id;
    expect((await ch.next()).tasks.map((t: { id: string }) => t.id)).toEqual([next]);
  });

  it("campaigns over the channel for the node's session: leader frames on every change, and the next node leads when the session ends", async () => {
    const { h, node, nodeId } = await setup();
    const second = await h.node(node, "eu-west", 2);
    const a = (await openChannel(h, nodeId, node)).channel!;
    const b = (await openChannel(h, second, node)).channel!;
    await a.next();
    await b.next();
    const first = await a.ask({ op: "campaign", ref: "c1", election: "db" });
    expect(first).toMatchObject({
      op: "leader",
      ref: "c1",
      election: "db",
      leader: nodeId,
      isLeader: true,
      position: 0,
    });
    await h.advance(1);
    expect(await b.ask({ op: "campaign", ref: "c2", election: "db" })).toMatchObject({
      ref: "c2",
      leader: nodeId,
      isLeader: false,
      position: 1,
    });
    // No ttl to renew: past the longest ttl a campaign may ask for (300 s), the leader still leads.
    // (A report of an unknown task is a round trip: the heartbeat before it has been handled.)
    const beat = async (ch: TestChannel) => {
      ch.send({ op: "heartbeat" });
      await ch.ask({
        op: "report",
        ref: "sync",
        reports: [{ id: "t-sync", leaseToken: "l", outcome: "succeeded" }],
      });
    };
    for (let t = 0; t < 306_000; t += 9_000) {
      await h.advance(9_000); // within NODE_DEAD_AFTER_MS (10 s) of the last beat
      await beat(a);
      await beat(b);
    }
    expect((await h.get("/v1/elections/db")).body.leader).toMatchObject({
      candidate: nodeId,
      term: first.term,
    });
    // a's session ends (closed, grace over): b is pushed the new leadership, with a higher term.
    a.ws.close(1001, "gone");
    await a.next();
    await h.advance(2_000);
    await h.post(`/v1/nodes/${second}/heartbeat`, {}, node);
    expect(await h.alarm("eu-west")).toBe(true);
    const pushed = await b.next();
    expect(pushed).toMatchObject({
      op: "leader",
      election: "db",
      leader: second,
      isLeader: true,
      position: 0,
    });
    expect(pushed.ref).toBeUndefined();
    expect(pushed.term).toBeGreaterThan(first.term);
    // Resigning: the reply, and the change pushed to every follower (b too), in either order.
    const frames = [await b.ask({ op: "resign", ref: "r", election: "db" }), await b.next()];
    const byOp = Object.fromEntries(frames.map((f) => [f.op, f]));
    expect(byOp.resigned).toEqual({ op: "resigned", ref: "r" });
    expect(byOp.leader).toMatchObject({ election: "db", leader: null, isLeader: false, position: null });
  }, 60_000);
});
