import { closeCodeToEcho } from "../core/close-codes";
import { openWindow, type SocketMeter } from "../core/socket-meter";

/** The text an observer may send, and the answer. */
const PING = "ping";
const PONG = "pong";

/**
 * An observer's WebSocket held at the edge, relaying the coordinator's messages to it. The client's
 * frames never reach the coordinator: `ping` is answered here, anything else (or anything over the
 * meter's rates) is refused with an `error` message and a strike, and the last strike closes it with
 * 1008. Why not hand the coordinator's socket straight to the client: every frame a client sends
 * on it is delivered to the coordinator, also after the coordinator closed it (until the client's
 * own close arrives), and under `wrangler dev` 4 sockets × 5000 junk frames so delivered froze the
 * whole runtime for about 4 minutes; relayed here, the same flood is refused and closed in under a
 * second (docs/RELIABILITY.md, Security). The coordinator's end stays hibernatable.
 */
export function relayObserver(
  upstream: WebSocket,
  meter: SocketMeter,
  tokenId: string,
  clock: () => number,
): Response {
  const pair = new WebSocketPair();
  const [client, server] = [pair[0], pair[1]];
  upstream.accept();
  server.accept();
  const window = openWindow(clock());
  let ended = false;
  const end = (code: number, reason: string) => {
    if (ended) {
      return;
    }
    ended = true;
    close(server, code, reason);
    close(upstream, 1000, "observer gone");
  };
  upstream.addEventListener("message", (event) => {
    if (!ended && typeof event.data === "string") {
      send(server, event.data);
    }
  });
  // The coordinator closed it (1008 `token revoked`) or went away: the client is told the same.
  upstream.addEventListener("close", (event) => end(closeCodeToEcho(event.code), event.reason || "closed"));
  server.addEventListener("message", (event) => {
    if (ended) {
      return; // frames in flight after the close: dropped here, never relayed
    }
    const data = event.data;
    const length = typeof data === "string" ? data.length : data.byteLength;
    const abuse =
      meter.admit(window, tokenId, length, clock()) ??
      (data === PING ? null : `an observer only sends "${PING}"`);
    if (abuse === null) {
      send(server, PONG);
      return;
    }
    send(server, JSON.stringify({ error: { code: "invalid_request", message: abuse } }));
    if (meter.strike(window)) {
      end(1008, "too many refused frames");
    }
  });
  server.addEventListener("close", (event) => end(closeCodeToEcho(event.code), "closed"));
  server.addEventListener("error", () => end(1011, "error"));
  return new Response(null, { status: 101, webSocket: client });
}

function send(ws: WebSocket, text: string): void {
  try {
    ws.send(text);
  } catch {
    // closing: nothing to tell
  }
}

function close(ws: WebSocket, code: number, reason: string): void {
  try {
    ws.close(code, reason.slice(0, 120));
  } catch {
    // already closed
  }
}
