import type { Context } from "hono";
import type { AppEnv } from "./context";

/**
 * `observe`: a WebSocket straight to the coordinator (hibernatable there), or, without an upgrade,
 * Server-Sent Events fed by such a WebSocket. Both start with the current leader.
 */
export async function observeElection(c: Context<AppEnv>, name: string): Promise<Response> {
  const upgrade = new Request(`https://coordinator/observe?election=${encodeURIComponent(name)}`, {
    headers: { Upgrade: "websocket" },
  });
  const upstream = await c.var.edge.coordinator().fetch(upgrade);
  if (c.req.header("upgrade")?.toLowerCase() === "websocket") {
    return upstream;
  }
  const socket = upstream.webSocket;
  if (!socket) {
    throw new Error("the coordinator did not open a WebSocket");
  }
  socket.accept();
  const encoder = new TextEncoder();
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  const close = () => {
    writer.close().catch(() => {});
    try {
      socket.close(1000, "observer gone");
    } catch {
      // already closed
    }
  };
  socket.addEventListener("message", (event) => {
    if (typeof event.data === "string" && event.data.startsWith("{")) {
      writer.write(encoder.encode(`event: leader\ndata: ${event.data}\n\n`)).catch(close);
    }
  });
  socket.addEventListener("close", close);
  c.req.raw.signal?.addEventListener("abort", close);
  return new Response(readable, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" },
  });
}
