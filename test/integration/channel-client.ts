import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { AUTH_CACHE_TTL_MS } from "../../src/http/auth-cache";
import type { Harness } from "./harness";

/** How long a test waits for a frame that should come before it fails with a message. */
const FRAME_WAIT_MS = 2000;

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
      this.waiting?.({ op: "closed", code: event.code, reason: event.reason });
    });
  }

  /** Sends a frame: an object as JSON, a string or a binary frame as it is. */
  send(frame: unknown): void {
    this.ws.send(typeof frame === "string" || frame instanceof ArrayBuffer ? frame : JSON.stringify(frame));
  }

  /** The next frame (waits for it: frames arrive as the shard handles the ones sent), or `{op: "closed"}`. */
  next(): Promise<any> {
    const frame = this.frames.shift();
    if (frame !== undefined) {
      return Promise.resolve(frame);
    }
    if (this.closed) {
      return Promise.resolve({ op: "closed", ...this.closed });
    }
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      // A frame that never comes fails the test with a message, not a timeout of the whole test.
      setTimeout(() => reject(new Error(`no frame came within ${FRAME_WAIT_MS} ms`)), FRAME_WAIT_MS);
    });
  }

  /** Sends a frame and returns the next frame received. */
  async ask(frame: unknown): Promise<any> {
    this.send(frame);
    return this.next();
  }
}

/**
 * Asks for a node's channel through the Worker (the harness's edge, or another isolate's `app`): the
 * socket on 101, else the status and body.
 */
export async function openChannel(
  h: Harness,
  nodeId: string,
  token: string,
  app: Pick<Harness["app"], "request"> = h.app,
): Promise<{ status: number; channel: TestChannel | null; body: string }> {
  const response = await app.request(
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

/** Revocations the coordinator has yet to confirm with a shard. */
export function revocationsLeft(h: Harness): Promise<unknown[]> {
  return runInDurableObject(h.stub, (_, ctx) => ctx.storage.sql.exec("SELECT * FROM revocations").toArray());
}

/**
 * Runs the coordinator's second round of revocation pushes (due once every edge has forgotten the
 * token), so a test leaves no alarm to fire while the runtime shuts down; returns what is left.
 */
export async function finishRevocations(h: Harness): Promise<unknown[]> {
  await h.advance(AUTH_CACHE_TTL_MS);
  await runDurableObjectAlarm(h.stub);
  return revocationsLeft(h);
}
