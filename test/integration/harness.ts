import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach } from "vitest";
import type { Coordinator } from "../../durable-objects/coordinator";
import type { CoordinatorEngine } from "../../durable-objects/coordinator/coordinator-engine";
import type { EventHub } from "../../durable-objects/event-hub";
import type { RegionShard } from "../../durable-objects/region-shard";
import type { ShardDependencies, ShardEngine } from "../../durable-objects/region-shard/shard-engine";
import { coordinatorStub, eventHubStub, shardStub } from "../../durable-objects/stubs";
import { createApp } from "../../src/app";

export const ADMIN = "test-admin-token";

export interface Reply<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/**
 * A Meridian of its own for one test: the real Worker app bound to a deployment named for this test
 * (its own coordinator and region shards), so tests never share state. `now` drives the clock of
 * the edge, the coordinator and every shard the test creates a region for.
 */
export class Harness {
  readonly name = crypto.randomUUID();
  readonly clock = () => this.now;
  readonly app = createApp({ deployment: this.name, clock: this.clock });
  readonly stub: DurableObjectStub<Coordinator> = coordinatorStub(env, this.name);
  /** The test's clock, in ms; advance it with `advance`. */
  now = Date.now();
  /** The regions created through this harness (their shards run on the test's clock). */
  readonly regions = new Set<string>();
  /** The bindings the edge sees: wrangler.toml's, with this test's settings over them (see `settings`). */
  private bindings: Env = env;

  /**
   * Settings the edge reads from now on (e.g. `LIST_BYTE_BUDGET`), over wrangler.toml's. Objects
   * keep reading their own env: only what the edge decides and passes to them changes.
   */
  settings(values: Record<string, string>): this {
    this.bindings = { ...env, ...values } as Env;
    return this;
  }

  /** Starts the coordinator with the test's clock. */
  async start(): Promise<this> {
    await runInDurableObject(this.stub, (instance: Coordinator) =>
      instance.restartWith({ clock: this.clock }),
    );
    return this;
  }

  shard(region: string): DurableObjectStub<RegionShard> {
    return shardStub(env, this.name, region);
  }

  /** The deployment's event hub. */
  hub(): DurableObjectStub<EventHub> {
    return eventHubStub(env, this.name);
  }

  /**
   * Sends the events the coordinator and the test's shards hold to the hub now, coordinator last
   * (they would go within EVENT_FLUSH_MS on their own; a test does not wait for a timer).
   */
  async flushEvents(): Promise<void> {
    for (const region of this.regions) {
      await this.insideShard(region, (engine) => engine.events.flush());
    }
    // (No engine: a coordinator that refused its storage, e.g. the schema tests' legacy database.)
    await runInDurableObject(this.stub, (instance: Coordinator) => instance.engine?.events.flush());
  }

  /** `GET /v1/events` (plus `query`) as the response itself: its body is the stream. */
  openEvents(
    query = "",
    token: string | null = ADMIN,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    const all = token === null ? headers : { ...headers, authorization: `Bearer ${token}` };
    return this.app.request(
      `http://meridian.test/v1/events${query}`,
      { headers: all },
      env,
    ) as Promise<Response>;
  }

  /** Runs `fn` inside the coordinator, with what it holds in memory. */
  inside<R>(fn: (engine: CoordinatorEngine) => R | Promise<R>): Promise<R> {
    return runInDurableObject(this.stub, (instance: Coordinator) => fn(instance.engine!));
  }

  /** Runs `fn` inside a region's shard, with what it holds in memory. */
  insideShard<R>(region: string, fn: (engine: ShardEngine) => R | Promise<R>): Promise<R> {
    return runInDurableObject(this.shard(region), (instance: RegionShard) => fn(instance.engine));
  }

  /** Restarts a region's shard on the test's clock (after an eviction, or when it is first made). */
  async startShard(region: string, deps: Partial<ShardDependencies> = {}): Promise<void> {
    this.regions.add(region);
    await runInDurableObject(this.shard(region), (instance: RegionShard) =>
      instance.restartWith({ clock: this.clock, ...deps }),
    );
  }

  /** Runs a region's shard alarm now; whether one was set. */
  alarm(region: string): Promise<boolean> {
    return runDurableObjectAlarm(this.shard(region));
  }

  /** Evicts the coordinator and every shard (memory gone, storage kept), then restarts them on the test's clock. */
  async evictAll(): Promise<void> {
    await evictDurableObject(this.stub);
    for (const region of this.regions) {
      await evictDurableObject(this.shard(region));
    }
    await this.start();
    for (const region of this.regions) {
      await this.startShard(region);
    }
  }

  /** Runs SQL inside a region's shard. */
  shardSql<T extends Record<string, SqlStorageValue>>(
    region: string,
    query: string,
    ...args: SqlStorageValue[]
  ) {
    return runInDurableObject(this.shard(region), (_: RegionShard, ctx) =>
      ctx.storage.sql.exec<T>(query, ...args).toArray(),
    );
  }

  /** Moves the clock forward (every object reads it through `clock`). */
  async advance(ms: number): Promise<void> {
    this.now += ms;
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
    const response = await this.app.request(
      `http://meridian.test${path}`,
      { method, headers, body },
      this.bindings,
    );
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
    if (!this.regions.has(id)) {
      await this.startShard(id);
    }
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

/** The harnesses of the test running now (each test file imports this module once). */
const running = new Set<Harness>();

// Events still held when a test ends would go to the hub on a timer after it, possibly while the
// runtime tears the test file down: an RPC cut off then fails the run ("Closing rpc while ... was
// pending"). Each test sends its shards' and coordinator's events before it ends instead.
afterEach(async () => {
  for (const h of running) {
    await h.flushEvents();
  }
  running.clear();
});

export async function harness(): Promise<Harness> {
  const h = await new Harness().start();
  running.add(h);
  return h;
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

/**
 * A harness with every region of REGIONS, a node token, a client token, and in each region named in
 * `capacities` one node of that capacity (the others have no node: unhealthy).
 */
export async function world(capacities: Partial<Record<keyof typeof REGIONS, number>>) {
  const h = await harness();
  const node = await h.token("node");
  const client = await h.token("client");
  const nodes: Record<string, string> = {};
  for (const [id, at] of Object.entries(REGIONS)) {
    await h.region(id, at.lat, at.lon);
    const capacity = capacities[id as keyof typeof REGIONS];
    if (capacity !== undefined) {
      nodes[id] = await h.node(node, id, capacity);
    }
  }
  return { h, node, client, nodes };
}
