import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { CHANNEL_FRAMES_PER_SEC, CHANNEL_MAX_STRIKES } from "../../durable-objects/region-shard/channels";
import {
  type Expected,
  FUZZ_KINDS,
  type FuzzCase,
  type FuzzKind,
  fuzzCase,
} from "../lib/channel-fuzz-frames";
import { Prng } from "../lib/prng";
import { finishRevocations, openChannel, type TestChannel } from "./channel-client";
import { type Harness, harness } from "./harness";

/**
 * The node channel under hostile input: malformed JSON, JSON that is no frame, unknown ops, bad
 * fields, frames over MAX_NODE_FRAME_BYTES, binary frames, floods, requests about work of another
 * token's node, and a token revoked with its sockets open. Invariants, asserted frame by frame:
 *
 * 1. Every refused frame is answered: an invalid one (a strike) by an `error` frame `invalid_request`
 *    carrying its `ref` when it is a text frame within the size limit and a JSON object with a ref of
 *    1 to 64 characters (an oversized frame is not parsed, so it has none), and at the
 *    CHANNEL_MAX_STRIKES-th strike the socket closes with 1008; a valid request about work the node
 *    does not hold by its reply (`reported` with the item refused, or `error`) with its ref, and the
 *    socket stays open.
 * 2. The shard never crashes: after the barrage it answers an HTTP call and a new channel works.
 * 3. Nothing stored changes: every table of the shard and of the coordinator is the same before and
 *    after, except `nodes.last_seen_at`: a valid frame, even one refused on its merits, is contact
 *    from the node (API-v2 §4: "any frame counts as contact"), and contact moves it; and the
 *    coordinator's copy of the load report (see COORDINATOR_TABLES).
 *
 * Seeds are fixed so a failure replays; the failing seed and case index are in the message.
 */
const SEEDS = [20261201, 7, 31337];
const FRAMES_PER_SEED = 160;

/**
 * Every table of the coordinator but `region_loads`: that is the shard's last load report, a copy of
 * counts derived from the shard's tables (compared here) sent up to LOAD_REPORT_INTERVAL_MS after they
 * change, so the setup's own report may land during the barrage.
 */
const COORDINATOR_TABLES = [
  "tokens",
  "regions",
  "shards",
  "gone_nodes",
  "elections",
  "candidates",
  "election_watchers",
  "revocations",
];
const SHARD_TABLES = ["shard", "nodes", "tasks", "outbox"];

/** Every row the coordinator and the region's shard store, with the contact timestamps left out (see 3.). */
async function storedState(h: Harness, region: string): Promise<Record<string, unknown[]>> {
  const rows: Record<string, unknown[]> = await runInDurableObject(h.stub, (_, ctx) =>
    Object.fromEntries(
      COORDINATOR_TABLES.map((t) => [t, ctx.storage.sql.exec(`SELECT * FROM ${t} ORDER BY 1`).toArray()]),
    ),
  );
  for (const t of SHARD_TABLES) {
    const table = await h.shardSql(region, `SELECT * FROM ${t} ORDER BY 1`);
    rows[`shard/${t}`] = t === "nodes" ? table.map(({ last_seen_at: _, ...row }) => row) : table;
  }
  return rows;
}

/**
 * A region with two node tokens: the attacker's node (whose channel is fuzzed, with no credit, so it
 * is never pushed work) and a victim node of another token holding a lease; one task waits queued.
 */
async function world() {
  const h = await harness();
  await h.region("eu-west", 53.35, -6.26);
  const attacker = (await h.post("/v1/tokens", { role: "node" })).body as { id: string; token: string };
  const victim = await h.token("node");
  const client = await h.token("client");
  const attackerNode = await h.node(attacker.token, "eu-west", 4);
  const victimNode = await h.node(victim, "eu-west", 1);
  await h.submit({ type: "held" }, client);
  const [foreign] = await h.poll(victimNode, victim);
  const queued = (await h.submit({ type: "waiting" }, client)).body.id as string;
  // Half a heartbeat interval on: the next contact is written to storage, which the comparison must ignore.
  await h.advance(1000);
  return { h, attacker, victim, client, attackerNode, victimNode, foreign, queued };
}

/** Opens the node's channel and reads its welcome. */
async function welcomed(h: Harness, nodeId: string, token: string): Promise<TestChannel> {
  const { status, channel } = await openChannel(h, nodeId, token);
  expect(status).toBe(101);
  expect(await channel!.next()).toMatchObject({ op: "welcome", nodeId });
  return channel!;
}

/** Checks the answer to one refused frame against what it must get (invariant 1). */
function checkAnswer(answer: any, expected: Expected, where: string): void {
  if (expected.strike) {
    expect(answer, where).toMatchObject({ op: "error", error: { code: "invalid_request" } });
    expect(answer.ref, where).toBe(expected.ref);
    if (expected.message) {
      expect(answer.error.message, where).toMatch(expected.message);
    }
    return;
  }
  expect(answer, where).toMatchObject({ op: expected.op, ref: expected.ref });
  const refusal = expected.op === "reported" ? answer.results[0] : answer;
  if (expected.op === "reported") {
    expect(refusal.ok, where).toBe(false);
  }
  expect(refusal.error.code, where).toBe(expected.code);
}

/** Sends `count` spaced pings (they reach the shard: the runtime answers only the exact `{"op":"ping"}`). */
function flood(ch: TestChannel, count: number): void {
  for (let i = 0; i < count; i++) {
    ch.send('{ "op": "ping" }');
  }
}

/** Reads `pongs` pongs, then the strikes' error frames and the 1008 close (when `closes`). */
async function expectFloodAnswers(ch: TestChannel, pongs: number, closes: boolean, where: string) {
  for (let i = 0; i < pongs; i++) {
    expect(await ch.next(), `${where}: frame ${i}`).toEqual({ op: "pong" });
  }
  if (!closes) {
    return;
  }
  for (let i = 0; i < CHANNEL_MAX_STRIKES; i++) {
    expect((await ch.next()).error.message, `${where}: strike ${i}`).toMatch(/frames a second/);
  }
  expect(await ch.next(), where).toMatchObject({ op: "closed", code: 1008 });
}

describe("the node channel under hostile input", () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}: every invalid or foreign frame is refused and answered, the shard lives on, nothing stored changes`, async () => {
      const w = await world();
      const { h, attacker, attackerNode } = w;
      const p = new Prng(seed);
      const counts = Object.fromEntries(FUZZ_KINDS.map((k) => [k, 0])) as Record<FuzzKind, number>;
      const before = await storedState(h, "eu-west");
      let ch = await welcomed(h, attackerNode, attacker.token);
      let strikes = 0;
      let closes = 0;
      for (let i = 0; i < FRAMES_PER_SEED; i++) {
        const c: FuzzCase = fuzzCase(p, { foreign: w.foreign });
        counts[c.kind]++;
        const where = `seed ${seed}, case ${i} (${c.kind}): ${String(c.data).slice(0, 160)}`;
        checkAnswer(await ch.ask(c.data), c.expected, where);
        strikes += c.expected.strike ? 1 : 0;
        if (strikes === CHANNEL_MAX_STRIKES) {
          expect(await ch.next(), where).toMatchObject({ op: "closed", code: 1008 });
          closes++;
          strikes = 0;
          ch = await welcomed(h, attackerNode, attacker.token); // a node may come back after abuse
        }
      }
      console.log(`channel fuzz seed ${seed}: ${JSON.stringify(counts)}, ${closes} closes with 1008`);
      // The seeds are chosen so that each covers every kind and reaches the 1008 close.
      expect(
        Object.values(counts).every((n) => n > 0),
        JSON.stringify(counts),
      ).toBe(true);
      expect(closes).toBeGreaterThan(0);
      expect(await storedState(h, "eu-west")).toEqual(before);
      // Still serving: an HTTP call, the open channel, a new one; and the queued task was leased to no one.
      expect((await h.post(`/v1/nodes/${attackerNode}/heartbeat`, {}, attacker.token)).status).toBe(200);
      expect(await ch.ask({ op: "ping" })).toEqual({ op: "pong" });
      const fresh = await welcomed(h, attackerNode, attacker.token);
      expect(await fresh.ask({ op: "credit", n: 1 })).toMatchObject({
        op: "tasks",
        tasks: [{ id: w.queued }],
      });
    }, 60_000);
  }

  it(`a flood over ${CHANNEL_FRAMES_PER_SEC} frames a second closes that socket with 1008; a token's sockets are each judged on their own`, async () => {
    const { h, attacker, attackerNode } = await world();
    const p = new Prng(SEEDS[0]!);
    const nodes = [attackerNode, await h.node(attacker.token, "eu-west", 1)];
    const before = await storedState(h, "eu-west");
    // One socket: the frames past the rate get the strikes; those after the 1008 are not answered.
    const one = await welcomed(h, attackerNode, attacker.token);
    const extra = p.int(CHANNEL_MAX_STRIKES, 40);
    flood(one, CHANNEL_FRAMES_PER_SEC + extra);
    await expectFloodAnswers(one, CHANNEL_FRAMES_PER_SEC, true, `one socket, ${extra} over`);
    // Two sockets of one token, interleaved: 2 × 300 frames in the second, over the rate for one
    // socket in total, but under each socket's own.
    const sockets = await Promise.all(nodes.map((n) => welcomed(h, n, attacker.token)));
    for (let i = 0; i < 300; i++) {
      for (const s of sockets) {
        flood(s, 1);
      }
    }
    for (const [i, s] of sockets.entries()) {
      await expectFloodAnswers(s, 300, false, `socket ${i} of 2, under the rate`);
    }
    // ...and past it, each closes on its own.
    for (const s of sockets) {
      flood(s, CHANNEL_FRAMES_PER_SEC - 300 + CHANNEL_MAX_STRIKES);
    }
    for (const [i, s] of sockets.entries()) {
      await expectFloodAnswers(s, CHANNEL_FRAMES_PER_SEC - 300, true, `socket ${i} of 2, over the rate`);
    }
    // Each node reconnects (its grace period, started by the close, ends), and then nothing has changed.
    for (const n of nodes) {
      expect(await (await welcomed(h, n, attacker.token)).ask({ op: "ping" })).toEqual({ op: "pong" });
    }
    expect(await storedState(h, "eu-west")).toEqual(before);
    expect((await h.get("/v1/nodes")).status).toBe(200);
  }, 60_000);

  it("a revoked token: its sockets close with 1008 mid-barrage, its upgrades are 401, nothing is leased to its nodes after", async () => {
    const { h, attacker, attackerNode, client } = await world();
    const p = new Prng(SEEDS[1]!);
    const nodes = [attackerNode, await h.node(attacker.token, "eu-west", 2)];
    const sockets = await Promise.all(nodes.map((n) => welcomed(h, n, attacker.token)));
    for (const s of sockets) {
      s.send({ op: "credit", n: 2 });
    }
    // Frames in flight while the token is revoked: each is answered, or lost to the close.
    for (let i = 0; i < 20; i++) {
      p.pick(sockets).send({ op: "heartbeat", load: p.next() });
    }
    expect((await h.delete(`/v1/tokens/${attacker.id}`)).status).toBe(204);
    for (const s of sockets) {
      let frame = await s.next();
      while (frame.op !== "closed") {
        expect(["tasks", "pong"]).toContain(frame.op);
        frame = await s.next();
      }
      expect(frame).toMatchObject({ code: 1008, reason: "token revoked" });
    }
    const refused = await openChannel(h, attackerNode, attacker.token);
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.body)).toMatchObject({
      error: { code: "unauthorized", message: expect.any(String) },
    });
    for (let i = 0; i < 4; i++) {
      await h.submit({ type: "after" }, client);
    }
    const leased = await h.shardSql(
      "eu-west",
      `SELECT count(*) AS n FROM tasks WHERE status = 'leased' AND node_id IN (${nodes.map(() => "?").join(",")})`,
      ...nodes,
    );
    expect(leased).toEqual([{ n: 0 }]);
    expect(await h.shardSql("eu-west", "SELECT count(*) AS n FROM nodes WHERE dead = 1")).toEqual([{ n: 2 }]);
    expect(await finishRevocations(h)).toEqual([]);
  });
});
