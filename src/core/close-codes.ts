/**
 * The close code to send back when a peer's close arrives with `code`. 1005 (no code), 1006
 * (abnormal: the connection dropped) and 1015 (TLS) are reported by the runtime but may never be
 * sent, nor may 1004 or codes outside 1000-4999 (workerd throws "Invalid WebSocket close code"):
 * those become 1000. Others are echoed, as RFC 6455 §5.5.1 suggests.
 */
export function closeCodeToEcho(code: number): number {
  const sendable =
    Number.isInteger(code) &&
    ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999));
  return sendable ? code : 1000;
}

/** Completes a close handshake the peer started; a socket already closed is left alone. */
export function echoClose(ws: { close(code?: number, reason?: string): void }, code: number): void {
  try {
    ws.close(closeCodeToEcho(code), "closed");
  } catch {
    // already closed, or closing
  }
}
