/**
 * One simulated run: a seeded random sequence of operations and faults applied to the real
 * coordinator (see sim-sut.ts) and to the reference model (sim-model.ts), with every invariant
 * checked after every step (sim-check.ts). The seed alone replays the run.
 */
import { vi } from "vitest";
import type { LeasedTask, SubmitCommand } from "../../durable-objects/coordinator/scheduler";
import type { Result } from "../../src/core/errors";
import { Prng } from "./prng";
import { adoptRunAts, CheckMemory, checkAll, InvariantError } from "./sim-check";
import {
  advance,
  alarm,
  endWait,
  nodeDeath,
  poll,
  promote,
  queueSnapshot,
  reconcileLeases,
  restart,
  settlePolls,
} from "./sim-leases";
import { type Expect, err, Model, type ModelNode, type ModelTask, ok } from "./sim-model";
import { election, expectResult, expectSame, leaseCall, report, submit } from "./sim-ops";
import { Sut } from "./sim-sut";

/** The credential every simulated call uses (authorization is the auth matrix's job). */
export const ADMIN = { admin: true } as const;
/** Simulated time starts far in the future so the runtime's real alarm never fires during a run. */
export const EPOCH = Date.UTC(2200, 0, 1);
export const REGIONS = { r1: { lat: 48.85, lon: 2.35 }, r2: { lat: 40.71, lon: -74.0 } } as const;
export const ELECTIONS = ["e1", "e2"] as const;

/** Counts of what a run did, summed into the report. */
export interface SimStats {
  runs: number;
  ops: number;
  restarts: number;
  nodeDeaths: number;
  clockJumps: number;
  alarms: number;
  staleTokenCalls: number;
  submitted: number;
  outcomes: number;
}

export const emptyStats = (): SimStats => ({
  runs: 0,
  ops: 0,
  restarts: 0,
  nodeDeaths: 0,
  clockJumps: 0,
  alarms: 0,
  staleTokenCalls: 0,
  submitted: 0,
  outcomes: 0,
});

/** A long poll the coordinator holds; `expect` is the work dispatched to it, once it is. */
export interface PendingPoll {
  nodeId: string;
  promise: Promise<Result<{ tasks: LeasedTask[] }>>;
  expect: string[] | null;
  /** The lease token of each task dispatched to it. */
  tokens: Map<string, string>;
}

type Op =
  | "register"
  | "heartbeat"
  | "poll"
  | "longPoll"
  | "submit"
  | "batch"
  | "complete"
  | "fail"
  | "extend"
  | "report"
  | "cancel"
  | "drain"
  | "deregister"
  | "campaign"
  | "resign"
  | "fence"
  | "getElection"
  | "tick"
  | "jump"
  | "alarm"
  | "nodeDeath"
  | "restart";

/** Runs one seeded simulation against the coordinator whose storage is `ctx`; throws with the seed on a violation. */
export async function simulate(
  ctx: DurableObjectState,
  env: Env,
  seed: number,
  steps: number,
  stats: SimStats,
): Promise<void> {
  const run = new SimulationRun(ctx, env, seed, stats);
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
  try {
    await run.start();
    for (let step = 0; step < steps; step++) {
      await run.step(step);
    }
    await run.quiesce();
    stats.runs++;
    stats.outcomes += [...run.model.tasks.values()].filter((t) => t.outcome !== null).length;
  } catch (error) {
    const log = run.log.slice(-Number((globalThis as { SIM_LOG?: number }).SIM_LOG ?? 25)).join("\n  ");
    const why = error instanceof InvariantError ? "invariant broken" : "unexpected error";
    throw new Error(
      `simulation ${why} (replay: SIM_SEED=${seed}): ${(error as Error).message}\n  last steps:\n  ${log}`,
      { cause: error },
    );
  } finally {
    vi.clearAllTimers();
    vi.useRealTimers();
    await run.sut.wipe();
  }
}

/** The state of one run, shared with the operations in sim-ops.ts. */
export class SimulationRun {
  readonly rng: Prng;
  readonly clock = { now: EPOCH };
  readonly sut: Sut;
  model!: Model;
  readonly memory = new CheckMemory();
  readonly log: string[] = [];
  readonly polls = new Map<string, PendingPoll>();
  /** Deadlines of every long-poll timer of this incarnation, replaced polls included. */
  timers: number[] = [];
  /** Where the faked timers are, in simulated time. */
  timersAt = EPOCH;
  readonly keys = new Map<string, { hash: string; taskId: string; command: SubmitCommand }>();
  readonly formerNodes: string[] = [];

  constructor(
    ctx: DurableObjectState,
    env: Env,
    readonly seed: number,
    readonly stats: SimStats,
  ) {
    this.rng = new Prng(seed);
    const jitter = new Prng(seed ^ 0x5bd1e995);
    this.sut = new Sut(ctx, env, this.clock, () => jitter.next());
  }

  async start(): Promise<void> {
    await this.sut.wipe();
    await this.sut.boot();
    this.model = new Model(this.clock.now, this.sut.state.fleet.config);
    for (const [id, at] of Object.entries(REGIONS)) {
      expectResult("putRegion", await this.sut.rpc.putRegion(ADMIN, id, at), ok);
      this.model.regions.set(id, at);
    }
  }

  private liveNodes(): ModelNode[] {
    return [...this.model.nodes.values()].filter((n) => !n.dead);
  }

  async step(index: number): Promise<void> {
    const m = this.model;
    const nodes = [...m.nodes.values()];
    const tasks = [...m.tasks.values()];
    const leased = tasks.filter((t) => t.status === "leased");
    const op = this.rng.weighted<Op>({
      register: this.liveNodes().length < 4 ? 6 : 1,
      heartbeat: nodes.length > 0 ? 10 : 0,
      poll: nodes.length > 0 ? 12 : 0,
      longPoll: nodes.length > 0 ? 4 : 0,
      submit: 12,
      batch: 2,
      complete: tasks.length > 0 ? (leased.length > 0 ? 12 : 2) : 0,
      fail: leased.length > 0 ? 4 : 0,
      extend: leased.length > 0 ? 3 : 0,
      report: nodes.length > 0 && tasks.length > 0 ? 3 : 0,
      cancel: tasks.length > 0 ? 3 : 0,
      drain: nodes.length > 0 ? 1 : 0,
      deregister: nodes.length > 0 ? 1 : 0,
      campaign: 7,
      resign: 2,
      fence: 3,
      getElection: 2,
      tick: 10,
      jump: 2,
      alarm: 6,
      nodeDeath: nodes.length > 0 ? 1 : 0,
      restart: 2,
    });
    this.stats.ops++;
    this.log.push(`#${index} t+${m.now - EPOCH} ${op}`);
    await this.apply(op);
    // Freed slots (complete, fail, cancel, reclaim) may have handed queued work to waiting nodes.
    reconcileLeases(this, queueSnapshot(m), null, op !== "batch");
    await settlePolls(this);
    adoptRunAts(m, this.sut);
    await checkAll(m, this.sut, this.memory);
  }

  note(text: string): void {
    this.log[this.log.length - 1] += ` ${text}`;
  }

  private async apply(op: Op): Promise<void> {
    const { rng, model: m } = this;
    switch (op) {
      case "register": {
        const region = rng.pick(Object.keys(REGIONS));
        const capacity = rng.int(1, 3);
        const reply = await this.sut.rpc.registerNode(ADMIN, { region, capacity });
        expectResult(op, reply, ok);
        const id = (reply as { value: { id: string } }).value.id;
        this.note(`${id} ${region} cap=${capacity}`);
        const before = queueSnapshot(m);
        m.nodes.set(id, {
          id,
          region,
          capacity,
          lastSeen: m.now,
          draining: false,
          dead: false,
          waiting: null,
        });
        reconcileLeases(this, before, null, true);
        return;
      }
      case "heartbeat": {
        const node = this.pickNode();
        this.note(node.id);
        const expected = this.acting(node);
        const reply = await this.sut.rpc.heartbeat(ADMIN, node.id, {});
        expectResult(op, reply, expected);
        if (expected.ok) {
          node.lastSeen = m.now;
          const status = (reply as { value: { status: string } }).value.status;
          expectSame("heartbeat status", status, node.draining ? "draining" : "healthy");
        }
        return;
      }
      case "poll":
      case "longPoll":
        return poll(this, op === "longPoll");
      case "submit":
      case "batch":
        return submit(this, op === "batch" ? rng.int(2, 4) : 1);
      case "complete":
      case "fail":
      case "extend":
        return leaseCall(this, op);
      case "report":
        return report(this);
      case "cancel": {
        const task = this.pickTask();
        this.note(task?.id ?? "unknown");
        const expected = !task
          ? err("not_found")
          : task.outcome !== null
            ? err("conflict", "already_terminal")
            : ok;
        const reply = await this.sut.rpc.cancelTask(ADMIN, task?.id ?? "t-unknown");
        expectResult(op, reply, expected);
        if (task && expected.ok) {
          m.cancel(task);
        }
        return;
      }
      case "drain": {
        const node = this.pickNode();
        this.note(node.id);
        const expected = this.acting(node);
        const reply = await this.sut.rpc.drainNode(ADMIN, node.id);
        expectResult(op, reply, expected);
        if (expected.ok) {
          node.draining = true;
          endWait(this, node);
        }
        return;
      }
      case "deregister": {
        const node = this.pickNode();
        this.note(node.id);
        const reply = await this.sut.rpc.deregisterNode(ADMIN, node.id);
        expectResult(op, reply, ok);
        endWait(this, node);
        this.formerNodes.push(node.id);
        m.reclaim(node);
        m.nodes.delete(node.id);
        return;
      }
      case "campaign":
      case "resign":
      case "fence":
      case "getElection":
        return election(this, op);
      case "tick":
        return advance(this, rng.int(1, 2500));
      case "jump":
        this.stats.clockJumps++;
        return advance(this, rng.int(5000, 40_000));
      case "alarm":
        return alarm(this);
      case "nodeDeath":
        return nodeDeath(this);
      case "restart":
        return restart(this);
    }
  }

  /** The contract's checks on a node acting for itself: 404, 409 node_dead (declaring it dead on the spot). */
  acting(node: ModelNode): Expect {
    if (!this.model.nodes.has(node.id)) {
      return err("not_found");
    }
    if (!node.dead && this.model.silentTooLong(node)) {
      this.model.die(node);
    }
    return node.dead ? err("conflict", "node_dead") : ok;
  }

  pickNode(): ModelNode {
    return this.rng.pick([...this.model.nodes.values()]);
  }

  /** A task, leased ones more often; sometimes none (an unknown id). */
  pickTask(): ModelTask | undefined {
    const tasks = [...this.model.tasks.values()];
    const leased = tasks.filter((t) => t.status === "leased");
    if (this.rng.bool(0.05) || tasks.length === 0) {
      return undefined;
    }
    return leased.length > 0 && this.rng.bool(0.7) ? this.rng.pick(leased) : this.rng.pick(tasks);
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

  /**
   * After the faults: every node still registered keeps beating, each region gets a fresh node,
   * and nodes poll and complete until every acknowledged task has ended (liveness: nothing is
   * stranded by what happened before).
   */
  async quiesce(): Promise<void> {
    const m = this.model;
    for (let round = 0; [...m.tasks.values()].some((t) => t.outcome === null); round++) {
      if (round === 100) {
        const stuck = [...m.tasks.values()]
          .filter((t) => t.outcome === null)
          .map((t) => `${t.id}:${t.status}`);
        throw new InvariantError(`tasks never ended: ${stuck.join(", ")}`);
      }
      this.log.push(`quiesce round ${round} t+${m.now - EPOCH}`);
      for (const region of m.regions.keys()) {
        if (![...m.nodes.values()].some((n) => n.region === region && m.available(n))) {
          const reply = await this.sut.rpc.registerNode(ADMIN, { region, capacity: 3 });
          expectResult("register", reply, ok);
          const id = (reply as { value: { id: string } }).value.id;
          const before = queueSnapshot(m);
          m.nodes.set(id, {
            id,
            region,
            capacity: 3,
            lastSeen: m.now,
            draining: false,
            dead: false,
            waiting: null,
          });
          reconcileLeases(this, before, null, true);
        }
      }
      for (const node of [...m.nodes.values()]) {
        if (node.dead || node.draining || node.waiting !== null) {
          continue;
        }
        adoptRunAts(m, this.sut);
        const expected = this.acting(node);
        if (expected.ok) {
          node.lastSeen = m.now;
          promote(m);
        }
        const before = queueSnapshot(m);
        const reply = await this.sut.rpc.poll(ADMIN, node.id, { max: 3, waitMs: 0 });
        expectResult("poll", reply, expected);
        if (reply.ok) {
          reconcileLeases(this, before, { node, tasks: reply.value.tasks }, true);
        }
      }
      await settlePolls(this);
      for (const task of m.tasks.values()) {
        if (
          task.status === "leased" &&
          task.leaseToken !== null &&
          m.leaseRefusal(task, task.leaseToken) === null
        ) {
          const reply = await this.sut.rpc.completeTask(ADMIN, task.id, {
            leaseToken: task.leaseToken,
            result: 1,
          });
          expectResult("complete", reply, ok);
          m.succeed(task);
          reconcileLeases(this, queueSnapshot(m), null, true);
        }
      }
      await settlePolls(this);
      adoptRunAts(m, this.sut);
      await checkAll(m, this.sut, this.memory);
      await advance(this, 1500);
      await alarm(this);
      await settlePolls(this);
      adoptRunAts(m, this.sut);
      await checkAll(m, this.sut, this.memory);
    }
  }
}
