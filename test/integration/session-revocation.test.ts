import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { finishRevocations } from "./channel-client";
import { harness } from "./harness";
import { observe, observeSse } from "./observer-client";
import { SseReader } from "./sse-reader";

/** A region, a node token (with its id) and its node, a client token. */
async function setup() {
  const h = await harness();
  await h.region("eu-west", 53.35, -6.26);
  const minted = (await h.post("/v1/tokens", { role: "node" })).body;
  const client = await h.token("client");
  const nodeId = await h.node(minted.token, "eu-west", 2);
  return { h, node: minted.token as string, tokenId: minted.id as string, client, nodeId };
}

describe("revoking a token ends its sessions (issue 14, item 3)", () => {
  it("answers the token's waiting long poll with 401 and leases it nothing, before or after", async () => {
    const { h, node, tokenId, client, nodeId } = await setup();
    await h.node(await h.token("node"), "eu-west", 1); // keeps the region healthy, never polls
    const waiting = h.post(`/v1/nodes/${nodeId}/poll`, { max: 2, waitMs: 30_000 }, node);
    // The poll is waiting in the shard once the shard lists the node as waiting.
    for (let i = 0; i < 100; i++) {
      if (await h.insideShard("eu-west", (s) => s.nodes.waiting.has(nodeId))) {
        break;
      }
      await h.get("/healthz", null); // a turn of the runtime, not a sleep
    }
    expect(await h.insideShard("eu-west", (s) => s.nodes.waiting.has(nodeId))).toBe(true);
    expect((await h.delete(`/v1/tokens/${tokenId}`)).status).toBe(204);
    const answer = await waiting;
    expect(answer.status).toBe(401);
    expect(answer.body.error.code).toBe("unauthorized");
    const { id } = (await h.submit({ type: "x", payload: { secret: 1 } }, client)).body;
    expect((await h.get(`/v1/tasks/${id}`, client)).body).toMatchObject({ status: "queued", nodeId: null });
    expect(await h.shardSql("eu-west", "SELECT count(*) AS n FROM tasks WHERE node_id = ?", nodeId)).toEqual([
      { n: 0 },
    ]);
    expect(await finishRevocations(h)).toEqual([]);
  });

  it("a poll sent through an edge that still trusts the token is refused 401 by the shard, leasing nothing", async () => {
    const { h, node, tokenId, client, nodeId } = await setup();
    const stale = createApp({ deployment: h.name, clock: h.clock });
    const poll = () =>
      stale.request(
        `http://meridian.test/v1/nodes/${nodeId}/poll`,
        { method: "POST", headers: { authorization: `Bearer ${node}` }, body: '{"max":1}' },
        env,
      );
    expect((await poll()).status).toBe(200); // the stale edge has looked the token up
    await h.submit({ type: "x" }, client);
    expect((await h.delete(`/v1/tokens/${tokenId}`)).status).toBe(204);
    expect((await poll()).status).toBe(401);
    expect(await h.shardSql("eu-west", "SELECT count(*) AS n FROM tasks WHERE status = 'leased'")).toEqual([
      { n: 0 },
    ]);
    expect(await finishRevocations(h)).toEqual([]);
  });

  it("closes the token's election observers (WebSocket 1008, Server-Sent Events ended) at once; a stale edge's new one is 401", async () => {
    const h = await harness();
    const minted = (await h.post("/v1/tokens", { role: "reader" })).body;
    const keeper = await h.token("reader");
    const o = (await observe(h, "db", minted.token)).observer!;
    await o.next();
    const other = (await observe(h, "db", keeper)).observer!;
    await other.next();
    const sse = new SseReader((await observeSse(h, "db", minted.token)).body!);
    expect((await sse.next()).event).toBe("leader");
    const stale = createApp({ deployment: h.name, clock: h.clock });
    expect((await observe(h, "db", minted.token, stale)).status).toBe(101); // looked up before

    expect((await h.delete(`/v1/tokens/${minted.id}`)).status).toBe(204);
    expect(await o.next()).toBe("closed 1008");
    expect(o.closed?.reason).toBe("token revoked");
    await expect(sse.next()).rejects.toThrow("ended");
    expect(await other.ask("ping")).toBe("pong"); // another token's observer goes on
    const late = await observe(h, "db", minted.token, stale);
    expect(late.status).toBe(401);
    expect(JSON.parse(late.body).error.code).toBe("unauthorized");
    expect(await finishRevocations(h)).toEqual([]);
  });

  it("ends the token's event streams at once; a stale edge's new stream is 401", async () => {
    const h = await harness();
    const minted = (await h.post("/v1/tokens", { role: "reader" })).body;
    const keeper = await h.token("reader");
    const stale = createApp({ deployment: h.name, clock: h.clock });
    const openVia = (app: typeof stale, token: string) =>
      app.request(
        "http://meridian.test/v1/events",
        { headers: { authorization: `Bearer ${token}` } },
        env,
      ) as Promise<Response>;
    const mine = await openVia(h.app, minted.token);
    const theirs = await openVia(h.app, keeper);
    const early = await openVia(stale, minted.token); // the stale edge looks the token up
    expect([mine.status, theirs.status, early.status]).toEqual([200, 200, 200]);
    await early.body!.cancel();

    expect((await h.delete(`/v1/tokens/${minted.id}`)).status).toBe(204);
    const reader = mine.body!.getReader();
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      // whatever was sent before the end
    }
    expect((await h.hub().stats()).streams).toBe(1); // the other token's stream is open
    const late = await openVia(stale, minted.token);
    expect(late.status).toBe(401);
    await theirs.body!.cancel();
    expect(await finishRevocations(h)).toEqual([]);
  });
});
