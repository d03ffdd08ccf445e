/**
 * The system under simulation: the real coordinator and two real region shards, each in its own
 * Durable Object over its own SQLite storage, with the clock, the back-off jitter, the timers and
 * the network between them in the simulation's hands.
 *
 * Each call runs inside its object (`runInDurableObject`), which then photographs what the object
 * holds, in storage and in memory: the checks read those snapshots. Objects only change during the
 * calls the simulation makes, so the latest snapshot of each is its state after every step. A long
 * poll is the one call made through the stub, so that its request stays open while it waits.
 *
 * A restart is the runtime's: `restartWith` drops everything in memory (long polls are cut off,
 * like their HTTP requests, and the object's timers go) and loads the storage again. The objects
 * are reused from run to run, their tables and alarms wiped (a new object costs ~10 ms); each
 * region keeps its configuration.
 */
import { runInDurableObject } from "cloudflare:test";
import type { Coordinator } from "../../durable-objects/coordinator";
import type { CoordinatorDependencies } from "../../durable-objects/coordinator/coordinator-engine";
import type { IdempotencyKeys } from "../../durable-objects/idempotency-keys";
import type { RegionShard } from "../../durable-objects/region-shard";
import type { LeasedTask } from "../../durable-objects/region-shard/scheduler";
import type { ShardDependencies } from "../../durable-objects/region-shard/shard-engine";
import { coordinatorStub, shardStub } from "../../durable-objects/stubs";
import type { Result } from "../../src/core/errors";
import type { Principal } from "../../src/core/permissions";
import type { ShardProbe } from "./sim-network";
import {
  type CoordinatorSnapshot,
  coordinatorSnapshot,
  emptyCoordinator,
  emptyShard,
  type ShardSnapshot,
  shardSnapshot,
} from "./sim-snapshots";
import { absorbRuntimeEvents, closeAll, type SimSocket, settleCloses } from "./sim-sockets";
import type { SimTimers } from "./sim-timers";

/** The global admin: the harness's own calls (setup, quiescing, inspection) that must see every tenant. */
export const ADMIN: Principal = { role: "admin", tokenId: "admin", tenant: null };
/**
 * The run's two tenants: each task and node gets one at random, and the operations on it call as
 * its tenant's admin (the roles within a tenant are the auth matrix's job). Both share the token
 * id, and with it the idempotency-key object the harness wipes; keys are named per tenant, so only
 * the tenant keeps them apart, as it alone must keep apart tasks, nodes, leases and elections.
 */
export const TENANTS = ["default", "t2"] as const;
export type Tenant = (typeof TENANTS)[number];
const TENANT_ADMINS: Record<Tenant, Principal> = {
  default: { role: "admin", tokenId: "admin", tenant: "default" },
  t2: { role: "admin", tokenId: "admin", tenant: "t2" },
};
/** The admin of `tenant`. */
export function as(tenant: string): Principal {
  const principal = TENANT_ADMINS[tenant as Tenant];
  if (!principal) {
    throw new Error(`no tenant ${tenant} in the simulation`);
  }
  return principal;
}
/** The tenant that is not `tenant`. */
export function otherTenant(tenant: string): Tenant {
  return tenant === "default" ? "t2" : "default";
}
/** The regions, each with its shard: Paris and New York. */
export const REGIONS = { r1: { lat: 48.85, lon: 2.35 }, r2: { lat: 40.71, lon: -74.0 } } as const;
export type Region = keyof typeof REGIONS;
export const REGION_IDS = Object.keys(REGIONS) as Region[];

export type PollReply = Result<{ tasks: LeasedTask[] }>;
export type { ShardSnapshot, TaskRow } from "./sim-snapshots";

const SHARD_TABLES = ["tasks", "nodes", "outbox"] as const;
const COORDINATOR_TABLES = [
  "tokens",
  "elections",
  "candidates",
  "region_loads",
  "gone_nodes",
  "election_watchers",
] as const;

type Target = Region | "coordinator";

/** The object a visit is in, and how to reach it without a new request. */
type Visit =
  | { target: Region; shard: RegionShard; ctx: DurableObjectState; photograph: () => Promise<void> }
  | { target: "coordinator"; coordinator: Coordinator; ctx: DurableObjectState };

export class Sut {
  readonly coordinator: DurableObjectStub<Coordinator>;
  readonly shards = new Map<Region, DurableObjectStub<RegionShard>>();
  readonly keys: DurableObjectStub<IdempotencyKeys>;
  readonly shardState = new Map<Region, ShardSnapshot>();
  coordinatorState!: CoordinatorSnapshot;
  /** The current run's timers; each call names the object that sets them. */
  timers: SimTimers | null = null;
  /** The current run's clock. */
  now: () => number = () => 0;
  /** Each shard's instance, as last visited (the network reads its memory when it sends). */
  readonly instances = new Map<Region, RegionShard>();
  /**
   * Whether a call to the shard is still ending after the visit's own calls returned (a long poll
   * answered meanwhile finishes on its own): the photograph waits for it.
   */
  ending: (region: Region, waiting: ReadonlySet<string>) => boolean = () => false;
  /** The run's node channels to a shard (the photograph waits until those the shard closed are gone). */
  sockets: (region: Region) => SimSocket[] = () => [];
  /** Told after each shard call, once photographed (the driver checks what the shard sent). */
  afterShardCall: (region: Region) => void = () => {};
  /** Requests made into the objects (each costs about as much as a whole step's checks). */
  visits = 0;
  /** The visit under way: calls to its object run inside it, without a request of their own. */
  private inside: Visit | null = null;
  /** The retention the keys object was last given (each run picks its own). */
  private keysRetentionMs: number | null = null;
  /** Objects not yet wiped for the current run, and what they restart with. */
  private unwiped = new Set<Target>();
  private deps: {
    coordinator: Partial<CoordinatorDependencies>;
    shard: (region: Region) => Partial<ShardDependencies>;
  } = { coordinator: {}, shard: () => ({}) };

  private constructor(
    readonly env: Env,
    readonly deployment: string,
  ) {
    this.coordinator = coordinatorStub(env, deployment);
    for (const region of REGION_IDS) {
      this.shards.set(region, shardStub(env, deployment, region));
    }
    const ns = env.IDEMPOTENCY_KEYS;
    this.keys = ns.get(ns.idFromName(`${deployment}/${ADMIN.tokenId}`));
  }

  /** A deployment of its own with both regions created (their shards configured by the coordinator). */
  static async create(env: Env, deployment: string): Promise<Sut> {
    const sut = new Sut(env, deployment);
    const silent = { reportLoad: () => Promise.resolve(), nodesGone: () => Promise.resolve() };
    for (const region of REGION_IDS) {
      await runInDurableObject(sut.shards.get(region)!, (shard: RegionShard) =>
        shard.restartWith({ link: () => silent }),
      );
      const reply = await sut.coordinator.putRegion(ADMIN, deployment, region, REGIONS[region]);
      if (!reply.ok) {
        throw new Error(`region ${region}: ${JSON.stringify(reply.error)}`);
      }
    }
    return sut;
  }

  /**
   * Starts a run: each object has its tables and alarm wiped and restarts with the run's
   * dependencies at its first visit (no request of its own). Idempotency keys are not wiped: each
   * run uses keys of its own.
   */
  begin(
    coordinatorDeps: Partial<CoordinatorDependencies>,
    shardDeps: (region: Region) => Partial<ShardDependencies>,
  ): void {
    this.deps = { coordinator: coordinatorDeps, shard: shardDeps };
    this.unwiped = new Set<Target>(["coordinator", ...REGION_IDS]);
    // What each object holds once wiped, until its first visit photographs it.
    for (const region of REGION_IDS) {
      this.shardState.set(region, emptyShard(this.now()));
    }
    this.coordinatorState = emptyCoordinator(REGION_IDS);
  }

  /**
   * Gives the keys object the run's TASK_RETENTION_MS (a key is honoured that long after its claim),
   * as the shards get theirs with their dependencies. Its keys are kept: each run uses its own.
   */
  async keepKeysFor(retentionMs: number): Promise<void> {
    if (this.keysRetentionMs === retentionMs) {
      return;
    }
    this.visits++;
    await runInDurableObject(this.keys, (keys: IdempotencyKeys) => keys.restartWith({ retentionMs }));
    this.keysRetentionMs = retentionMs;
  }

  /**
   * Runs `fn` inside a shard (timers it sets are the shard's), then photographs the shard. Within a
   * visit to the same shard, it runs there at once; `photograph` refreshes the snapshot between
   * several calls of one visit (what the shard sent is checked then).
   */
  async onShard<T>(
    region: Region,
    fn: (shard: RegionShard, ctx: DurableObjectState, photograph: () => Promise<void>) => T | Promise<T>,
  ): Promise<T> {
    const inside = this.inside;
    if (inside !== null) {
      if (inside.target !== region) {
        throw new Error(`a call to ${region} during a visit to ${inside.target}`);
      }
      const { shard, ctx, photograph } = inside;
      const value = await fn(shard, ctx, photograph);
      await photograph();
      return value;
    }
    this.setOwner(region);
    this.visits++;
    return runInDurableObject(this.shards.get(region)!, async (shard: RegionShard, ctx) => {
      this.setOwner(region);
      this.instances.set(region, shard);
      const photograph = async () => {
        // Each turn on storage lets the calls still ending run on (a bounded number: one that never
        // ends is found by the checks of its answer).
        for (let i = 0; i < 100 && this.ending(region, shard.engine.nodes.waiting); i++) {
          await ctx.storage.getAlarm();
        }
        await settleCloses(ctx, this.sockets(region));
        this.shardState.set(region, await shardSnapshot(shard, ctx, this.now()));
        this.afterShardCall(region);
      };
      absorbRuntimeEvents(shard);
      if (this.unwiped.delete(region)) {
        cutPolls(shard);
        await closeAll(ctx);
        for (const table of SHARD_TABLES) {
          ctx.storage.sql.exec(`DELETE FROM ${table}`);
        }
        await ctx.storage.deleteAlarm();
        await shard.restartWith(this.deps.shard(region));
      }
      this.inside = { target: region, shard, ctx, photograph };
      try {
        const value = await fn(shard, ctx, photograph);
        await photograph();
        return value;
      } finally {
        this.inside = null;
      }
    });
  }

  /** Runs `fn` inside the coordinator, then photographs it (at once within a visit to it). */
  async onCoordinator<T>(
    fn: (coordinator: Coordinator, ctx: DurableObjectState) => T | Promise<T>,
    stub = this.coordinator,
  ): Promise<T> {
    const inside = this.inside;
    if (inside !== null) {
      if (inside.target !== "coordinator") {
        throw new Error(`a call to the coordinator during a visit to ${inside.target}`);
      }
      const value = await fn(inside.coordinator, inside.ctx);
      this.coordinatorState = await coordinatorSnapshot(inside.coordinator, inside.ctx);
      return value;
    }
    this.setOwner(null);
    this.visits++;
    return runInDurableObject(stub, async (coordinator: Coordinator, ctx) => {
      if (this.unwiped.delete("coordinator")) {
        for (const table of COORDINATOR_TABLES) {
          ctx.storage.sql.exec(`DELETE FROM ${table}`);
        }
        await ctx.storage.deleteAlarm();
        await coordinator.restartWith(this.deps.coordinator);
      }
      this.inside = { target: "coordinator", coordinator, ctx };
      try {
        const value = await fn(coordinator, ctx);
        this.coordinatorState = await coordinatorSnapshot(coordinator, ctx);
        return value;
      } finally {
        this.inside = null;
      }
    });
  }

  /**
   * A call a shard makes to the coordinator while the simulation visits it (a channel node's election
   * frame): a request of its own into the coordinator, from inside the shard, awaited by the frame.
   */
  async fromShard<T>(fn: (coordinator: Coordinator) => T | Promise<T>): Promise<T> {
    const inside = this.inside;
    if (inside === null || inside.target === "coordinator") {
      throw new Error("a call from a shard outside a visit to a shard");
    }
    this.inside = null;
    try {
      // A stub of the shard's own: one made by the test cannot be used from inside another object.
      return await this.onCoordinator(fn, coordinatorStub(this.env, this.deployment));
    } finally {
      this.inside = inside;
      this.setOwner(inside.target);
    }
  }

  /** Whether a visit is under way (calls to other objects must wait for its end). */
  get visiting(): Target | null {
    return this.inside?.target ?? null;
  }

  /** What a shard holds in memory now, read while it runs (a send), without I/O. */
  probe(region: Region): ShardProbe | null {
    const engine = this.instances.get(region)?.engine;
    if (!engine) {
      return null;
    }
    const depth = engine.tasks.depth();
    return {
      at: this.now(),
      nodes: [...engine.nodes.nodes.values()].map((n) => ({
        id: n.id,
        dead: n.dead,
        draining: n.draining,
        capacity: n.capacity,
        lastSeenAt: n.lastSeenAt,
      })),
      leased: depth.leased,
      queued: depth.queued,
    };
  }

  /** A long poll through the stub, as `principal` (the node's tenant's): its request stays open while it waits. */
  startPoll(
    region: Region,
    principal: Principal,
    nodeId: string,
    input: { max: number; waitMs: number },
  ): Promise<PollReply> {
    if (this.unwiped.has(region) || this.inside !== null) {
      throw new Error(`a long poll of ${region} before its first visit, or during a visit`);
    }
    this.setOwner(region);
    this.visits++;
    return this.shards.get(region)!.poll(principal, nodeId, input) as Promise<PollReply>;
  }

  /** A shard restarts: its long polls are cut off, its timers go, its memory is loaded again from storage. */
  restartShard(region: Region, deps: Partial<ShardDependencies>): Promise<void> {
    return this.onShard(region, async (shard) => {
      cutPolls(shard);
      this.timers?.dropOwner(region);
      await shard.restartWith(deps);
    });
  }

  /** The coordinator restarts: memory loaded again from storage. */
  restartCoordinator(deps: Partial<CoordinatorDependencies>): Promise<void> {
    return this.onCoordinator((coordinator) => coordinator.restartWith(deps));
  }

  /** Ends every long poll the shards hold (at the end of a run, so no request stays open). */
  async cutAllPolls(): Promise<void> {
    for (const region of REGION_IDS) {
      if ((this.shardState.get(region)?.waiting.length ?? 0) > 0) {
        await this.onShard(region, (shard) => cutPolls(shard));
      }
    }
  }

  private setOwner(owner: string | null): void {
    if (this.timers) {
      this.timers.owner = owner;
    }
  }
}

/** Answers every waiting long poll with nothing (its connection is gone). */
function cutPolls(shard: RegionShard): void {
  const engine = shard.engine;
  for (const nodeId of [...engine.nodes.waiting]) {
    engine.scheduler.stopWaiting(nodeId, true);
  }
}
