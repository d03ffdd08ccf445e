/**
 * A node's channel as an integration test drives it, through the Worker's upgrade: frames sent as
 * JSON, frames received in order (channel.test.ts, simulation-regressions.test.ts).
 */
import { env } from "cloudflare:workers";
import type { Harness } from "./harness";

/** A node's channel as a test drives it: frames sent as JSON, frames received in order. */
export class TestChannel {
  private readonly frames: any[] = [];
  private waiting: ((frame: any) => void) | null = null;
  closed: { code: number; reason: string } | null = null;

  constructor(readonly ws: WebSocket) {
    ws.accept();
    ws.addEventListener("message", (event) => {
      const frame = JSON.parse(event.data as string);
      if (this.waiting) {
        const resolve = this.waiting;
        this.waiting = null;
        resolve(frame);
      } else {
        this.frames.push(frame);
      }
    });
    ws.addEventListener("close", (event) => {
      this.closed = { code: event.code, reason: event.reason };
      this.waiting?.({ op: "closed", code: event.code });
    });
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** The next frame (waits for it: frames arrive as the shard handles the ones sent). */
  next(): Promise<any> {
    const frame = this.frames.shift();
    if (frame !== undefined) {
      return Promise.resolve(frame);
    }
    if (this.closed) {
      return Promise.resolve({ op: "closed", code: this.closed.code });
    }
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      // A frame that never comes fails the test with a message, not a timeout of the whole test.
      setTimeout(() => reject(new Error("no frame came within 2 s")), 2000);
    });
  }

  /** Sends a frame and returns the next frame received. */
  async ask(frame: unknown): Promise<any> {
    this.send(frame);
    return this.next();
  }
}

export async function openChannel(
  h: Harness,
  nodeId: string,
  token: string,
): Promise<{ status: number; channel: TestChannel | null; body: string }> {
  const response = await h.app.request(
    `http://meridian.test/v1/nodes/${nodeId}/channel`,
    { headers: { upgrade: "websocket", authorization: `Bearer ${token}` } },
    env,
  );
  return {
    status: response.status,
    channel: response.webSocket ? new TestChannel(response.webSocket) : null,
    body: response.webSocket ? "" : await response.text(),
  };
}
