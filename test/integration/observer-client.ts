import { env } from "cloudflare:workers";
import type { Harness } from "./harness";

/** How long a test waits for a message that should come before it fails with a message. */
const MESSAGE_WAIT_MS = 2000;

/** An election observer's WebSocket as a test drives it: texts received in order, the close seen. */
export class TestObserver {
  private readonly messages: string[] = [];
  private waiting: ((text: string) => void) | null = null;
  closed: { code: number; reason: string } | null = null;

  constructor(readonly ws: WebSocket) {
    ws.accept();
    ws.addEventListener("message", (event) => {
      const text = event.data as string;
      if (this.waiting) {
        const resolve = this.waiting;
        this.waiting = null;
        resolve(text);
      } else {
        this.messages.push(text);
      }
    });
    ws.addEventListener("close", (event) => {
      this.closed = { code: event.code, reason: event.reason };
      this.waiting?.(`closed ${event.code}`);
    });
  }

  /** The next text received, or `closed <code>`. */
  next(): Promise<string> {
    const text = this.messages.shift();
    if (text !== undefined) {
      return Promise.resolve(text);
    }
    if (this.closed) {
      return Promise.resolve(`closed ${this.closed.code}`);
    }
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      setTimeout(() => reject(new Error(`no message came within ${MESSAGE_WAIT_MS} ms`)), MESSAGE_WAIT_MS);
    });
  }

  async ask(text: string): Promise<string> {
    this.ws.send(text);
    return this.next();
  }
}

/** Asks to observe an election (WebSocket); the observer on 101, else the status and body. */
export async function observe(
  h: Harness,
  election: string,
  token: string,
  app: Pick<Harness["app"], "request"> = h.app,
): Promise<{ status: number; observer: TestObserver | null; body: string }> {
  const response = await app.request(
    `http://meridian.test/v1/elections/${election}/observe`,
    { headers: { upgrade: "websocket", authorization: `Bearer ${token}` } },
    env,
  );
  return {
    status: response.status,
    observer: response.webSocket ? new TestObserver(response.webSocket) : null,
    body: response.webSocket ? "" : await response.text(),
  };
}

/** Opens an election's Server-Sent Events stream (no upgrade). */
export function observeSse(h: Harness, election: string, token: string): Promise<Response> {
  return h.app.request(
    `http://meridian.test/v1/elections/${election}/observe`,
    { headers: { authorization: `Bearer ${token}` } },
    env,
  ) as Promise<Response>;
}
