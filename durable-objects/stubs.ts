import type { LatLon } from "../src/core/geo-routing";
import { locationHintFor } from "../src/core/location-hint";
import type { Coordinator } from "./coordinator";
import type { EventHub } from "./event-hub";
import type { IdempotencyKeys } from "./idempotency-keys";
import { shardName } from "./messages";
import type { RegionShard } from "./region-shard";

/**
 * Object ids by class and name. `idFromName` hashes the name on every call, and was ~15% of the
 * runtime's CPU in a channel campaign's profile; an id is a plain value (no I/O), safe to keep
 * across requests, unlike a stub. Bounded: cleared when full (one entry per token's keys object).
 */
const ids = new Map<string, DurableObjectId>();
const MAX_IDS = 10_000;

function idOf(
  ns: { idFromName(name: string): DurableObjectId },
  kind: string,
  name: string,
): DurableObjectId {
  const key = `${kind}/${name}`;
  let id = ids.get(key);
  if (id === undefined) {
    if (ids.size >= MAX_IDS) {
      ids.clear();
    }
    id = ns.idFromName(name);
    ids.set(key, id);
  }
  return id;
}

/** The coordinator of a deployment. */
export function coordinatorStub(env: Env, deployment: string): DurableObjectStub<Coordinator> {
  return env.COORDINATOR.get(idOf(env.COORDINATOR, "coordinator", deployment));
}

/** The event hub of a deployment (GET /v1/events). */
export function eventHubStub(env: Env, deployment: string): DurableObjectStub<EventHub> {
  return env.EVENT_HUB.get(idOf(env.EVENT_HUB, "events", deployment));
}

/** The idempotency keys object of one token (`scope`) in a deployment. */
export function keysStub(env: Env, deployment: string, scope: string): DurableObjectStub<IdempotencyKeys> {
  return env.IDEMPOTENCY_KEYS.get(idOf(env.IDEMPOTENCY_KEYS, "keys", `${deployment}/${scope}`));
}

/**
 * A region's shard. Given the region's coordinates, the object is created near them (a location
 * hint only matters the first time an object is reached; later it is where it was created).
 */
export function shardStub(
  env: Env,
  deployment: string,
  region: string,
  at?: LatLon,
): DurableObjectStub<RegionShard> {
  const ns = env.REGION_SHARD;
  const id = idOf(ns, "shard", shardName(deployment, region));
  return at === undefined ? ns.get(id) : ns.get(id, { locationHint: locationHintFor(at) });
}
