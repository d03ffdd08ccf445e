import type { Context } from "hono";
import type { RegionShard, ShardStats } from "../../durable-objects/region-shard";
import type { NodePageQuery } from "../../durable-objects/region-shard/node-pages";
import type { TaskPageQuery } from "../../durable-objects/region-shard/task-pages";
import type { NodeView } from "../../durable-objects/region-shard/views";
import { ApiError } from "../core/errors";
import { regionOfNodeId, regionOfTaskId } from "../core/ids";
import { itemBudget, mergePages } from "../core/list-pages";
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
 * page (ids sort by creation time everywhere). Each shard answers its newest tasks before the cursor
 * within the count and the byte budget (as JSON texts: payloads are never parsed on the way); the
 * merged page keeps no task past a shard that stopped early (src/core/list-pages.ts). Answers the
 * reply's JSON text, which never holds more than `budget` bytes.
 */
export async function taskPageAcrossShards(
  c: Context<AppEnv>,
  shards: string[],
  query: Omit<TaskPageQuery, "maxBytes" | "tenant">,
  budget: number,
): Promise<string> {
  const maxBytes = itemBudget(budget);
  const pages = await Promise.all(
    shards.map(async (region) =>
      unwrap(await c.var.edge.shard(region).listTasks(c.var.principal, { ...query, maxBytes })),
    ),
  );
  const page = mergePages(pages, "desc", query.limit, maxBytes);
  const last = page.items[page.items.length - 1];
  const cursor = page.more && last !== undefined ? last.key : null;
  return `{"tasks":[${page.items.map((t) => t.json).join(",")}],"cursor":${JSON.stringify(cursor)}}`;
}

/** A page of nodes across shards, by id, within the count and the byte budget. */
export async function nodePageAcrossShards(
  c: Context<AppEnv>,
  regions: string[],
  query: Omit<NodePageQuery, "maxBytes" | "tenant">,
  budget: number,
): Promise<{ nodes: NodeView[]; cursor: string | null }> {
  const maxBytes = itemBudget(budget);
  const pages = await Promise.all(
    regions.map(async (region) =>
      unwrap(await c.var.edge.shard(region).listNodes(c.var.principal, { ...query, maxBytes })),
    ),
  );
  const page = mergePages(pages, "asc", query.limit, maxBytes);
  const last = page.items[page.items.length - 1];
  return { nodes: page.items.map((n) => n.node), cursor: page.more && last !== undefined ? last.key : null };
}
