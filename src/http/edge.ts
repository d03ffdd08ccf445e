import type { Coordinator } from "../../durable-objects/coordinator";
import type { EdgeMetrics } from "../../durable-objects/edge-metrics";
import type { EventHub } from "../../durable-objects/event-hub";
import type { IdempotencyKeys } from "../../durable-objects/idempotency-keys";
import type { RegionShard } from "../../durable-objects/region-shard";
import {
  coordinatorStub,
  edgeMetricsStub,
  eventHubStub,
  keysStub,
  shardStub,
} from "../../durable-objects/stubs";
import { parseConfig } from "../core/config";
import type { LatLon } from "../core/geo-routing";
import { SocketMeter } from "../core/socket-meter";
import { AuthCache } from "./auth-cache";
import { EdgeHttpMetrics } from "./edge-http-metrics";
import { unwrap } from "./errors";
import { RefusalLimiter } from "./refusals";
import { RoutingTableCache } from "./routing-table";

/**
 * What an edge isolate keeps between requests: its auth cache, its copy of the routing table, the
 * HTTP metrics it has not yet sent, and the way to each object of its deployment. One per app (per isolate in production; a test may
 * make several to stand for several isolates).
 */
export class Edge {
  readonly auth: AuthCache;
  readonly table: RoutingTableCache;
  readonly httpMetrics: EdgeHttpMetrics;
  /** 401/403 answers per client address in this isolate. */
  readonly refusals: RefusalLimiter;
  /** What the observer sockets this isolate relays may send (per socket, per token, per isolate). */
  readonly socketMeter: SocketMeter;

  constructor(
    readonly env: Env,
    /** The coordinator's name; shards are named after it and their region. */
    readonly deployment: string,
    readonly clock: () => number,
  ) {
    const config = parseConfig(env as unknown as Record<string, unknown>);
    this.refusals = new RefusalLimiter(config.refusals);
    this.socketMeter = new SocketMeter(config.sockets);
    this.auth = new AuthCache(async (hash) => unwrap(await this.coordinator().authenticate(hash)), clock);
    this.table = new RoutingTableCache(async () => unwrap(await this.coordinator().routingTable()), clock);
    this.httpMetrics = new EdgeHttpMetrics(async (delta) => {
      unwrap(await this.edgeMetrics().add(delta));
    }, clock);
  }

  coordinator(): DurableObjectStub<Coordinator> {
    return coordinatorStub(this.env, this.deployment);
  }

  shard(region: string, at?: LatLon): DurableObjectStub<RegionShard> {
    return shardStub(this.env, this.deployment, region, at);
  }

  /** The deployment's event hub (GET /v1/events). */
  events(): DurableObjectStub<EventHub> {
    return eventHubStub(this.env, this.deployment);
  }

  /** The object that sums every isolate's HTTP metrics. */
  edgeMetrics(): DurableObjectStub<EdgeMetrics> {
    return edgeMetricsStub(this.env, this.deployment);
  }

  /** The idempotency keys of one token (one object per token: its keys are global across regions). */
  keys(scope: string): DurableObjectStub<IdempotencyKeys> {
    return keysStub(this.env, this.deployment, scope);
  }
}
