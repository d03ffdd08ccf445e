import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { Coordinator } from "../../durable-objects/coordinator";
import type { CoordinatorState } from "../../durable-objects/coordinator/state";
import { createApp } from "../../src/app";

export const ADMIN = "test-admin-token";

export interface Reply<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/**
 * A Meridian of its own for one test: the real Worker app bound to a coordinator Durable Object
 * named for this test, so tests never share state. `clock` drives the coordinator's time.
 */
export class Harness {
  readonly name = crypto.randomUUID();
  readonly app = createApp({ coordinatorName: this.name });
  readonly stub: DurableObjectStub<Coordinator> = env.COORDINATOR.get(env.COORDINATOR.idFromName(this.name));
  /** The coordinator's clock, in ms; advance it with `advance`. */
  now = Date.now();

  /** Starts the coordinator with a clock this test controls. */
  async start(): Promise<this> {
    await this.inside((s) => {
      s.clock = () => this.now;
    });
    return this;
  }

  inside<R>(fn: (state: CoordinatorState) => R | Promise<R>): Promise<R> {
    return runInDurableObject(this.stub, (instance: Coordinator) => fn(instance.state));
  }

  /** Moves the coordinator's clock forward (re-installing it: an eviction forgets the test clock). */
  async advance(ms: number): Promise<void> {
    this.now += ms;
    await this.start();
  }

  async request<T = any>(
    method: string,
    path: string,
    options: { token?: string | null; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
  ): Promise<Reply<T>> {
    const headers: Record<string, string> = { ...options.headers };
    const token = options.token === undefined ? ADMIN : options.token;
    if (token !== null) {
      headers.authorization = `Bearer ${token}`;
    }
    let body: string | undefined = options.raw;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers["content-type"] ??= "application/json";
    }
    const response = await this.app.request(`http://meridian.test${path}`, { method, headers, body }, env);
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text.length > 0 ? JSON.parse(text) : null;
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, body: parsed as T, headers: response.headers };
  }

  get = <T = any>(path: string, token?: string | null) => this.request<T>("GET", path, { token });
  post = <T = any>(path: string, body?: unknown, token?: string | null) =>
    this.request<T>("POST", path, { body: body ?? {}, token });
  put = <T = any>(path: string, body?: unknown, token?: string | null) =>
    this.request<T>("PUT", path, { body, token });
  delete = <T = any>(path: string, token?: string | null) => this.request<T>("DELETE", path, { token });

  /** Mints a token of a role and returns its secret. */
  async token(role: "admin" | "client" | "node" | "reader"): Promise<string> {
    const reply = await this.post("/v1/tokens", { role });
    if (reply.status !== 201) {
      throw new Error(`token: ${reply.status} ${JSON.stringify(reply.body)}`);
    }
    return reply.body.token as string;
  }

  async region(id: string, lat: number, lon: number): Promise<void> {
    const reply = await this.put(`/v1/regions/${id}`, { lat, lon });
    if (reply.status !== 200) {
      throw new Error(`region: ${reply.status} ${JSON.stringify(reply.body)}`);
    }
  }

  /** Registers a node and returns its id. */
  async node(token: string, region: string, capacity = 10): Promise<string> {
    const reply = await this.post("/v1/nodes", { region, capacity }, token);
    if (reply.status !== 201) {
      throw new Error(`node: ${reply.status} ${JSON.stringify(reply.body)}`);
    }
    return reply.body.id as string;
  }

  async submit(body: Record<string, unknown>, token?: string): Promise<Reply> {
    return this.post("/v1/tasks", body, token);
  }

  async poll(nodeId: string, token: string, max = 1, waitMs = 0): Promise<any[]> {
    const reply = await this.post(`/v1/nodes/${nodeId}/poll`, { max, waitMs }, token);
    if (reply.status !== 200) {
      throw new Error(`poll: ${reply.status} ${JSON.stringify(reply.body)}`);
    }
    return reply.body.tasks;
  }
}

export async function harness(): Promise<Harness> {
  return new Harness().start();
}

/** Cities used as task origins. */
export const CITIES = {
  paris: { lat: 48.8566, lon: 2.3522 },
  newYork: { lat: 40.7128, lon: -74.006 },
  tokyo: { lat: 35.6762, lon: 139.6503 },
  saoPaulo: { lat: -23.5505, lon: -46.6333 },
} as const;

/** Regions with their real coordinates. */
export const REGIONS = {
  "eu-west": { lat: 53.3498, lon: -6.2603 }, // Dublin
  "eu-central": { lat: 50.1109, lon: 8.6821 }, // Frankfurt
  "us-east": { lat: 38.9072, lon: -77.0369 }, // Virginia
  "ap-northeast": { lat: 35.6762, lon: 139.6503 }, // Tokyo
} as const;
