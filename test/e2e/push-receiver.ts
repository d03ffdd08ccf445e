import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { verifyWebhook } from "../../src/sdk/index.ts";
import type { LeasedTaskView } from "../../src/sdk/types.ts";

/** What the test's executor answers for one delivery (after `delayMs`). */
export interface Answer {
  status: number;
  body?: unknown;
  delayMs?: number;
}

/** One request the receiver got: verified with the SDK (the task), or refused (why). */
export interface Delivery {
  headers: IncomingHttpHeaders;
  task: LeasedTaskView | null;
  refused: string | null;
  /** Set when the answer was written (a slow one comes late). */
  answeredAt: number | null;
}

/**
 * A real HTTP executor on 127.0.0.1: every request is verified with the SDK's verifyWebhook against
 * the endpoint's secret (401 when it does not verify), then answered as `answer` says.
 */
export class PushReceiver {
  readonly deliveries: Delivery[] = [];
  secret = "";
  url = "";
  answer: (task: LeasedTaskView) => Answer = () => ({ status: 200, body: { ok: true } });
  private server: Server | null = null;

  async start(): Promise<this> {
    const server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) {
        chunks.push(chunk as Buffer);
      }
      const body = Buffer.concat(chunks).toString("utf8");
      const delivery: Delivery = { headers: req.headers, task: null, refused: null, answeredAt: null };
      this.deliveries.push(delivery);
      try {
        delivery.task = await verifyWebhook(this.secret, req.headers, body);
      } catch (error) {
        delivery.refused = String(error);
        res.writeHead(401).end();
        delivery.answeredAt = Date.now();
        return;
      }
      const answer = this.answer(delivery.task);
      if (answer.delayMs) {
        await new Promise((r) => setTimeout(r, answer.delayMs));
      }
      const text = answer.body === undefined ? "" : JSON.stringify(answer.body);
      res.writeHead(answer.status, { "content-type": "application/json" }).end(text);
      delivery.answeredAt = Date.now();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    this.url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/run`;
    this.server = server;
    return this;
  }

  /** The verified deliveries of one task, in arrival order. */
  of(taskId: string): Delivery[] {
    return this.deliveries.filter((d) => d.task?.id === taskId);
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}
