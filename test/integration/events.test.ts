import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { EventHub, HubLimits } from "../../durable-objects/event-hub";
import type { EventBody } from "../../src/core/events";
import { finishRevocations, openChannel } from "./channel-client";
import { ADMIN, CITIES, type Harness, harness, world } from "./harness";
import { type SseMessage, SseReader } from "./sse-reader";

/** Opens `GET /v1/events` and expects the stream. */
async function stream(h: Harness, query: string, token: string, headers: Record<string, string> = {}) {
  const response = await h.openEvents(query, token, headers);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/);
  return new SseReader(response.body!);
}

/** Restarts the hub with smaller limits (open streams end, the ring starts empty). */
function restartHub(h: Harness, limits: Partial<HubLimits>): Promise<void> {
  return runInDurableObject(h.hub(), (hub: EventHub) => hub.restartWith(limits));
}

/** An event published straight to the hub (for the hub's own behaviour: ring, resume, caps). */
function leader(term: number): EventBody {
  return { type: "leader.changed", at: 1, election: "hub-test", leader: "a", term };
}

/** Ids strictly increasing, and each message's `id:` line the id in its data. */
function expectNumbered(messages: SseMessage[]): void {
  for (const [i, m] of messages.entries()) {
    expect(m.id).toBe(m.data.id);
    expect(m.data.type).toBe(m.event);
    if (i > 0) {
      expect(m.id!).toBeGreaterThan(messages[i - 1]!.id!);
    }
  }
}

/** The fields of each message but its id. */
const bodies = (messages: SseMessage[]) => messages.map(({ data: { id: _, ...rest } }) => rest);

describe("GET /v1/events", () => {
  it("streams a task's life in order: task.routed, task.leased, task.succeeded, with the contract's fields", async () => {
    const { h, node, client, nodes } = await world({ "eu-west": 4 });
    const reader = await h.token("reader");
    await h.flushEvents(); // what setting up produced goes before the stream opens
    const sse = await stream(h, "", reader);

    const submitted = await h.submit({ type: "thumbnail", location: CITIES.paris }, client);
    expect(submitted.status).toBe(201);
    const taskId = submitted.body.id as string;
    const [leased] = await h.poll(nodes["eu-west"]!, node);
    const done = await h.post(`/v1/tasks/${taskId}/complete`, { leaseToken: leased.leaseToken }, node);
    expect(done.status).toBe(200);
    await h.flushEvents();

    const messages = await sse.until((m) => m.event === "task.succeeded");
    expectNumbered(messages);
    expect(bodies(messages)).toEqual([
      {
        type: "task.routed",
        at: h.now,
        taskId,
        taskType: "thumbnail",
        region: "eu-west",
        origin: CITIES.paris,
        reason: submitted.body.routing.reason,
      },
      { type: "task.leased", at: h.now, taskId, region: "eu-west", nodeId: nodes["eu-west"], attempt: 1 },
      { type: "task.succeeded", at: h.now, taskId, region: "eu-west", nodeId: nodes["eu-west"], attempts: 1 },
    ]);
    expect(submitted.body.routing.reason).toBe("nearest");
    await sse.cancel();
  });

  it("says of each failed attempt whether a retry is left (task.failed final)", async () => {
    const { h, node, client, nodes } = await world({ "eu-west": 4 });
    const reader = await h.token("reader");
    await h.flushEvents();
    const sse = await stream(h, "?types=task.leased,task.failed", reader);
    const taskId = (await h.submit({ type: "x", region: "eu-west", maxAttempts: 2 }, client)).body.id;
    const nodeId = nodes["eu-west"]!;
    const [first] = await h.poll(nodeId, node);
    await h.post(`/v1/tasks/${taskId}/fail`, { leaseToken: first.leaseToken, error: "boom" }, node);
    await h.advance(1_000); // past the first back-off (at most 1 s), well within the node's deadline
    const [second] = await h.poll(nodeId, node);
    await h.post(`/v1/tasks/${taskId}/fail`, { leaseToken: second.leaseToken, error: "boom" }, node);
    expect((await h.get(`/v1/tasks/${taskId}`)).body.status).toBe("failed");
    await h.flushEvents();

    const messages = await sse.take(4);
    expectNumbered(messages);
    expect(messages.map((m) => [m.event, m.data.attempt ?? m.data.attempts, m.data.final])).toEqual([
      ["task.leased", 1, undefined],
      ["task.failed", 1, false],
      ["task.leased", 2, undefined],
      ["task.failed", 2, true],
    ]);
    await sse.cancel();
  });

  it("streams node.up (http, channel) and node.down (drained, deregistered, revoked, dead)", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const token = await h.token("node");
    const doomed = await h.post("/v1/tokens", { role: "node" });
    const reader = await h.token("reader");
    await h.flushEvents();
    const sse = await stream(h, "?types=node.up,node.down", reader);

    const a = await h.node(token, "eu-west");
    const opened = await openChannel(h, a, token);
    expect(opened.status).toBe(101);
    const b = await h.node(token, "eu-west");
    expect((await h.post(`/v1/nodes/${b}/drain`, {}, token)).status).toBe(200);
    const c = await h.node(token, "eu-west");
    expect((await h.delete(`/v1/nodes/${c}`, token)).status).toBe(204);
    const e = await h.node(doomed.body.token, "eu-west");
    expect((await h.delete(`/v1/tokens/${doomed.body.id}`)).status).toBe(204);
    await h.advance(11_000); // a and b are silent past NODE_DEAD_AFTER_MS
    await h.alarm("eu-west");
    await h.flushEvents();

    const messages = await sse.take(10);
    expectNumbered(messages);
    expect(messages.map((m) => [m.event, m.data.nodeId, m.data.transport ?? m.data.reason])).toEqual([
      ["node.up", a, "http"],
      ["node.up", a, "channel"],
      ["node.up", b, "http"],
      ["node.down", b, "drained"],
      ["node.up", c, "http"],
      ["node.down", c, "deregistered"],
      ["node.up", e, "http"],
      ["node.down", e, "revoked"],
      ["node.down", a, "dead"],
      ["node.down", b, "dead"],
    ]);
    expect(messages.every((m) => m.data.region === "eu-west")).toBe(true);
    await sse.cancel();
    expect(await finishRevocations(h)).toEqual([]);
  });

  it("streams leader.changed on a campaign and on a resignation, with the election's terms", async () => {
    const h = await harness();
    const node = await h.token("node");
    const reader = await h.token("reader");
    const sse = await stream(h, "?types=leader.changed", reader);
    const first = await h.post("/v1/elections/jobs/campaign", { candidate: "a", ttlMs: 60_000 }, node);
    h.now += 1;
    await h.post("/v1/elections/jobs/campaign", { candidate: "b", ttlMs: 60_000 }, node); // no change: no event
    await h.post("/v1/elections/jobs/resign", { candidate: "a" }, node);
    const after = (await h.get("/v1/elections/jobs")).body;
    await h.flushEvents();

    const messages = await sse.take(2);
    expectNumbered(messages);
    expect(bodies(messages)).toEqual([
      { type: "leader.changed", at: h.now - 1, election: "jobs", leader: "a", term: first.body.leader.term },
      { type: "leader.changed", at: h.now, election: "jobs", leader: "b", term: after.term },
    ]);
    expect(after.term).toBeGreaterThan(first.body.leader.term);
    await sse.cancel();
  });

  it("streams region.changed when the last node of a region dies, and when one comes back", async () => {
    const { h, node, nodes } = await world({ "eu-west": 2 });
    const reader = await h.token("reader");
    await h.flushEvents();
    const sse = await stream(h, "?types=region.changed,node.down", reader);
    await h.advance(11_000);
    await h.alarm("eu-west");
    await h.flushEvents(); // the shard's node.down, then the coordinator's region.changed
    const fresh = await h.node(node, "eu-west", 3);
    await h.flushEvents();

    const messages = await sse.take(3);
    expectNumbered(messages);
    expect(bodies(messages)).toEqual([
      { type: "node.down", at: h.now, nodeId: nodes["eu-west"], region: "eu-west", reason: "dead" },
      {
        type: "region.changed",
        at: h.now,
        region: "eu-west",
        healthy: false,
        capacity: 0,
        inFlight: 0,
        queued: 0,
      },
      {
        type: "region.changed",
        at: h.now,
        region: "eu-west",
        healthy: true,
        capacity: 3,
        inFlight: 0,
        queued: 0,
      },
    ]);
    expect(fresh).toMatch(/eu-west$/);
    await sse.cancel();
  });

  it("filters by types and by region (events of no region pass the region filter)", async () => {
    const { h, node, client, nodes } = await world({ "eu-west": 4, "us-east": 4 });
    const reader = await h.token("reader");
    await h.flushEvents();
    const succeeded = await stream(h, "?types=task.succeeded", reader);
    const usEast = await stream(h, "?region=us-east", reader);
    const both = await stream(h, "?types=task.routed,leader.changed&region=eu-west", reader);

    const ids: Record<string, string> = {};
    for (const region of ["eu-west", "us-east"]) {
      ids[region] = (await h.submit({ type: "x", region }, client)).body.id;
      const [lease] = await h.poll(nodes[region]!, node);
      await h.post(`/v1/tasks/${lease.id}/complete`, { leaseToken: lease.leaseToken }, node);
    }
    await h.flushEvents();
    // Then the coordinator's leader.changed: the last event, so it ends what each stream reads.
    await h.post("/v1/elections/jobs/campaign", { candidate: "a", ttlMs: 60_000 }, node);
    await h.flushEvents();

    // Two shards' events: each shard's in order, the two in the order their batches reached the hub.
    const onlySucceeded = await succeeded.take(2);
    expect(onlySucceeded.map((m) => [m.event, m.data.taskId]).sort()).toEqual(
      [
        ["task.succeeded", ids["eu-west"]],
        ["task.succeeded", ids["us-east"]],
      ].sort(),
    );
    const regional = await usEast.until((m) => m.event === "leader.changed");
    expectNumbered(regional);
    expect(regional.map((m) => [m.event, m.data.region ?? m.data.election])).toEqual([
      ["task.routed", "us-east"],
      ["task.leased", "us-east"],
      ["task.succeeded", "us-east"],
      ["leader.changed", "jobs"],
    ]);
    const filtered = await both.until((m) => m.event === "leader.changed");
    expect(filtered.map((m) => [m.event, m.data.taskId ?? m.data.election])).toEqual([
      ["task.routed", ids["eu-west"]],
      ["leader.changed", "jobs"],
    ]);
    for (const s of [succeeded, usEast, both]) {
      await s.cancel();
    }
  });

  it("resumes after Last-Event-ID (header or ?lastEventId=) with exactly the events after it", async () => {
    const { h, node, client, nodes } = await world({ "eu-west": 4 });
    const reader = await h.token("reader");
    await h.flushEvents();
    const first = await stream(h, "", reader);
    for (let i = 0; i < 2; i++) {
      await h.submit({ type: "x", region: "eu-west" }, client);
      const [lease] = await h.poll(nodes["eu-west"]!, node);
      await h.post(`/v1/tasks/${lease.id}/complete`, { leaseToken: lease.leaseToken }, node);
    }
    await h.flushEvents();
    const seen = await first.take(6);
    expectNumbered(seen);
    const resumeAt = seen[2]!.id!;

    const byHeader = await stream(h, "", reader, { "last-event-id": String(resumeAt) });
    const byQuery = await stream(h, `?lastEventId=${resumeAt}`, reader);
    const atTheEnd = await stream(h, "", reader, { "last-event-id": String(seen[5]!.id) });
    // One event more: each resumed stream must show it right after its replay, nothing in between.
    await h.post("/v1/elections/jobs/campaign", { candidate: "a", ttlMs: 60_000 }, node);
    await h.flushEvents();
    const next = (await first.next()).data;
    expect(next.type).toBe("leader.changed");

    for (const resumed of [byHeader, byQuery]) {
      const replay = await resumed.take(4);
      expect(replay.map((m) => m.data)).toEqual([...seen.slice(3).map((m) => m.data), next]);
    }
    expect((await atTheEnd.next()).data).toEqual(next);
    for (const s of [first, byHeader, byQuery, atTheEnd]) {
      await s.cancel();
    }
  });

  it("answers a resume from before the replay buffer with reset too_old, from the future with unknown_id", async () => {
    const h = await harness();
    const reader = await h.token("reader");
    await restartHub(h, { ring: { maxEvents: 5, maxBytes: 1_000_000 } });
    const hub = h.hub();
    await hub.publish(Array.from({ length: 20 }, (_, i) => leader(i)));
    const { floor, lastId, events } = await hub.stats();
    expect([events, lastId - floor]).toEqual([5, 5]);

    const tooOld = await stream(h, "", reader, { "last-event-id": String(floor - 1) });
    const future = await stream(h, "", reader, { "last-event-id": String(lastId + 1) });
    const edge = await stream(h, "", reader, { "last-event-id": String(floor) }); // the oldest kept is floor + 1
    await hub.publish([leader(100)]);

    expect((await tooOld.take(2)).map((m) => [m.event, m.id, m.data.reason ?? m.data.term])).toEqual([
      ["reset", null, "too_old"],
      ["leader.changed", lastId + 1, 100],
    ]);
    expect((await future.take(2)).map((m) => [m.event, m.data.reason ?? m.data.term])).toEqual([
      ["reset", "unknown_id"],
      ["leader.changed", 100],
    ]);
    expect((await edge.take(6)).map((m) => m.data.term)).toEqual([15, 16, 17, 18, 19, 100]);
    for (const s of [tooOld, future, edge]) {
      await s.cancel();
    }
  });

  it("never gives an id twice across a restart of the hub; a resume from before it is too_old", async () => {
    const h = await harness();
    const reader = await h.token("reader");
    const before = await h.hub().publish([leader(1), leader(2)]);
    await evictDurableObject(h.hub());
    const after = await h.hub().publish([leader(3)]);
    expect(after.lastId).toBeGreaterThan(before.lastId);
    const resumed = await stream(h, "", reader, { "last-event-id": String(before.lastId) });
    expect((await resumed.next()).data).toEqual({ reason: "too_old" });
    await resumed.cancel();
  });

  it("caps open streams per token (429 rate_limited before the stream opens); a closed stream frees its slot", async () => {
    const h = await harness();
    const reader = await h.token("reader");
    const other = await h.token("reader");
    const open: SseReader[] = [];
    for (let i = 0; i < 16; i++) {
      open.push(await stream(h, "", reader));
    }
    const refused = await h.openEvents("", reader);
    expect(refused.status).toBe(429);
    const body = (await refused.json()) as any;
    expect(body.error).toMatchObject({ code: "rate_limited", requestId: expect.any(String) });
    expect(body.error.message).toMatch(/16/);
    open.push(await stream(h, "", other)); // another token has its own 16

    // A hang-up is seen when the hub next writes to the stream (an event, or the 15 s keep-alive).
    await open.shift()!.cancel();
    await h.hub().publish([leader(1)]);
    for (let asked = 0; (await h.hub().stats()).streams > 16 && asked < 100; asked++) {}
    open.push(await stream(h, "", reader));
    expect((await h.hub().stats()).streams).toBe(17);
    for (const s of open) {
      await s.cancel();
    }
  });

  it("ends a stream after maxStreamMs, freeing its slot even when the reader reads nothing", async () => {
    const h = await harness();
    const reader = await h.token("reader");
    await restartHub(h, { maxStreamMs: 20, streamsPerToken: 1 });
    const idle = await h.openEvents("", reader); // never read until it has ended
    const ended = await stream(h, "", await h.token("reader"));
    await expect(ended.next()).rejects.toThrow("the event stream ended");
    // The idle one's time is up too: its token may open a stream again.
    const again = await stream(h, "", reader);
    await again.cancel();
    await idle.body?.cancel();
  });

  it("caps open streams of the whole deployment", async () => {
    const h = await harness();
    await restartHub(h, { streams: 2 });
    const tokens = [await h.token("reader"), await h.token("reader"), await h.token("reader")];
    const open = [await stream(h, "", tokens[0]!), await stream(h, "", tokens[1]!)];
    const refused = await h.openEvents("", tokens[2]!);
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as any).error.code).toBe("rate_limited");
    for (const s of open) {
      await s.cancel();
    }
  });

  it("drops events for a reader that does not read, with a dropped marker counting them, and leaves the scheduler alone", async () => {
    const { h, node, client, nodes } = await world({ "eu-west": 1000 });
    const reader = await h.token("reader");
    // The ring holds 150 events: a reader that reads after every step of 100 loses none.
    await restartHub(h, { ring: { maxEvents: 150, maxBytes: 10_000_000 } });
    await h.flushEvents();
    const slow = await stream(h, "", reader);
    const fast = await stream(h, "", reader);
    const nodeId = nodes["eu-west"]!;
    const batch = {
      tasks: Array.from({ length: 100 }, (_, i) => ({ type: "x", region: "eu-west", payload: i })),
    };
    const received: SseMessage[] = [];

    for (let step = 0; step < 3; step++) {
      // Each call makes 100 events, and every one must do what it does with no reader listening.
      const stored = await h.post("/v1/tasks:batch", batch, client);
      expect(stored.status).toBe(200);
      expect(stored.body.results.filter((r: any) => r.error !== undefined)).toEqual([]);
      await h.flushEvents();
      received.push(...(await fast.take(100)));
      const leases = await h.poll(nodeId, node, 100);
      expect(leases).toHaveLength(100);
      await h.flushEvents();
      received.push(...(await fast.take(100)));
      const reports = leases.map((l) => ({ id: l.id, leaseToken: l.leaseToken, outcome: "succeeded" }));
      const reported = await h.post(`/v1/nodes/${nodeId}/report`, { reports }, node);
      expect(reported.body.results.map((r: any) => r.status)).toEqual(Array(100).fill("succeeded"));
      await h.flushEvents();
      received.push(...(await fast.take(100)));
    }
    // The hub holds at most its ring for both readers; the slow one holds no queue of its own.
    const stats = await h.hub().stats();
    expect(stats.events).toBeLessThanOrEqual(150);
    expect(stats.streams).toBe(2);
    expect(received.filter((m) => m.event === "dropped")).toEqual([]);
    expectNumbered(received);
    expect(received.at(-1)!.id).toBe(stats.lastId);

    // The slow reader reads at last: what it got and what it was told it missed add up to all 900.
    const late = await slow.until((m) => m.id === stats.lastId);
    const drops = late.filter((m) => m.event === "dropped");
    const events = late.filter((m) => m.event !== "dropped");
    expect(drops.length).toBeGreaterThan(0);
    expect(events.length + drops.reduce((sum, m) => sum + m.data.missed, 0)).toBe(900);
    expectNumbered(events);
    expect(events.length).toBeLessThan(900);
    await slow.cancel();
    await fast.cancel();
  });

  it("refuses callers who may not read (401, 403) and bad filters (400), and is in the OpenAPI document", async () => {
    const h = await harness();
    const tokens = {
      client: await h.token("client"),
      node: await h.token("node"),
      reader: await h.token("reader"),
    };
    const status = async (query: string, token: string | null, headers: Record<string, string> = {}) => {
      const response = await h.openEvents(query, token, headers);
      if (response.status === 200) {
        await response.body?.cancel();
        return [200, null];
      }
      return [response.status, ((await response.json()) as any).error.code];
    };
    expect(await status("", null)).toEqual([401, "unauthorized"]);
    expect(await status("", tokens.client)).toEqual([403, "forbidden"]);
    expect(await status("", tokens.node)).toEqual([403, "forbidden"]);
    expect(await status("?types=task.exploded", tokens.client)).toEqual([403, "forbidden"]);
    expect(await status("?types=task.exploded", tokens.reader)).toEqual([400, "invalid_request"]);
    expect(await status("?types=task.routed,nope", tokens.reader)).toEqual([400, "invalid_request"]);
    expect(await status("?region=Not%20A%20Region", tokens.reader)).toEqual([400, "invalid_request"]);
    expect(await status("?lastEventId=-1", tokens.reader)).toEqual([400, "invalid_request"]);
    expect(await status("", tokens.reader, { "last-event-id": "abc" })).toEqual([400, "invalid_request"]);
    expect(await status("?types=task.routed,node.down&region=eu-west", tokens.reader)).toEqual([200, null]);
    expect(await status("", ADMIN)).toEqual([200, null]);
    const doc = (await h.get("/openapi.json", null)).body;
    expect(doc.paths["/v1/events"].get.responses["200"].content).toHaveProperty("text/event-stream");
  });
});
