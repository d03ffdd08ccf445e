import { type ElectionState, lapsesByTime, leadership } from "../../src/core/election";
import { nextPruneAt, PRUNE_SLICE_ROWS, pruneCutoff } from "../../src/core/retention";
import { splitScoped } from "../../src/core/tenant-names";
import { TokenBuckets } from "../../src/core/token-bucket";
import { AUTH_CACHE_TTL_MS } from "../../src/http/auth-cache";
import { AlarmSchedule } from "../alarm-schedule";
import { CallGate, GROUP_WINDOW_MS, logRowError, type ObjectConfig } from "../call-gate";
import { EventOutbox, type EventSink } from "../event-outbox";
import {
  type ElectionPush,
  EVENT_HUB_TARGET,
  type RegionReport,
  type ShardPush,
  type Watcher,
} from "../messages";
import { type ElectionChange, ElectionStore } from "./election-store";
import { Observers } from "./observers";
import { RegionTable } from "./region-table";
import { REVOCATION_RETRY_MS, RevocationOutbox } from "./revocation-outbox";
import { ScheduleHomes } from "./schedule-homes";
import { migrateCoordinator } from "./schema";
import { TokenStore } from "./token-store";

/** What a coordinator is built with. The runtime gives the defaults; tests and the simulation their own. */
export interface CoordinatorDependencies {
  config: ObjectConfig;
  clock: () => number;
  groupWindowMs: number;
  rateLimited: boolean;
  /** Pushes a message to a shard: an election change its channel nodes watch, a revoked token. */
  push: (shard: Watcher, message: ShardPush) => Promise<void>;
  /** The deployment's event hub, where leader and region-health changes go (GET /v1/events). */
  events: EventSink;
}

/**
 * Everything the coordinator holds, loaded from its SQLite storage: tokens, regions with the load
 * table the shards report, elections and their observers, and the alarm that expires candidates.
 */
export class CoordinatorEngine {
  readonly gate: CallGate;
  readonly tokens: TokenStore;
  readonly regions: RegionTable;
  readonly elections: ElectionStore;
  readonly revocations: RevocationOutbox;
  /** Which region's shard keeps each schedule. */
  readonly scheduleHomes: ScheduleHomes;
  /** The election observers' sockets (caps, meter, revocation). */
  readonly observers: Observers;
  /** Leader and region-health changes, on their way to the event hub (batched, best effort). */
  readonly events: EventOutbox;
  /** Calls served since the object started, by method (what the bench counts per task). */
  readonly calls = new Map<string, number>();
  private readonly alarms: AlarmSchedule;
  /** Election pushes to shards made during the current call, awaited when it settles. */
  private pushes: Promise<void>[] = [];

  private constructor(
    private readonly ctx: DurableObjectState,
    readonly deps: CoordinatorDependencies,
  ) {
    const sql = ctx.storage.sql;
    this.alarms = new AlarmSchedule(ctx.storage);
    this.gate = new CallGate({
      clock: deps.clock,
      limiter: deps.rateLimited ? new TokenBuckets(deps.config.rateLimit) : null,
      groupWindowMs: deps.groupWindowMs,
      settle: () => this.settle(),
    });
    this.tokens = new TokenStore(sql);
    this.regions = new RegionTable(sql);
    this.elections = new ElectionStore(sql);
    this.revocations = new RevocationOutbox(sql);
    this.scheduleHomes = new ScheduleHomes(sql);
    this.observers = new Observers(ctx, deps.config);
    this.events = new EventOutbox(() => deps.events);
  }

  /**
   * Loads (and migrates) the coordinator; called inside `blockConcurrencyWhile`. Null when the
   * storage was written by the single-object Meridian and still holds its nodes or tasks.
   */
  static async load(
    ctx: DurableObjectState,
    deps: CoordinatorDependencies,
  ): Promise<CoordinatorEngine | null> {
    if (migrateCoordinator(ctx.storage).legacy) {
      return null;
    }
    const engine = new CoordinatorEngine(ctx, deps);
    await engine.alarms.load();
    // Elections idle since before the alarm knew of them (e.g. since the migration that added retention).
    const idle = engine.elections.oldestIdle();
    if (idle !== null) {
      engine.alarms.dueAt(idle + deps.config.electionRetentionMs);
      await engine.alarms.commit();
    }
    return engine;
  }

  static defaults(
    config: ObjectConfig,
    push: (shard: Watcher, message: ShardPush) => Promise<void>,
    events: EventSink,
  ): CoordinatorDependencies {
    return {
      config,
      clock: () => Date.now(),
      groupWindowMs: GROUP_WINDOW_MS,
      rateLimited: true,
      push,
      events,
    };
  }

  /**
   * A shard's load report: the newest one is kept (see RegionTable.report); a change of the region's
   * health goes to the event stream, with the counts of the report that changed it.
   */
  reportLoad(region: string, report: RegionReport, now: number): boolean {
    const before = this.regions.regions.get(region)?.load.healthy;
    const taken = this.regions.report(region, report);
    if (taken && before !== report.healthy) {
      this.events.record({
        type: "region.changed",
        at: now,
        region,
        healthy: report.healthy,
        capacity: report.capacity,
        inFlight: report.inFlight,
        queued: report.queued,
      });
    }
    return taken;
  }

  /** Records a due time; the alarm is moved earlier when needed at the end of the call. */
  private dueAt(at: number): void {
    this.alarms.dueAt(at);
  }

  private async settle(): Promise<void> {
    await this.alarms.commit();
    const pushes = this.pushes;
    this.pushes = [];
    await Promise.all(pushes);
  }

  /** Nodes a shard reported gone: they leave every election (the next candidate leads, with a higher term). */
  leaveElections(nodeIds: string[], now: number): void {
    for (const nodeId of nodeIds) {
      for (const { election, candidate } of this.elections.candidaciesOf(nodeId)) {
        this.announce(this.elections.apply(election, { kind: "remove", candidate }, now));
      }
    }
  }

  /** Sets the alarm for the next candidate expiry, and tells the election's observers of a new leader. */
  announce(change: ElectionChange): void {
    const now = this.gate.now();
    const expiry = change.state.candidates
      .filter((c) => lapsesByTime(c.expiresAt, now))
      .reduce<number | null>((min, c) => (min === null ? c.expiresAt : Math.min(min, c.expiresAt)), null);
    if (expiry !== null) {
      this.dueAt(expiry);
    }
    if (change.state.candidates.length === 0) {
      this.dueAt(now + this.deps.config.electionRetentionMs); // idle from now: pruned then
    }
    if (!change.leaderChanged) {
      return;
    }
    // Keys are per tenant (src/core/tenant-names.ts): the event and observers name the election.
    const { tenant, name } = splitScoped(change.name);
    this.events.record({
      type: "leader.changed",
      tenant,
      at: now,
      election: name,
      leader: change.state.leader,
      term: change.state.term,
    });
    const pushed = electionPush(change.name, change.state);
    for (const watcher of this.elections.watchers(change.name)) {
      // Sent when the call settles, its writes done; a failed push is logged, not retried (a
      // notification: the fencing term is what protects the work, and the node may ask again).
      this.pushes.push(
        this.deps
          .push(watcher, { kind: "election", change: pushed })
          .catch((error) => console.warn("election push failed", watcher, error)),
      );
    }
    const message = JSON.stringify({
      name,
      term: change.state.term,
      leader: leadership(change.state),
    });
    for (const ws of this.ctx.getWebSockets(change.name)) {
      try {
        ws.send(message);
      } catch (error) {
        console.warn("observer send failed", error);
      }
    }
  }

  /**
   * A token was revoked: its election observers here close now; the event hub (its event streams
   * end) and, for a token that may act as a node, every region's shard (its channels close, its
   * waiting polls are answered 401, its nodes die) are told now, and again by the alarm once every
   * edge has forgotten the token, until each has taken it (see RevocationOutbox).
   */
  revokeSessions(tokenId: string, nodeCapable: boolean, deployment: string, now: number): void {
    this.observers.revoke(tokenId);
    const regions = [EVENT_HUB_TARGET, ...(nodeCapable ? this.regions.regions.keys() : [])];
    this.revocations.add(tokenId, deployment, regions, now + AUTH_CACHE_TTL_MS);
    this.dueAt(now + AUTH_CACHE_TTL_MS);
    for (const region of regions) {
      // Sent when the call settles, its writes done; a failure is left to the alarm's push.
      this.pushes.push(
        this.deps
          .push({ deployment, region }, { kind: "token_revoked", tokenId })
          .catch((error) => console.warn("revocation push failed; the alarm retries", region, error)),
      );
    }
  }

  /**
   * Deletes one slice of elections idle for ELECTION_RETENTION_MS (a failure is logged, and the
   * alarm tries again later); the alarm comes back at once while more are due, requests running in
   * between, else when the oldest idle one comes of age. Decisions: src/core/retention.ts.
   */
  private pruneElections(now: number): void {
    const retentionMs = this.deps.config.electionRetentionMs;
    try {
      const pass = this.elections.prune(pruneCutoff(now, retentionMs), PRUNE_SLICE_ROWS);
      const next = nextPruneAt(
        { deleted: pass.deleted, sliceRows: PRUNE_SLICE_ROWS, oldestLeft: pass.oldestLeft },
        now,
        retentionMs,
      );
      if (next !== null) {
        this.dueAt(Math.max(next, now + 1));
      }
    } catch (error) {
      logRowError("election retention", error);
      this.dueAt(now + retentionMs);
    }
  }

  /**
   * Candidates whose ttl ran out leave their elections (each election alone; a failing one is
   * logged), and revocations due are pushed to the shards that have not taken them yet.
   */
  async alarm(): Promise<void> {
    await this.gate.run(null, null, async (now) => {
      this.alarms.fired();
      for (const name of this.elections.withExpiredCandidates(now)) {
        try {
          this.announce(this.elections.apply(name, { kind: "tick" }, now));
        } catch (error) {
          logRowError(name, error);
        }
      }
      const next = this.elections.nextExpiry(now);
      if (next !== null) {
        this.dueAt(Math.max(next, now + 1));
      }
      this.pruneElections(now);
      if ((await this.revocations.deliver(now, this.deps.push)) > 0) {
        this.dueAt(now + REVOCATION_RETRY_MS);
      }
      const revocation = this.revocations.nextDueAfter(now);
      if (revocation !== null) {
        this.dueAt(revocation);
      }
    });
  }
}

/** An election's state as pushed to shards. */
export function electionPush(election: string, state: ElectionState): ElectionPush {
  return {
    election,
    leader: state.leader,
    term: state.term,
    order: state.candidates.map((c) => c.candidate),
  };
}
