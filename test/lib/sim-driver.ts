/**
 * One simulated run: a seeded random sequence of operations and faults applied to the real
 * coordinator and region shards (see sim-sut.ts), through a faulty network (sim-network.ts), and to
 * the reference model (sim-model.ts), with every invariant checked after every step
 * (sim-check.ts). The seed alone replays the run.
 */

import { type ObjectConfig, objectConfig } from "../../durable-objects/call-gate";
import type { Coordinator } from "../../durable-objects/coordinator";
import type { ShardPush } from "../../durable-objects/messages";
import type { RegionShard } from "../../durable-objects/region-shard";
import { SETTINGS } from "../../src/core/config";
import type { LatLon } from "../../src/core/geo-routing";
import { Edge } from "../../src/http/edge";
import type { SubmitTaskInput } from "../../src/schemas/tasks";
import { Prng } from "./prng";
import { checkChannels } from "./sim-channel-check";
import { deliverElectionPushes, type ElectionPushed, simElectionLink } from "./sim-channel-ops";
import { adoptRunAts, CheckMemory, checkAll, checkSends, InvariantError } from "./sim-check";
import { converge } from "./sim-delivery";
import { answer, queueSnapshot, reconcileLeases, runtimeAlarms, settlePolls } from "./sim-leases";
import { type Expect, err, Model, type ModelNode, type ModelTask, ok } from "./sim-model";
import { Network } from "./sim-network";
import type { SimBody } from "./sim-placement";
import { type Planned, plan } from "./sim-plan";
import { prelude, quiesce } from "./sim-quiesce";
import { checkStoredBound } from "./sim-retention";
import { afterTheLoad } from "./sim-retention-ops";
import type { SimSocket } from "./sim-sockets";
import type { SimStats } from "./sim-stats";
import { type PollReply, REGION_IDS, REGIONS, type Region, type Sut } from "./sim-sut";
import { SimTimers } from "./sim-timers";

export { type ChannelStats, emptyStats, type RetentionStats, type SimStats } from "./sim-stats";

const realWarn = console.warn;

/** Simulated time starts far in the future so the runtime's real alarms never fire during a run. */
export const EPOCH = Date.UTC(2200, 0, 1);
export const ELECTIONS = ["e1", "e2"] as const;
/** How likely a step is the next of a burst to the object of the step before (a soak's bursts are shorter: more submits). */
const STAY = 0.75;
const SOAK_STAY = 0.5;
/** The channel grace periods a run may have (CHANNEL_GRACE_MS), shorter and longer than a heartbeat interval. */
const GRACE_PERIODS_MS = [1000, 2000, 5000] as const;
/** The retentions a run may have (TASK_RETENTION_MS): the minimum (24 h) and a day and a half. */
const RETENTIONS_MS = [86_400_000, 129_600_000] as const;

/** Options of a run: `soak` for long runs of steady load with day-long jumps and the stored-rows bound. */
export interface SimOptions {
  soak?: boolean;
}

/** A long poll a shard holds; `expect` is the work dispatched to it, once it is. */
export interface PendingPoll {
  nodeId: string;
  promise: Promise<PollReply>;
  expect: string[] | null;
  /** The lease token of each task dispatched to it. */
  tokens: Map<string, string>;
  /** Whether its request has ended (its answer has left the shard). */
  settled: boolean;
}

/** Runs one seeded simulation on `sut`; throws with the seed on a violation. */
export async function simulate(
  sut: Sut,
  seed: number,
  steps: number,
  stats: SimStats,
  options: SimOptions = {},
): Promise<void> {
  const run = new SimulationRun(sut, seed, stats, options.soak === true);
  run.timers.install();
  const visits = sut.visits;
  try {
    run.start();
    await sut.keepKeysFor(run.config.taskRetentionMs);
    await prelude(run);
    await run.steps(steps);
    await quiesce(run);
    await converge(run);
    if (run.soak) {
      await afterTheLoad(run);
    }
    await run.check();
    stats.runs++;
    // Tasks gone by retention or erasure had ended too.
    stats.outcomes +=
      [...run.model.tasks.values()].filter((t) => t.outcome !== null).length + run.model.forgottenTasks.size;
  } catch (error) {
    const log = run.log.slice(-Number((globalThis as { SIM_LOG?: number }).SIM_LOG ?? 25)).join("\n  ");
    const why = error instanceof InvariantError ? "invariant broken" : "unexpected error";
    throw new Error(
      `simulation ${why} (replay: ${run.soak ? "SIM_SOAK_RUNS=1 " : ""}SIM_SEED=${seed}): ${(error as Error).message}\n  last steps:\n  ${log}`,
      {
        cause: error,
      },
    );
  } finally {
    await run.finish();
    stats.visits += sut.visits - visits;
    stats.retention.simulatedHours += Math.round((run.clock.now - run.clock.start) / 3_600_000);
  }
}

/** The edge of the run: the real placement code, reaching each shard one call at a time. */
class SimEdge extends Edge {
  private serial: Promise<unknown> = Promise.resolve();

  constructor(
    env: Env,
    private readonly sut: Sut,
    clock: () => number,
  ) {
    super(env, sut.deployment, clock);
  }

  /** The routing table, read inside the coordinator like every other call of the run. */
  override coordinator(): DurableObjectStub<Coordinator> {
    const coordinator: Pick<Coordinator, "routingTable"> = {
      routingTable: () => this.sut.onCoordinator((c) => c.routingTable()),
    };
    return coordinator as unknown as DurableObjectStub<Coordinator>;
  }

  /** Calls in turn, so each timer a shard sets is known to be that shard's (sim-timers.ts). */
  override shard(region: string, _at?: LatLon): DurableObjectStub<RegionShard> {
    const call = <T>(fn: (shard: RegionShard) => Promise<T>): Promise<T> => {
      const next = this.serial.then(() => this.sut.onShard(region as Region, fn));
      this.serial = next.catch(() => undefined);
      return next;
    };
    const shard: Pick<RegionShard, "submit" | "getTask"> = {
      submit: (principal, commands) => call((s) => s.submit(principal, commands)),
      getTask: (principal, id) => call((s) => s.getTask(principal, id)),
    };
    return shard as unknown as DurableObjectStub<RegionShard>;
  }
}

/** The state of one run, shared with the steps (sim-plan.ts and the files it calls). */
export class SimulationRun {
  readonly rng: Prng;
  readonly clock = { now: EPOCH, start: EPOCH };
  readonly timers = new SimTimers(() => this.clock.now);
  readonly network: Network;
  readonly edge: SimEdge;
  readonly model: Model;
  readonly memory = new CheckMemory();
  readonly log: string[] = [];
  readonly polls = new Map<string, PendingPoll>();
  /** The first body sent with each idempotency key (a repeat resends it). */
  readonly bodies = new Map<string, { input: SubmitTaskInput; sim: SimBody }>();
  /** Every node channel of the run, open or closed (frames of a closed one may still arrive). */
  readonly sockets: SimSocket[] = [];
  /** Election changes the coordinator pushed to the shards, not yet delivered. */
  readonly electionPushes: ElectionPushed[] = [];
  /** The objects' settings, with this run's CHANNEL_GRACE_MS and TASK_RETENTION_MS. */
  readonly config: ObjectConfig;
  /** Each shard's last alarm pass: when, and how many tasks and nodes were past their retention then. */
  readonly lastPrune = new Map<Region, { at: number; dueTasks: number; dueNodes: number }>();
  private readonly jitter: Record<Region, Prng>;

  constructor(
    readonly sut: Sut,
    readonly seed: number,
    readonly stats: SimStats,
    /** A soak run: steady load, day-long jumps, the runtime's alarms on time, and the stored-rows bound checked. */
    readonly soak = false,
  ) {
    this.rng = new Prng(seed);
    this.jitter = { r1: new Prng(seed ^ 0x5bd1e995), r2: new Prng(seed ^ 0x1b873593) };
    this.network = new Network(
      () => this.clock.now,
      stats.network,
      (region) => sut.probe(region as Region),
      {
        load: (region) => this.model.loads.get(region),
        heardGone: (nodeId) => this.model.coordinatorGone.has(nodeId),
      },
    );
    this.edge = new SimEdge(sut.env, sut, () => this.clock.now);
    const channelGraceMs = GRACE_PERIODS_MS[seed % GRACE_PERIODS_MS.length]!;
    const taskRetentionMs = RETENTIONS_MS[Math.floor(seed / GRACE_PERIODS_MS.length) % RETENTIONS_MS.length]!;
    this.config = { ...objectConfig(sut.env), channelGraceMs, taskRetentionMs };
    this.model = new Model(EPOCH, this.config);
  }

  /** A socket of the run by its id. */
  socket(id: number): SimSocket {
    const socket = this.sockets.find((s) => s.id === id);
    if (!socket) {
      throw new Error(`no socket ${id} in this run`);
    }
    return socket;
  }

  /** What a shard restarts with: the run's clock, jitter and network. */
  shardDeps(region: Region) {
    return {
      clock: () => this.clock.now,
      random: () => this.jitter[region].next(),
      link: () => this.network.link(),
      elections: () => simElectionLink(this),
      config: this.config,
      groupWindowMs: 0, // the simulation inspects state between back-to-back calls: each starts at once
      rateLimited: false, // thousands of calls per simulated second with one credential
    };
  }

  coordinatorDeps() {
    return {
      // Election retention is not modelled (test/integration/election-retention.test.ts covers it): the
      // longest setting keeps every election of a run, however far its clock jumps.
      config: { ...this.config, electionRetentionMs: SETTINGS.ELECTION_RETENTION_MS.max },
      clock: () => this.clock.now,
      groupWindowMs: 0,
      rateLimited: false,
      // Election changes for the shards' channel nodes: delivered by the simulation, in order, after the step.
      push: (watcher: { deployment: string; region: string }, message: ShardPush) => {
        if (watcher.deployment !== this.sut.deployment) {
          throw new InvariantError(`an election push to another deployment: ${watcher.deployment}`);
        }
        if (message.kind !== "election") {
          throw new InvariantError(`a ${message.kind} push: the simulation revokes no token`);
        }
        this.electionPushes.push({ region: watcher.region as Region, change: message.change });
        return Promise.resolve();
      },
    };
  }

  start(): void {
    // A send that gets no acknowledgement is the network's normal state here, not news.
    console.warn = (...args: unknown[]) => {
      if (!String(args[0]).startsWith("shard: the coordinator did not take")) {
        realWarn(...args);
      }
    };
    this.sut.timers = this.timers;
    this.sut.now = () => this.clock.now;
    this.sut.sockets = (region) => this.sockets.filter((s) => s.region === region);
    this.sut.afterShardCall = (region) => {
      const sends = this.network.takeSends(region);
      checkSends(this.model, region, sends, this.memory);
      for (const { payload, acked } of sends) {
        if (acked && payload.kind === "gone") {
          this.model.acknowledged(region, payload.nodeIds); // the shard empties its outbox that far
        }
      }
    };
    // A long poll the shard has answered is still ending (its own settling, what it sends): wait for it.
    this.sut.ending = (region, waiting) =>
      [...this.polls.values()].some(
        (p) => !p.settled && p.nodeId.endsWith(`-${region}`) && (p.expect !== null || !waiting.has(p.nodeId)),
      );
    this.sut.begin(this.coordinatorDeps(), (region) => this.shardDeps(region));
    for (const region of REGION_IDS) {
      this.model.regions.set(region, REGIONS[region]);
    }
  }

  /** Ends the run's long polls (no request stays open), then gives the timers back. */
  async finish(): Promise<void> {
    try {
      await this.sut.cutAllPolls();
      for (const pending of this.polls.values()) {
        await answer(pending.promise, `the long poll of ${pending.nodeId} at the end of the run`);
      }
    } catch (error) {
      console.error("simulation: cleaning up after the run failed", error);
    } finally {
      this.timers.uninstall();
      this.sut.timers = null;
      this.sut.sockets = () => [];
      console.warn = realWarn;
    }
  }

  liveNodes(): ModelNode[] {
    return [...this.model.nodes.values()].filter((n) => !n.dead);
  }

  /**
   * Runs `count` steps. Consecutive steps that call the same object run in one visit to it (a
   * request into an object costs as much as many checks); each is checked on its own. Steps that
   * reach several objects (submits through the edge, a candidate vouched for by its shard, long
   * polls, clock moves) run on their own.
   */
  async steps(count: number): Promise<void> {
    let carried: Planned | null = null;
    for (let index = 0; index < count; ) {
      const first: Planned = carried ?? plan(this, index, null);
      carried = null;
      const target = first.target;
      if (target === null) {
        await first.exec();
        await this.afterStep(first.op !== "batch", false);
        index++;
        continue;
      }
      const burst = async () => {
        for (let current = first; ; ) {
          await current.exec();
          await this.afterStep(current.op !== "batch", true);
          index++;
          if (index >= count) {
            return;
          }
          // Requests come in bursts: most often the next step is the same object's.
          const next = plan(this, index, this.rng.bool(this.soak ? SOAK_STAY : STAY) ? target : null);
          if (next.target !== target) {
            carried = next;
            return;
          }
          current = next;
        }
      };
      await (target === "coordinator" ? this.sut.onCoordinator(burst) : this.sut.onShard(target, burst));
      await this.check();
    }
  }

  /** After a step: leases handed out on the way reconciled, then every invariant (long polls once outside a visit). */
  async afterStep(ordered: boolean, inVisit: boolean): Promise<void> {
    // Freed slots (complete, fail, cancel, reclaim) may have handed queued work to waiting nodes.
    reconcileLeases(this, queueSnapshot(this.model), null, ordered);
    if (inVisit) {
      checkChannels(this);
      adoptRunAts(this.model, this.sut);
      checkAll(this.model, this.sut, this.memory, this.network);
      if (this.soak) {
        checkStoredBound(this);
      }
    } else {
      await this.check();
    }
  }

  /**
   * Every long poll let go of answered as it should, then every invariant. In a soak, first the
   * alarms the runtime would have fired meanwhile for retention (a clock moved within another
   * object's visit).
   */
  async check(): Promise<void> {
    if (this.soak) {
      await runtimeAlarms(this);
    }
    await settlePolls(this);
    await deliverElectionPushes(this);
    checkChannels(this);
    adoptRunAts(this.model, this.sut);
    checkAll(this.model, this.sut, this.memory, this.network);
    if (this.soak) {
      checkStoredBound(this);
    }
  }

  note(text: string): void {
    this.log[this.log.length - 1] += ` ${text}`;
  }

  /**
   * The contract's checks on a node acting for itself: 404, 409 node_dead (declaring it dead on the
   * spot once silent too long, or once its closed channel's grace period has lapsed).
   */
  acting(node: ModelNode): Expect {
    if (!this.model.nodes.has(node.id)) {
      return err("not_found");
    }
    if (!node.dead && (this.model.silentTooLong(node) || this.model.graceLapsed(node))) {
      this.model.die(node);
      this.stats.nodeDeaths++;
    }
    return node.dead ? err("conflict", "node_dead") : ok;
  }

  /** A task (of `among`, all by default), leased ones more often; sometimes none (an unknown id). */
  pickTask(among: ModelTask[] = [...this.model.tasks.values()]): ModelTask | undefined {
    const leased = among.filter((t) => t.status === "leased");
    if (this.rng.bool(0.05) || among.length === 0) {
      return undefined;
    }
    return leased.length > 0 && this.rng.bool(0.7) ? this.rng.pick(leased) : this.rng.pick(among);
  }

  /** The current lease token mostly; sometimes an old one of the task, or one that never existed. */
  pickToken(task: ModelTask): string {
    const r = this.rng.next();
    if (r < 0.75 && task.leaseToken !== null) {
      return task.leaseToken;
    }
    this.stats.staleTokenCalls++;
    if (r < 0.92 && task.tokens.length > 0) {
      return this.rng.pick(task.tokens);
    }
    return `l-${"0".repeat(32)}`;
  }
}
