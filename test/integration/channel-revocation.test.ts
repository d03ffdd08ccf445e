import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Coordinator } from "../../durable-objects/coordinator";
import { createApp } from "../../src/app";
import { AUTH_CACHE_TTL_MS } from "../../src/http/auth-cache";
import { finishRevocations, openChannel, revocationsLeft, type TestChannel } from "./channel-client";
import { type Harness, harness } from "./harness";

/** A region, a node token (with its id) and its node, a client token. */
async function setup() {
  const h = await harness();
  await h.region("eu-west", 53.35, -6.26);
  const minted = (await h.post("/v1/tokens", { role: "node" })).body;
  const client = await h.token("client");
  const nodeId = await h.node(minted.token, "eu-west", 2);
  return { h, node: minted.token as string, tokenId: minted.id as string, client, nodeId };
}

/** Opens a channel and reads its welcome. */
async function welcomed(h: Harness, nodeId: string, token: string): Promise<TestChannel> {
  const ch = (await openChannel(h, nodeId, token)).channel!;
  expect(await ch.next()).toMatchObject({ op: "welcome" });
  return ch;
}

/** Tasks the shard has leased to a node. */
const leasedTo = (h: Harness, nodeId: string) =>
  h.shardSql("eu-west", "SELECT id FROM tasks WHERE node_id = ? AND status = 'leased'", nodeId);

describe("revoking a token ends its channels", () => {
  it("closes the token's open channel with 1008 at once; its node is dead: leases back to the queue, leadership passed on", async () => {
    const { h, node, tokenId, client, nodeId } = await setup();
    const other = await h.token("node");
    const otherNode = await h.node(other, "eu-west", 2);
    const ch = await welcomed(h, nodeId, node);
    const { id } = (await h.submit({ type: "x" }, client)).body;
    expect((await ch.ask({ op: "credit", n: 2 })).tasks.map((t: { id: string }) => t.id)).toEqual([id]);
    const led = await ch.ask({ op: "campaign", ref: "c", election: "db" });
    expect(led).toMatchObject({ op: "leader", leader: nodeId });
    await h.advance(1);
    await h.post("/v1/elections/db/campaign", { candidate: otherNode, ttlMs: 300_000 }, other);

    expect((await h.delete(`/v1/tokens/${tokenId}`)).status).toBe(204);
    // The revocation has reached the shard by the time the DELETE answers.
    expect(ch.closed).toEqual({ code: 1008, reason: "token revoked" });
    expect((await h.get(`/v1/tasks/${id}`, client)).body).toMatchObject({
      status: "scheduled",
      nodeId: null,
    });
    const election = (await h.get("/v1/elections/db")).body;
    expect(election.leader).toMatchObject({ candidate: otherNode });
    expect(election.term).toBeGreaterThan(led.term);
    // Dead at once, with no grace period: nothing is held for a node that can never come back.
    expect(
      await h.shardSql(
        "eu-west",
        "SELECT dead, channel_closed_at AS closedAt FROM nodes WHERE id = ?",
        nodeId,
      ),
    ).toEqual([{ dead: 1, closedAt: null }]);
    const refused = await openChannel(h, nodeId, node);
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.body).error.code).toBe("unauthorized");
    await h.submit({ type: "y" }, client);
    expect(await leasedTo(h, nodeId)).toEqual([]);
    expect(await finishRevocations(h)).toEqual([]); // the second push finds nothing more to end
    expect(await leasedTo(h, nodeId)).toEqual([]);
  });

  it("closes a channel an admin token opened for another token's node, and leaves that node alive", async () => {
    const { h, node, nodeId } = await setup();
    const admin = (await h.post("/v1/tokens", { role: "admin" })).body;
    const ch = await welcomed(h, nodeId, admin.token);
    expect((await h.delete(`/v1/tokens/${admin.id}`)).status).toBe(204);
    expect(ch.closed?.code).toBe(1008);
    expect((await h.post(`/v1/nodes/${nodeId}/heartbeat`, {}, node)).status).toBe(200);
    const again = await welcomed(h, nodeId, node);
    expect(await again.ask({ op: "ping" })).toEqual({ op: "pong" });
    expect(await finishRevocations(h)).toEqual([]);
    expect(await again.ask({ op: "ping" })).toEqual({ op: "pong" });
  });

  it("a shard the push did not reach is told again by the alarm, until it takes the revocation", async () => {
    const { h, node, tokenId, client, nodeId } = await setup();
    // Every push from the coordinator fails (the shard unreachable) until it is put back.
    const push = await runInDurableObject(h.stub, async (instance: Coordinator) => {
      const real = instance.engine!.deps.push;
      await instance.restartWith({ push: () => Promise.reject(new Error("unreachable")) });
      return real;
    });
    const ch = await welcomed(h, nodeId, node);
    await h.submit({ type: "x" }, client);
    const [task] = (await ch.ask({ op: "credit", n: 1 })).tasks;
    expect((await h.delete(`/v1/tokens/${tokenId}`)).status).toBe(204);
    expect(await ch.ask({ op: "ping" })).toEqual({ op: "pong" }); // not told yet
    await h.advance(AUTH_CACHE_TTL_MS);
    expect(await runDurableObjectAlarm(h.stub)).toBe(true); // fails again: retried later
    expect(ch.closed).toBeNull();
    await runInDurableObject(h.stub, (instance: Coordinator) => instance.restartWith({ push }));
    await h.advance(1000);
    expect(await runDurableObjectAlarm(h.stub)).toBe(true);
    expect(await ch.next()).toMatchObject({ op: "closed", code: 1008 });
    expect(await leasedTo(h, nodeId)).toEqual([]);
    expect((await h.get(`/v1/tasks/${task.id}`, client)).body.status).toBe("scheduled");
    expect(await revocationsLeft(h)).toEqual([]);
  });

  it("a shard that heard of the revocation refuses (401) what an edge that still trusts the token sends it", async () => {
    const { h, node, tokenId, nodeId } = await setup();
    const edge = createApp({ deployment: h.name, clock: h.clock });
    const viaEdge = (path: string, body: unknown) =>
      edge.request(
        `http://meridian.test${path}`,
        { method: "POST", headers: { authorization: `Bearer ${node}` }, body: JSON.stringify(body) },
        env,
      );
    expect((await viaEdge("/v1/nodes", { region: "eu-west", capacity: 1 })).status).toBe(201);
    expect((await h.delete(`/v1/tokens/${tokenId}`)).status).toBe(204);
    // The second edge still trusts the token for AUTH_CACHE_TTL_MS; the shard does not.
    expect((await viaEdge("/v1/nodes", { region: "eu-west", capacity: 1 })).status).toBe(401);
    expect((await viaEdge(`/v1/nodes/${nodeId}/heartbeat`, {})).status).toBe(401);
    expect((await openChannel(h, nodeId, node, edge)).status).toBe(401);
    expect(await finishRevocations(h)).toEqual([]);
  });

  it("a node registered and a channel opened through an edge that still trusted the token, at a shard that forgot the revocation, end once every edge has forgotten it", async () => {
    const { h, node, tokenId } = await setup();
    // A second edge looks the token up before the revocation, then trusts its copy for AUTH_CACHE_TTL_MS.
    const edge = createApp({ deployment: h.name, clock: h.clock });
    const viaEdge = (body: unknown) =>
      edge.request(
        "http://meridian.test/v1/nodes",
        { method: "POST", headers: { authorization: `Bearer ${node}` }, body: JSON.stringify(body) },
        env,
      );
    expect((await viaEdge({ region: "eu-west", capacity: 1 })).status).toBe(201);
    expect((await h.delete(`/v1/tokens/${tokenId}`)).status).toBe(204);
    // The shard keeps what it heard in memory only: evicted, it forgets, and the coordinator's
    // second push is what ends what the stale edge lets through.
    await h.evictAll();
    const late = (await (await viaEdge({ region: "eu-west", capacity: 1 })).json<{ id: string }>()).id;
    const ch = (await openChannel(h, late, node, edge)).channel!;
    expect(await ch.next()).toMatchObject({ op: "welcome" });
    await h.advance(AUTH_CACHE_TTL_MS - 1);
    expect(await runDurableObjectAlarm(h.stub)).toBe(true); // not due yet: nothing sent
    expect(ch.closed).toBeNull();
    await h.advance(1);
    expect(await runDurableObjectAlarm(h.stub)).toBe(true);
    expect(await ch.next()).toMatchObject({ op: "closed", code: 1008 });
    expect(await h.shardSql("eu-west", "SELECT dead FROM nodes WHERE id = ?", late)).toEqual([{ dead: 1 }]);
    expect(await revocationsLeft(h)).toEqual([]);
  });
});
