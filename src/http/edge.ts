import type { Coordinator } from "../../durable-objects/coordinator";
import type { EventHub } from "../../durable-objects/event-hub";
import type { IdempotencyKeys } from "../../durable-objects/idempotency-keys";
import type { RegionShard } from "../../durable-objects/region-shard";
import { coordinatorStub, eventHubStub, keysStub, shardStub } from "../../durable-objects/stubs";
import type { LatLon } from "../core/geo-routing";
import { AuthCache } from "./auth-cache";
import { unwrap } from "./errors";
import { RoutingTableCache } from "./routing-table";

/**
 * What an edge isolate keeps between requests: its auth cache and its copy of the routing table,
 * and the way to each object of its deployment. One per app (per isolate in production; a test may
 * make several to stand for several isolates).
 */
export class Edge {
  readonly auth: AuthCache;
  readonly table: RoutingTableCache;

  constructor(
    readonly env: Env,
    /** The coordinator's name; shards are named after it and their region. */
    readonly deployment: string,
    readonly clock: () => number,
  ) {
    this.auth = new AuthCache(async (hash) => unwrap(await this.coordinator().authenticate(hash)), clock);
    this.table = new RoutingTableCache(async () => unwrap(await this.coordinator().routingTable()), clock);
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

  /** The idempotency keys of one token (one object per token: its keys are global across regions). */
  keys(scope: string): DurableObjectStub<IdempotencyKeys> {
    return keysStub(this.env, this.deployment, scope);
  }
}
