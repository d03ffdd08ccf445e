import type { NodeDownReason } from "../../src/core/events";
import { TokenBuckets } from "../../src/core/token-bucket";
import { mintId } from "../../src/ids";
import { PING, PONG } from "../../src/schemas/channel";
import { AlarmSchedule } from "../alarm-schedule";
import { CallGate, GROUP_WINDOW_MS, logRowError, type ObjectConfig } from "../call-gate";
import { EventOutbox, type EventSink } from "../event-outbox";
import type { CoordinatorLink, ElectionLink, RegionReport, ShardConfig } from "../messages";
import { Access } from "./access";
import { Channels } from "./channels";
import { CoordinatorOutbox, OUTBOX_RETRY_MS } from "./coordinator-outbox";
import { EndpointTable } from "./endpoint-table";
import { type NodeRecord, NodeTable } from "./node-table";
import { PushDeliveries } from "./push-deliveries";
import { Reaper } from "./reaper";
import { Retention } from "./retention";
import { Scheduler } from "./scheduler";
import { type ScheduleLink, ShardSchedules } from "./schedules";
import { migrateShard } from "./schema";
import { nodeDown } from "./shard-events";
import { ShardMetrics } from "./shard-metrics";
import { TaskQueue } from "./task-queue";

/** What a shard is built with. The runtime gives the defaults; tests and the simulation their own. */
/** How long a shard refuses a revoked token's calls on its own: well past every edge's auth cache (2 s). */
const REVOKED_MEMORY_MS = 60_000;
/** Revoked tokens a shard remembers at once (memory bound; the edges refuse them within 2 s anyway). */
const MAX_REVOKED_REMEMBERED = 10_000;

export interface ShardDependencies {
  config: ObjectConfig;
  clock: () => number;
  random: () => number;
  /** The coordinator of a deployment (the simulation's goes through a faulty network). */
  link: (deployment: string) => CoordinatorLink;
  /** Election calls for channel nodes, to the coordinator of a deployment. */
  elections: (deployment: string) => ElectionLink;
  /** The event hub of a deployment, where the shard's events go (GET /v1/events). */
  events: (deployment: string) => EventSink;
  /** 0 turns group commit off (the simulation inspects state between back-to-back calls). */
  groupWindowMs: number;
  /** false: no per-token rate limit (the simulation's calls come by the thousand). */
  rateLimited: boolean;
  /** How push deliveries reach their endpoints (a test's fake executor; the runtime's fetch otherwise). */
  deliver?: typeof fetch;
  /** How the shard submits its schedules' runs (the edge's placement, on the shard's clock). */
  schedules: (deployment: string, clock: () => number) => ScheduleLink;
}

/**
 * Everything a region shard holds in memory, loaded from its SQLite storage: the region's
 * configuration, its nodes, its tasks, long polls, the outbox to the coordinator and the alarm.
 */
export class ShardEngine {
  readonly gate: CallGate;
  /** Tasks each tenant submits here, each item counted (TENANT_TASKS_PER_SEC); null when unlimited. */
  readonly tenantSubmits: TokenBuckets | null;
  readonly nodes: NodeTable;
  readonly tasks: TaskQueue;
  readonly scheduler: Scheduler;
  readonly access: Access;
  readonly outbox: CoordinatorOutbox;
  readonly reaper: Reaper;
  /** Deletes finished tasks and dead nodes past TASK_RETENTION_MS, in slices, from the alarm. */
  readonly retention: Retention;
  readonly channels: Channels;
  /** What happened here, on its way to the deployment's event hub (batched, best effort). */
  readonly events: EventOutbox;
  /** Task counters and histograms for `/metrics`. */
  readonly metrics: ShardMetrics;
  /** The region's push endpoints, and the deliveries to them. */
  readonly endpoints: EndpointTable;
  readonly deliveries: PushDeliveries;
  /** The schedules whose home is this region, fired from the alarm. */
  readonly schedules: ShardSchedules;
  /** The region this shard serves; null until the coordinator configures it, and after its region is deleted. */
  config: ShardConfig | null;
  private readonly alarms: AlarmSchedule;
  /** This incarnation of the shard, and the number of its last report (they order its reports). */
  private readonly epoch: number;
  private reportSeq = 0;
  private scheduleLink: { deployment: string; link: ScheduleLink } | null = null;
  /**
   * Tokens revoked lately, by when the shard heard: their calls are refused 401 even from an edge
   * that still trusts them (for AUTH_CACHE_TTL_MS), and their waiting polls are answered 401. Memory
   * only: the coordinator tells the shard again once every edge has forgotten the token.
   */
  private readonly revokedTokens = new Map<string, number>();

  private constructor(
    private readonly ctx: DurableObjectState,
    readonly deps: ShardDependencies,
  ) {
    const sql = ctx.storage.sql;
    this.alarms = new AlarmSchedule(ctx.storage);
    migrateShard(ctx.storage);
    const stored = sql.exec<{ value: string }>("SELECT value FROM shard WHERE key = 'config'").toArray()[0];
    this.config = stored ? (JSON.parse(stored.value) as ShardConfig) : null;
    const epoch = sql.exec<{ value: string }>("SELECT value FROM shard WHERE key = 'epoch'").toArray()[0];
    this.epoch = Number(epoch?.value ?? 0) + 1;
    sql.exec(
      "INSERT INTO shard (key, value) VALUES ('epoch', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      String(this.epoch),
    );
    this.gate = new CallGate({
      clock: deps.clock,
      limiter: deps.rateLimited ? new TokenBuckets(deps.config.rateLimit) : null,
      groupWindowMs: deps.groupWindowMs,
      settle: () => this.settle(),
      revoked: (tokenId) => this.revokedTokens.has(tokenId),
    });
    this.tenantSubmits = deps.rateLimited
      ? new TokenBuckets({
          ratePerSec: deps.config.tenants.tasksPerSec,
          burst: deps.config.tenants.tasksBurst,
        })
      : null;
    this.events = new EventOutbox(() => (this.config === null ? null : deps.events(this.config.deployment)));
    this.nodes = new NodeTable(sql, deps.config);
    this.tasks = new TaskQueue(sql);
    this.endpoints = new EndpointTable(sql);
    for (const [nodeId, inFlight] of this.tasks.inFlightByNode()) {
      // An endpoint's leases of a previous incarnation lost their deliveries: they hold its room until they expire.
      const node = this.nodes.nodes.get(nodeId) ?? this.endpoints.byHolderId(nodeId)?.holder;
      if (node) {
        node.inFlight = inFlight;
      }
    }
    this.metrics = new ShardMetrics(sql);
    this.scheduler = new Scheduler(
      this.nodes,
      this.tasks,
      deps.random,
      mintId,
      (at) => this.dueAt(at),
      this.metrics,
      (event) => this.events.record(event),
    );
    this.deliveries = new PushDeliveries(
      this.endpoints,
      this.scheduler,
      this.tasks,
      this.gate,
      {
        failureThreshold: deps.config.endpoints.breakerFailures,
        pauseMs: deps.config.endpoints.breakerPauseMs,
      },
      deps.clock,
      (at) => this.dueAt(at),
      (promise) => ctx.waitUntil(promise),
      deps.deliver,
    );
    this.access = new Access(this.nodes, this.tasks);
    this.outbox = new CoordinatorOutbox(
      sql,
      () =>
        this.config === null ? null : { region: this.config.region, link: deps.link(this.config.deployment) },
      () => this.retryLater(),
    );
    this.reaper = new Reaper(
      this.nodes,
      this.tasks,
      this.scheduler,
      deps.config.channelGraceMs,
      (node, reason, now) => this.nodeDied(node, reason, now),
    );
    this.retention = new Retention(sql, this.tasks, this.nodes, deps.config.taskRetentionMs);
    this.schedules = new ShardSchedules(
      sql,
      this.tasks,
      () => this.linkForSchedules(),
      () => this.config?.region ?? null,
      (at) => this.dueAt(at),
      (fn) => ctx.storage.transactionSync(fn),
      logRowError,
      (event) => this.events.record(event),
    );
    this.channels = new Channels(ctx, this);
    this.channels.restore(this.gate.now());
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
  }

  /** Loads (and migrates) the shard; called inside `blockConcurrencyWhile`. */
  static async load(ctx: DurableObjectState, deps: ShardDependencies): Promise<ShardEngine> {
    const engine = new ShardEngine(ctx, deps);
    await engine.alarms.load();
    return engine;
  }

  static defaults(
    config: ObjectConfig,
    link: (deployment: string) => CoordinatorLink,
    elections: (deployment: string) => ElectionLink,
    events: (deployment: string) => EventSink,
    schedules: (deployment: string, clock: () => number) => ScheduleLink,
  ): ShardDependencies {
    return {
      config,
      clock: () => Date.now(),
      random: Math.random,
      link,
      elections,
      events,
      groupWindowMs: GROUP_WINDOW_MS,
      rateLimited: true,
      schedules,
    };
  }

  /** The way the schedules' runs are submitted, made once per deployment served (null: no region). */
  private linkForSchedules(): ScheduleLink | null {
    const deployment = this.config?.deployment;
    if (deployment === undefined) {
      return null;
    }
    if (this.scheduleLink?.deployment !== deployment) {
      this.scheduleLink = { deployment, link: this.deps.schedules(deployment, () => this.gate.now()) };
    }
    return this.scheduleLink.link;
  }

  now(): number {
    return this.gate.now();
  }

  configure(config: ShardConfig | null): void {
    if (config === null) {
      this.ctx.storage.sql.exec("DELETE FROM shard WHERE key = 'config'");
    } else {
      this.ctx.storage.sql.exec(
        "INSERT INTO shard (key, value) VALUES ('config', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        JSON.stringify(config),
      );
    }
    this.config = config;
    this.outbox.reset();
  }

  /** Records a due time; the alarm is moved earlier when needed at the end of the call. */
  dueAt(at: number): void {
    this.alarms.dueAt(at);
  }

  /**
   * A node is gone: its work back to the queue, no new work, the coordinator told (its leaderships
   * end). `down` is how the event stream names it: dead, or revoked with its token.
   */
  nodeDied(node: NodeRecord, reason: string, now: number, down: NodeDownReason = "dead"): void {
    // Before the work it held is reclaimed: a reader sees the node go down, then its tasks fail.
    this.events.record(nodeDown(node, down, now));
    this.nodes.markDead(node, now);
    this.channels.end(node.id, reason);
    this.scheduler.reclaim(node, reason, now, logRowError);
    this.outbox.nodesGone([node.id]);
  }

  /** A node drains (over HTTP or its channel): no new work; it leaves the pool (`node.down` drained) once. */
  drain(node: NodeRecord, now: number): void {
    if (!node.draining) {
      this.events.record(nodeDown(node, "drained", now));
    }
    this.nodes.setDraining(node);
    this.scheduler.stopWaiting(node.id, true);
  }

  /**
   * A token was revoked. Its sockets close with 1008, detached so no grace period starts (a revoked
   * token cannot come back). Its nodes here are then dead, by the path every death takes (leases
   * back to the queue as failed attempts, leaderships passed on through the node_gone outbox): a
   * node whose token is revoked can never report or beat again, so waiting for its heartbeat
   * deadline would only hold its leases for nothing. A node of another token whose channel the
   * revoked token had opened (an admin's) only loses that socket: its own token may reconnect.
   */
  tokenRevoked(tokenId: string, now: number): void {
    for (const [id, at] of this.revokedTokens) {
      if (now - at > REVOKED_MEMORY_MS) {
        this.revokedTokens.delete(id);
      }
    }
    if (this.revokedTokens.size < MAX_REVOKED_REMEMBERED) {
      this.revokedTokens.set(tokenId, now);
    }
    this.channels.revoke(tokenId);
    for (const node of [...this.nodes.nodes.values()]) {
      if (node.tokenId === tokenId && !node.dead) {
        this.nodeDied(node, "the node's token was revoked", now, "revoked");
      }
    }
  }

  /** Whether the shard heard lately that this token was revoked. */
  isRevoked(tokenId: string): boolean {
    return this.revokedTokens.has(tokenId);
  }

  /** The region's load and health now. */
  report(now: number): RegionReport {
    const health = this.nodes.health(now);
    // An endpoint whose breaker is not open is capacity like a node: a region served by one alone is healthy.
    const pushed = this.endpoints.health();
    const depth = this.tasks.depth();
    return {
      at: now,
      epoch: this.epoch,
      seq: ++this.reportSeq,
      healthy: health.healthy || pushed.healthy > 0,
      capacity: health.capacity + pushed.capacity,
      inFlight: depth.leased,
      queued: depth.queued,
      nodes: { healthy: health.healthyNodes, total: health.liveNodes },
    };
  }

  /**
   * Ends a call or an alarm: writes the held tasks, tells the coordinator what it must hear (a change
   * of health before the answer; counts a little later), and moves the alarm.
   */
  private async settle(): Promise<void> {
    const now = this.gate.now();
    this.deliveries.start(now);
    this.scheduler.dispatchHeld(now);
    this.tasks.flush();
    this.metrics.settle(now, (at) => this.dueAt(at));
    this.planPrune(now);
    if (this.outbox.failed || this.outbox.pending()) {
      this.dueAt(now + OUTBOX_RETRY_MS);
    }
    await this.alarms.commit();
    await this.outbox.flushGone();
    await this.outbox.offer(() => this.report(this.gate.now()));
  }

  /**
   * The coordinator did not take a message: the alarm tries again within OUTBOX_RETRY_MS. The alarm
   * is written here, not left to the end of the call: the send may have failed after the call wrote
   * its alarm, or outside any call (a delayed load report).
   */
  private retryLater(): void {
    this.dueAt(this.gate.now() + OUTBOX_RETRY_MS);
    this.alarms.commit().catch((error: unknown) => console.error("shard: could not set the alarm", error));
  }

  /** The alarm: every deadline, and whatever the coordinator has not yet heard. */
  async alarm(): Promise<void> {
    await this.gate.run(null, null, (now) => {
      this.alarms.fired();
      this.channels.noteAutoResponses();
      this.reaper.run(now);
      this.deliveries.tick(now);
      if (this.retention.dueNow(now)) {
        this.retention.prune(now);
      }
      const next = this.reaper.nextDue(now);
      if (next !== null) {
        this.dueAt(next);
      }
    });
    // Schedules after the rest: their runs are submitted through placement (calls to other objects).
    await this.gate.run(null, null, (now) => this.schedules.fire(now));
  }

  /** Sets the alarm for the next prune pass, if one is due some day. */
  private planPrune(now: number): void {
    const at = this.retention.nextAt(now);
    if (at !== null) {
      this.dueAt(at);
    }
  }
}
