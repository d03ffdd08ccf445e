import type { Context } from "hono";
import { GLOBAL_TENANT_HEADER } from "../core/permissions";
import type { AppEnv } from "./context";
import { relayObserver } from "./observer-relay";

/**
 * Messages an observer's Server-Sent Events stream may hold that its reader has not taken. A reader
 * that lets more pile up gets a `dropped` event and its stream ends (EventSource reconnects and
 * starts again from the current leader): what a slow reader costs is bounded.
 */
export const OBSERVE_SSE_MAX_PENDING = 64;

/**
 * `observe`: a WebSocket to the coordinator (hibernatable there) relayed by the edge (see
 * relayObserver), or, without an upgrade, Server-Sent Events fed by such a WebSocket. Both start with the current leader. The coordinator
 * knows the caller's token: it caps observers per token and ends them when the token is revoked.
 */
export async function observeElection(c: Context<AppEnv>, name: string): Promise<Response> {
  const upgrade = new Request(`https://coordinator/observe?election=${encodeURIComponent(name)}`, {
    headers: {
      Upgrade: "websocket",
      "x-meridian-token-id": c.var.principal.tokenId,
      "x-meridian-tenant": c.var.principal.tenant ?? GLOBAL_TENANT_HEADER,
    },
  });
  const upstream = await c.var.edge.coordinator().fetch(upgrade);
  const socket = upstream.webSocket;
  if (upstream.status !== 101 || !socket) {
    // A refusal (401 revoked since this edge cached the token, 429 past a cap): the contract's body.
    return new Response(upstream.body, upstream);
  }
  if (c.req.header("upgrade")?.toLowerCase() === "websocket") {
    const edge = c.var.edge;
    return relayObserver(socket, edge.socketMeter, c.var.principal.tokenId, edge.clock);
  }
  return sseOf(socket, c.req.raw.signal);
}

/** The observer's socket as Server-Sent Events, bounded by OBSERVE_SSE_MAX_PENDING. */
function sseOf(socket: WebSocket, hangUp: AbortSignal | undefined): Response {
  socket.accept();
  const encoder = new TextEncoder();
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  let pending = 0;
  let ended = false;
  const end = (code: number, reason: string) => {
    if (ended) {
      return;
    }
    ended = true;
    writer.close().catch(() => {});
    try {
      socket.close(code, reason);
    } catch {
      // already closed
    }
  };
  const write = (text: string) => {
    pending++;
    writer.write(encoder.encode(text)).then(
      () => {
        pending--;
      },
      () => end(1000, "observer gone"),
    );
  };
  socket.addEventListener("message", (event) => {
    if (ended || typeof event.data !== "string" || !event.data.startsWith("{")) {
      return;
    }
    if (pending >= OBSERVE_SSE_MAX_PENDING) {
      write(`event: dropped\ndata: {"reason":"slow_reader","pending":${pending}}\n\n`);
      end(1000, "slow reader");
      return;
    }
    write(`event: leader\ndata: ${event.data}\n\n`);
  });
  // The coordinator closed it (revocation: 1008) or the connection dropped: the stream ends.
  socket.addEventListener("close", () => end(1000, "closed"));
  hangUp?.addEventListener("abort", () => end(1000, "observer gone"));
  return new Response(readable, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" },
  });
}
