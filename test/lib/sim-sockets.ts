/**
 * The node channels of the simulation: real hibernatable WebSockets accepted by the real shard,
 * whose events the simulation delivers itself.
 *
 * Why not a socket driven from the test, as channel.test.ts does: the runtime delivers a frame to
 * `webSocketMessage` (and a close to `webSocketClose`) on its own schedule, outside the visits the
 * simulation makes, with the wall clock's timing; a step could not say when a frame is handled, nor
 * which object's timers and sends it makes. So the channel is opened through the shard's own
 * `fetch` upgrade (its `accept`, tags, attachment and welcome, unchanged), and then:
 * - a node's frame is `webSocketMessage` called by the simulation inside a visit to the shard, and
 *   an abrupt close is `webSocketClose` (code 1006) called the same way: each at a known step and
 *   simulated instant, replayable from the seed;
 * - what the shard sends is taken at the server end (`send` wrapped when the socket is accepted),
 *   in order, at once, and checked against the frame schema: nothing travels through the runtime;
 * - the runtime's own deliveries to the shard (the close handshake's echo of a close the shard
 *   made) are absorbed: the simulation is the only source of socket events;
 * - a socket the shard closes completes its close handshake with the client end, so the runtime
 *   forgets it (`getWebSockets` no longer lists it) before the shard is photographed.
 * Old sockets are kept, so that frames of a socket the shard closed or replaced can arrive late.
 */
import { RegionShard } from "../../durable-objects/region-shard";
import { ShardFrame } from "../../src/schemas/channel";
import { InvariantError } from "./sim-check";
import { as, type Region } from "./sim-sut";

/** A node's socket as the simulation holds it. */
export interface SimSocket {
  id: number;
  nodeId: string;
  region: Region;
  /** The shard's end (what `ctx.getWebSockets` lists). */
  server: WebSocket;
  /** Frames the shard sent, not yet taken by the checks; `late`: sent once the shard had closed it. */
  inbox: { frame: ShardFrame; late: boolean }[];
  /** The code the shard closed it with, once it did. */
  closedWith: number | null;
  /** Tasks the shard pushed to it that the checks have not yet matched with a pushed frame. */
  expectPushed: { id: string; leaseToken: string }[];
}

/** An upgrade's answer: the socket, or the refusal's error body. */
export type OpenResult =
  | { ok: true; socket: SimSocket; welcome: ShardFrame }
  | { ok: false; status: number; error: { code: string; reason?: string } };

let nextSocketId = 1;

/** The shard's methods for socket events, as the class defines them (the instance's are the absorbers). */
const shardEvents = RegionShard.prototype;

/** Makes the runtime's own socket events no-ops on this instance (the simulation delivers them itself). */
export function absorbRuntimeEvents(shard: RegionShard): void {
  const absorb = () => Promise.resolve();
  Object.assign(shard, { webSocketMessage: absorb, webSocketClose: absorb, webSocketError: absorb });
}

/** Opens a node's channel through the shard's upgrade (as its tenant's admin), wrapping the server end as it is accepted. */
export async function openSocket(
  shard: RegionShard,
  ctx: DurableObjectState,
  nodeId: string,
  region: Region,
  tenant: string,
): Promise<OpenResult> {
  const socket: SimSocket = {
    id: nextSocketId++,
    nodeId,
    region,
    server: null as unknown as WebSocket,
    inbox: [],
    closedWith: null,
    expectPushed: [],
  };
  const accept = ctx.acceptWebSocket;
  ctx.acceptWebSocket = (server: WebSocket, tags?: string[]) => {
    socket.server = wrapServer(server, socket);
    accept.call(ctx, server, tags);
  };
  let response: Response;
  try {
    response = await shard.fetch(
      new Request(`https://shard.sim/v1/nodes/${nodeId}/channel`, {
        headers: {
          upgrade: "websocket",
          "x-meridian-node": nodeId,
          "x-meridian-token-id": as(tenant).tokenId,
          "x-meridian-role": as(tenant).role,
          "x-meridian-tenant": tenant,
        },
      }),
    );
  } finally {
    ctx.acceptWebSocket = accept;
  }
  const client = response.webSocket;
  if (!client) {
    const body = (await response.json()) as { error: { code: string; reason?: string } };
    return { ok: false, status: response.status, error: body.error };
  }
  // The client end answers the shard's close, so the runtime forgets the socket; it sends nothing else.
  client.accept();
  client.addEventListener("close", () => client.close(1000, "closed"));
  const welcome = socket.inbox.shift()?.frame;
  if (welcome === undefined) {
    throw new InvariantError(`the channel of ${nodeId} opened without a welcome`);
  }
  return { ok: true, socket, welcome };
}

/** Takes every frame the shard sends on `server`, and notes when it closes it. */
function wrapServer(server: WebSocket, socket: SimSocket): WebSocket {
  const close = server.close.bind(server);
  Object.assign(server, {
    send: (data: string) => {
      const parsed = ShardFrame.safeParse(JSON.parse(data));
      if (!parsed.success) {
        throw new InvariantError(`the shard sent a frame outside the protocol: ${data.slice(0, 200)}`);
      }
      socket.inbox.push({ frame: parsed.data, late: socket.closedWith !== null });
    },
    close: (code?: number, reason?: string) => {
      socket.closedWith ??= code ?? 1005;
      close(code, reason);
    },
  });
  return server;
}

/** A frame from the node, handled by the shard now. */
export function deliver(shard: RegionShard, socket: SimSocket, frame: unknown): Promise<void> {
  return shardEvents.webSocketMessage.call(shard, socket.server, JSON.stringify(frame));
}

/** The node's end goes away without a close frame (a killed process, a cut connection): 1006. */
export function drop(shard: RegionShard, socket: SimSocket): Promise<void> {
  return shardEvents.webSocketClose.call(shard, socket.server, 1006);
}

/** Waits (a bounded number of turns) until the runtime has forgotten every socket the shard closed. */
export async function settleCloses(ctx: DurableObjectState, sockets: Iterable<SimSocket>): Promise<void> {
  const closing = new Set([...sockets].filter((s) => s.closedWith !== null).map((s) => s.server));
  for (let i = 0; i < 50; i++) {
    if (!ctx.getWebSockets().some((ws) => closing.has(ws))) {
      return;
    }
    await scheduler.wait(0);
  }
  throw new InvariantError("a socket the shard closed was never forgotten by the runtime");
}

/** Closes every socket a shard holds (a run's wipe): detached first, so no grace period starts. */
export async function closeAll(ctx: DurableObjectState): Promise<void> {
  const open = ctx.getWebSockets();
  for (const ws of open) {
    ws.serializeAttachment(null);
    ws.close(1000, "the run is over");
  }
  for (let i = 0; i < 50 && ctx.getWebSockets().length > 0; i++) {
    await scheduler.wait(0);
  }
}
