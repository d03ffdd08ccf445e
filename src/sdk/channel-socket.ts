/**
 * The WebSocket a node channel runs over: the part of the WHATWG `WebSocket` the SDK uses, so a
 * test (or a proxy) can hand in its own. The default is the runtime's global `WebSocket`; Node 22's
 * (undici) takes request headers, which carry the node's bearer token.
 */

/** What the channel needs of a socket (a subset of the WHATWG `WebSocket`). */
export interface ChannelSocket {
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: "open", listener: () => void): void;
  addEventListener(type: "message", listener: (event: { data: unknown }) => void): void;
  addEventListener(type: "close", listener: (event: { code: number; reason: string }) => void): void;
  addEventListener(type: "error", listener: (event: unknown) => void): void;
}

/** Opens a socket to `url` with these request headers (`authorization: Bearer …`). */
export type WebSocketFactory = (url: string, init: { headers: Record<string, string> }) => ChannelSocket;

export const SOCKET_OPEN = 1;

/** The runtime's global `WebSocket` (Node 22+: undici's, which accepts `headers`). */
export const globalWebSocket: WebSocketFactory = (url, init) => {
  // The global's declared constructor differs between the Node and Workers typings; Node's takes `{ headers }`.
  const WebSocketClass = (globalThis as { WebSocket?: new (url: string, init: unknown) => ChannelSocket })
    .WebSocket;
  if (!WebSocketClass) {
    throw new Error("this runtime has no global WebSocket (Node 22+ has one): pass the webSocket option");
  }
  return new WebSocketClass(url, init);
};

/** `GET /v1/nodes/{id}/channel` on Meridian at `baseUrl`, as a ws:// or wss:// URL. */
export function channelUrl(baseUrl: string, nodeId: string): string {
  const base = baseUrl.replace(/\/+$/, "").replace(/^http(s?):/i, "ws$1:");
  return `${base}/v1/nodes/${encodeURIComponent(nodeId)}/channel`;
}
