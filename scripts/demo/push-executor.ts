// The demo's push executor: examples/push-executor.ts as a process of its own, behind the endpoint
// of the region that has no agents. Its endpoint is made afresh at start (the secret is shown only
// when an endpoint is created) and deleted at the end, so `npm run dev` later finds no dead one.
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import type { Writable } from "node:stream";
import type { HttpClient } from "../../src/sdk/http.ts";

const root = join(import.meta.dirname, "..", "..");
const NAME = "executor";

/** What the view shows of an endpoint. */
export interface PushState {
  state: string;
  inFlight: number;
  capacity: number;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

export class DemoPushExecutor {
  private child: ChildProcess | null = null;
  state: PushState | null = null;
  private readonly admin: HttpClient;
  readonly region: string;
  private readonly capacity: number;
  private readonly log: Writable;

  // (No parameter properties: Node runs this file by stripping types.)
  constructor(admin: HttpClient, region: string, capacity: number, log: Writable) {
    this.admin = admin;
    this.region = region;
    this.capacity = capacity;
    this.log = log;
  }

  private get path(): string {
    return `/v1/regions/${this.region}/endpoints/${NAME}`;
  }

  async start(): Promise<void> {
    const port = await freePort();
    await this.admin.delete(this.path).catch(() => undefined); // 404 when there is none
    const created = await this.admin.put<{ secret: string }>(this.path, {
      url: `http://127.0.0.1:${port}/`,
      capacity: this.capacity,
      timeoutMs: 5000,
    });
    const child = spawn(process.execPath, [join(root, "examples", "push-executor.ts")], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, MERIDIAN_ENDPOINT_SECRET: created.secret, PORT: String(port) },
    });
    for (const stream of [child.stdout, child.stderr]) {
      stream?.on("data", (chunk: Buffer) => this.log.write(`[push ${this.region}] ${chunk}`));
    }
    this.child = child;
  }

  /** Reads the endpoint's breaker and load, for the view. */
  async refresh(): Promise<void> {
    const e = await this.admin.get<{ breaker: { state: string }; inFlight: number; capacity: number }>(
      this.path,
    );
    this.state = { state: e.breaker.state, inFlight: e.inFlight, capacity: e.capacity };
  }

  async stop(): Promise<void> {
    await this.admin.delete(this.path, { timeoutMs: 1000 }).catch(() => undefined);
    this.killNow();
  }

  killNow(): void {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill("SIGTERM");
    }
  }
}
