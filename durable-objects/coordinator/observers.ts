import type { Config } from "../../src/core/config";
import { ApiError } from "../../src/core/errors";
import { openWindow, SocketMeter, type SocketWindow } from "../../src/core/socket-meter";

/** What an observer socket remembers across hibernation (its attachment). */
export interface ObserverState extends SocketWindow {
  tokenId: string;
  election: string;
}

/** Tags hold characters no election name may (`^[a-z0-9][a-z0-9._:-]*$`), so none is taken for another. */
const OBSERVER_TAG = "#observer";
const tokenTag = (tokenId: string) => `#token ${tokenId}`;
const tenantTag = (tenant: string) => `#tenant ${tenant}`;

/** The text an observer may send; the runtime answers it (`pong`) without waking the coordinator. */
export const OBSERVER_PING = "ping";
export const OBSERVER_PONG = "pong";

/**
 * The coordinator's election observers (`GET /v1/elections/{name}/observe`): hibernatable
 * WebSockets, each tagged with its election (changes are sent to that tag), its token and
 * `#observer`. Bounded per token and per deployment; revoking its token closes it. The edge relays
 * each client's socket and answers its frames itself (src/http/observer-relay.ts): what does reach
 * the coordinator is still metered like a node channel's frames (`ping` is answered by the runtime).
 */
export class Observers {
  private readonly meter: SocketMeter;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly config: Config,
  ) {
    this.meter = new SocketMeter(config.sockets);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(OBSERVER_PING, OBSERVER_PONG));
  }

  /** The open (not closing) observer sockets with `tag`. */
  private open(tag: string): WebSocket[] {
    return this.ctx.getWebSockets(tag).filter((ws) => ws.deserializeAttachment() !== null);
  }

  /**
   * Accepts an observer of `election` for `tokenId` of `tenant` (null: a global admin's, counted per
   * token and per deployment only): 429 past the token's or the deployment's cap, 409
   * `quota_exceeded` past the tenant's (TENANT_MAX_OBSERVERS). The caller sends the first message.
   */
  accept(
    tokenId: string,
    tenant: string | null,
    election: string,
    now: number,
  ): { client: WebSocket; server: WebSocket } {
    const { perToken, total } = this.config.observers;
    if (this.open(tokenTag(tokenId)).length >= perToken) {
      throw ApiError.of("rate_limited", `a token may hold ${perToken} open election observers`);
    }
    const quota = this.config.tenants.maxObservers;
    if (tenant !== null && this.open(tenantTag(tenant)).length >= quota) {
      throw ApiError.of(
        "conflict",
        `tenant ${tenant} holds ${quota} open election observers (TENANT_MAX_OBSERVERS)`,
        "quota_exceeded",
      );
    }
    if (this.open(OBSERVER_TAG).length >= total) {
      throw ApiError.of("rate_limited", `the deployment holds its ${total} open election observers`);
    }
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    // An observer opened before tenants were counted has no tenant tag: it counts once it reconnects.
    const tags = [election, OBSERVER_TAG, tokenTag(tokenId)];
    this.ctx.acceptWebSocket(server, tenant === null ? tags : [...tags, tenantTag(tenant)]);
    const state: ObserverState = { tokenId, election, ...openWindow(now) };
    server.serializeAttachment(state);
    return { client, server };
  }

  /**
   * A frame from an observer: observers only listen, so anything but `ping` is refused with an
   * `error` message and a strike, and so is a frame over the meter's rates; the last strike closes
   * the socket with 1008.
   */
  message(ws: WebSocket, data: string | ArrayBuffer, now: number): void {
    const state = ws.deserializeAttachment() as ObserverState | null;
    if (state === null || !("tokenId" in state)) {
      return; // closed by the coordinator, frames still in flight; or a socket from before observers were metered
    }
    const length = typeof data === "string" ? data.length : data.byteLength;
    const abuse =
      this.meter.admit(state, state.tokenId, length, now) ??
      (data === OBSERVER_PING ? null : `an observer only sends "${OBSERVER_PING}"`);
    if (abuse === null) {
      ws.serializeAttachment(state);
      sendText(ws, OBSERVER_PONG);
      return;
    }
    const spent = this.meter.strike(state);
    ws.serializeAttachment(state);
    sendText(ws, JSON.stringify({ error: { code: "invalid_request", message: abuse } }));
    if (spent) {
      this.close(ws, 1008, "too many refused frames");
    }
  }

  /** The client closed it: its slot is free at once. */
  closed(ws: WebSocket): void {
    try {
      ws.serializeAttachment(null);
    } catch {
      // a socket past its close keeps no attachment
    }
  }

  /** Closes every observer of a revoked token (1008), at once. */
  revoke(tokenId: string): number {
    const sockets = this.open(tokenTag(tokenId));
    for (const ws of sockets) {
      this.close(ws, 1008, "token revoked");
    }
    return sockets.length;
  }

  /** Detaches (frames still in flight are dropped) and closes. */
  private close(ws: WebSocket, code: number, reason: string): void {
    ws.serializeAttachment(null);
    try {
      ws.close(code, reason);
    } catch {
      // already closed
    }
  }
}

function sendText(ws: WebSocket, text: string): void {
  try {
    ws.send(text);
  } catch {
    // closing: nothing to tell
  }
}
