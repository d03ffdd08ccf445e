/**
 * What the simulation reads of each object after a call: its stored rows and what it holds in
 * memory, as plain data for the checks (sim-check.ts).
 */
import type { Coordinator } from "../../durable-objects/coordinator";
import { EMPTY_REPORT, type RegionReport } from "../../durable-objects/messages";
import type { RegionShard } from "../../durable-objects/region-shard";
import type { TaskStatus } from "../../src/core/task-lifecycle";

export type TaskRow = {
  id: string;
  tenant: string;
  status: TaskStatus;
  region: string;
  priority: number;
  node_id: string | null;
  attempts: number;
  run_at: number;
  lease_token: string | null;
  lease_expires_at: number | null;
  result: string | null;
  last_error: string | null;
  updated_at: number;
};

/** What a shard holds after a call. */
export interface ShardSnapshot {
  /** The simulated time of the snapshot. */
  at: number;
  tasks: TaskRow[];
  /** The in-memory counts by status. */
  depth: Record<TaskStatus, number>;
  nodes: {
    id: string;
    tenant: string;
    dead: boolean;
    draining: boolean;
    capacity: number;
    lastSeenAt: number;
    inFlight: number;
  }[];
  storedNodes: Map<string, { dead: number; draining: number; last_seen_at: number; dead_at: number | null }>;
  waiting: string[];
  alarm: number | null;
  /** Node ids in the outbox, oldest first. */
  outbox: string[];
  /** Whether the shard's last message to the coordinator went unacknowledged (it must retry). */
  failed: boolean;
}

/** What the coordinator holds after a call. */
export interface CoordinatorSnapshot {
  elections: Map<string, { term: number; leader: string | null; since: number | null }>;
  candidates: {
    election: string;
    candidate: string;
    node_id: string | null;
    joined_at: number;
    expires_at: number;
  }[];
  /** The load table in memory, and as stored. */
  loads: Map<string, RegionReport>;
  storedLoads: Map<string, RegionReport>;
  gone: Set<string>;
  alarm: number | null;
}

/** A shard once wiped. */
export function emptyShard(at: number): ShardSnapshot {
  return {
    at,
    tasks: [],
    depth: { scheduled: 0, queued: 0, leased: 0, succeeded: 0, failed: 0, canceled: 0 },
    nodes: [],
    storedNodes: new Map(),
    waiting: [],
    alarm: null,
    outbox: [],
    failed: false,
  };
}

/** The coordinator once wiped: its regions with no report yet. */
export function emptyCoordinator(regions: readonly string[]): CoordinatorSnapshot {
  return {
    elections: new Map(),
    candidates: [],
    loads: new Map(regions.map((region) => [region, EMPTY_REPORT])),
    storedLoads: new Map(),
    gone: new Set(),
    alarm: null,
  };
}

export async function shardSnapshot(
  shard: RegionShard,
  ctx: DurableObjectState,
  at: number,
): Promise<ShardSnapshot> {
  const engine = shard.engine;
  const sql = ctx.storage.sql;
  return {
    at,
    tasks: sql
      .exec<TaskRow>(
        "SELECT id, tenant, status, region, priority, node_id, attempts, run_at, lease_token, lease_expires_at, result, last_error, updated_at FROM tasks ORDER BY seq",
      )
      .toArray(),
    depth: engine.tasks.depth(),
    nodes: [...engine.nodes.nodes.values()].map((n) => ({
      id: n.id,
      tenant: n.tenant,
      dead: n.dead,
      draining: n.draining,
      capacity: n.capacity,
      lastSeenAt: n.lastSeenAt,
      inFlight: n.inFlight,
    })),
    storedNodes: new Map(
      sql
        .exec<{ id: string; dead: number; draining: number; last_seen_at: number; dead_at: number | null }>(
          "SELECT id, dead, draining, last_seen_at, dead_at FROM nodes",
        )
        .toArray()
        .map(({ id, ...row }) => [id, row]),
    ),
    waiting: [...engine.nodes.waiting],
    alarm: await ctx.storage.getAlarm(),
    outbox: sql
      .exec<{ body: string }>("SELECT body FROM outbox ORDER BY seq")
      .toArray()
      .map((r) => r.body),
    failed: engine.outbox.failed,
  };
}

export async function coordinatorSnapshot(
  coordinator: Coordinator,
  ctx: DurableObjectState,
): Promise<CoordinatorSnapshot> {
  const sql = ctx.storage.sql;
  const engine = coordinator.engine!;
  return {
    elections: new Map(
      sql
        .exec<{ name: string; term: number; leader: string | null; since: number | null }>(
          "SELECT name, term, leader, since FROM elections",
        )
        .toArray()
        .map(({ name, ...row }) => [name, row]),
    ),
    candidates: sql
      .exec<CoordinatorSnapshot["candidates"][number]>(
        "SELECT election, candidate, node_id, joined_at, expires_at FROM candidates ORDER BY election, joined_at, candidate",
      )
      .toArray(),
    loads: new Map([...engine.regions.regions.values()].map((r) => [r.id, structuredClone(r.load)])),
    storedLoads: new Map(
      sql
        .exec<{ region: string; load: string }>("SELECT region, load FROM region_loads")
        .toArray()
        .map((r) => [r.region, JSON.parse(r.load) as RegionReport]),
    ),
    gone: new Set(
      sql
        .exec<{ node_id: string }>("SELECT node_id FROM gone_nodes")
        .toArray()
        .map((r) => r.node_id),
    ),
    alarm: await ctx.storage.getAlarm(),
  };
}
