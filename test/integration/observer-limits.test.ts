import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { Coordinator } from "../../durable-objects/coordinator";
import type { RegionShard } from "../../durable-objects/region-shard";
import { SETTINGS } from "../../src/core/config";
import { OBSERVE_SSE_MAX_PENDING } from "../../src/http/observe";
import { openChannel } from "./channel-client";
import { harness } from "./harness";
import { observe, observeSse } from "./observer-client";
import { SseReader } from "./sse-reader";

const STRIKES = SETTINGS.SOCKET_MAX_STRIKES.default;

describe("election observers are metered and capped (issue 14, item 1)", () => {
  it('answers "ping" with "pong" at the edge, never waking the coordinator, and refuses anything else: an error each, then 1008', async () => {
    const h = await harness();
    const reader = await h.token("reader");
    const { observer } = await observe(h, "db", reader);
    const o = observer!;
    expect(JSON.parse(await o.next())).toMatchObject({ name: "db", leader: null });
    expect(await o.ask("ping")).toBe("pong");
    // The edge answered the ping: the coordinator's socket carried no frame from the client.
    const seenThere = await runInDurableObject(h.stub, (_: Coordinator, ctx) => {
      const ws = ctx.getWebSockets("db")[0]!;
      return {
        frames: (ws.deserializeAttachment() as { windowFrames: number }).windowFrames,
        autoResponse: ctx.getWebSocketAutoResponseTimestamp(ws),
      };
    });
    expect(seenThere).toEqual({ frames: 0, autoResponse: null });
    const seen: string[] = [];
    for (let i = 0; i < STRIKES; i++) {
      seen.push(await o.ask(`hello ${i}`));
    }
    expect(seen.map((m) => JSON.parse(m).error.code)).toEqual(Array(STRIKES).fill("invalid_request"));
    expect(await o.next()).toBe("closed 1008");
    expect(o.closed?.reason).toBe("too many refused frames");
  });

  it("a flood from one observer closes it with 1008 after its strikes; another observer of the token is untouched", async () => {
    const h = await harness();
    const reader = await h.token("reader");
    const flooder = (await observe(h, "db", reader)).observer!;
    const calm = (await observe(h, "db", reader)).observer!;
    await flooder.next();
    await calm.next();
    for (let i = 0; i < 1000; i++) {
      try {
        flooder.ws.send("x".repeat(100));
      } catch {
        break; // closed under it
      }
    }
    const answers: string[] = [];
    for (let m = await flooder.next(); !m.startsWith("closed"); m = await flooder.next()) {
      answers.push(m);
    }
    expect(flooder.closed?.code).toBe(1008);
    expect(answers).toHaveLength(STRIKES); // one error per strike, nothing after the close
    expect(await calm.ask("ping")).toBe("pong");
  });

  it(`caps observers at ${SETTINGS.OBSERVERS_PER_TOKEN.default} per token (429); a closed one frees its slot`, async () => {
    const h = await harness();
    const reader = await h.token("reader");
    const other = await h.token("reader");
    const open = [];
    for (let i = 0; i < SETTINGS.OBSERVERS_PER_TOKEN.default; i++) {
      const { status, observer } = await observe(h, `e${i % 3}`, reader);
      expect(status).toBe(101);
      await observer!.next();
      open.push(observer!);
    }
    const over = await observe(h, "e0", reader);
    expect(over.status).toBe(429);
    expect(JSON.parse(over.body).error.code).toBe("rate_limited");
    const sse = await observeSse(h, "e0", reader);
    expect(sse.status).toBe(429); // the SSE form holds a socket too
    expect((await observe(h, "e0", other)).status).toBe(101); // another token has its own
    // Closed by the coordinator (abuse): the slot is free at once.
    const first = open[0]!;
    for (let i = 0; i < STRIKES; i++) {
      await first.ask("nope");
    }
    expect(await first.next()).toBe("closed 1008");
    expect((await observe(h, "e0", reader)).status).toBe(101);
  });

  it(`a Server-Sent Events reader that takes nothing gets an "event: dropped" after ${OBSERVE_SSE_MAX_PENDING} messages, and its stream ends`, async () => {
    const h = await harness();
    const node = await h.token("node");
    const reader = await h.token("reader");
    const response = await observeSse(h, "db", reader);
    // Leader changes while the reader reads nothing: a campaign and a resignation make two each.
    for (let i = 0; i < OBSERVE_SSE_MAX_PENDING; i++) {
      await h.post("/v1/elections/db/campaign", { candidate: `c${i}`, ttlMs: 60_000 }, node);
      await h.post("/v1/elections/db/resign", { candidate: `c${i}` }, node);
    }
    const sse = new SseReader(response.body!);
    const events: string[] = [];
    for (;;) {
      try {
        events.push((await sse.next()).event);
      } catch {
        break; // the stream ended
      }
    }
    expect(events.length).toBeLessThanOrEqual(OBSERVE_SSE_MAX_PENDING + 1);
    expect(events.at(-1)).toBe("dropped");
    expect(events.slice(0, -1).every((e) => e === "leader")).toBe(true);
    // Its socket at the coordinator was closed with it: the token's slot is free.
    const sockets = await runInDurableObject(h.stub, (_: Coordinator, ctx) =>
      ctx.getWebSockets("#observer").filter((ws) => ws.deserializeAttachment() !== null),
    );
    expect(sockets).toHaveLength(0);
  });
});

describe("a close the peer started is answered with a code that may be sent (issue 14, item 6)", () => {
  it.each([1005, 1006, 1015, 1004, 999, 5000])("code %i at the coordinator and at a shard", async (code) => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const node = await h.token("node");
    const nodeId = await h.node(node, "eu-west", 1);
    const o = (await observe(h, "db", node)).observer!;
    await o.next();
    const ch = (await openChannel(h, nodeId, node)).channel!;
    await ch.next();
    await runInDurableObject(h.stub, async (instance: Coordinator, ctx) => {
      await instance.webSocketClose(ctx.getWebSockets("db")[0]!, code);
    });
    await runInDurableObject(h.shard("eu-west"), async (instance: RegionShard, ctx) => {
      await instance.webSocketClose(ctx.getWebSockets()[0]!, code);
    });
    expect(await o.next()).toBe("closed 1000");
    expect((await ch.next()).code).toBe(1000);
  });
});
