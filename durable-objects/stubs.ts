import type { LatLon } from "../src/core/geo-routing";
import { locationHintFor } from "../src/core/location-hint";
import type { Coordinator } from "./coordinator";
import { shardName } from "./messages";
import type { RegionShard } from "./region-shard";

/** The coordinator of a deployment. */
export function coordinatorStub(env: Env, deployment: string): DurableObjectStub<Coordinator> {
  return env.COORDINATOR.get(env.COORDINATOR.idFromName(deployment));
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
  const id = ns.idFromName(shardName(deployment, region));
  return at === undefined ? ns.get(id) : ns.get(id, { locationHint: locationHintFor(at) });
}
