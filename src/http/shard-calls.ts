import type { Context } from "hono";
import type { RegionShard, ShardStats } from "../../durable-objects/region-shard";
import type { TaskView } from "../../durable-objects/region-shard/views";
import { ApiError, type Result } from "../core/errors";
import { regionOfNodeId, regionOfTaskId } from "../core/ids";
import type { AppEnv } from "./context";
import { unwrap } from "./errors";

/** The shard of a region named by a caller (an id, a filter), or null when it never existed. */
export async function knownShard(
  c: Context<AppEnv>,
  region: string | null,
): Promise<DurableObjectStub<RegionShard> | null> {
  return region !== null && (await c.var.edge.table.knows(region)) ? c.var.edge.shard(region) : null;
}

/** The shard holding a task (its id names it), or 404. */
export async function taskShard(c: Context<AppEnv>, id: string): Promise<DurableObjectStub<RegionShard>> {
  const shard = await knownShard(c, regionOfTaskId(id));
  if (shard === null) {
    throw ApiError.of("not_found", `no task ${id}`);
  }
  return shard;
}

/** The shard holding a node (its id names it), or 404. */
export async function nodeShard(c: Context<AppEnv>, id: string): Promise<DurableObjectStub<RegionShard>> {
  const shard = await knownShard(c, regionOfNodeId(id));
  if (shard === null) {
    throw ApiError.of("not_found", `no node ${id}`);
  }
  return shard;
}

/** A region that exists (looked up once more when this isolate's copy of the table lacks it), or 404. */
export async function existingRegion(c: Context<AppEnv>, id: string) {
  const region = await c.var.edge.table.region(id);
  if (region === undefined) {
    throw ApiError.of("not_found", `no region ${id}`);
  }
  return region;
}

/** Every current region's live numbers from its shard, in the table's order. */
export async function regionStats(c: Context<AppEnv>, regions: { id: string; lat: number; lon: number }[]) {
  return Promise.all(
    regions.map(
      async (r): Promise<ShardStats> => unwrap(await c.var.edge.shard(r.id, r).stats(c.var.principal)),
    ),
  );
}

/**
 * A page of tasks across shards, newest first, behind one cursor: the id of the last task on the
 * page (ids sort by creation time everywhere). Each shard gives its newest `limit + 1` before the
 * cursor; the merged page is the newest `limit` of those, and there is more when any was left over.
 */
export async function listAcrossShards(
  c: Context<AppEnv>,
  shards: string[],
  filter: { status?: TaskView["status"]; type?: string; limit: number; before?: string },
): Promise<{ tasks: TaskView[]; cursor: string | null }> {
  const pages = await Promise.all(
    shards.map(async (region) => {
      // A task's payload is `unknown`, which RPC's types cannot express: the result is typed here.
      const reply = (await c.var.edge
        .shard(region)
        .listTasks(c.var.principal, { ...filter, limit: filter.limit + 1 })) as Result<{ tasks: TaskView[] }>;
      return unwrap(reply).tasks;
    }),
  );
  const merged = pages.flat().sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  const page = merged.slice(0, filter.limit);
  return { tasks: page, cursor: merged.length > filter.limit ? page[page.length - 1]!.id : null };
}
