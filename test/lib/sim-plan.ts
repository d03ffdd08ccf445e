/**
 * What a simulated run does next: each step is chosen with weights from what the model holds, with
 * the object it calls (a shard, the coordinator, or several) known before it runs, so that
 * consecutive steps of one object share a visit (sim-driver.ts).
 */

import {
  channelElection,
  channelFrames,
  closedSockets,
  drainChannel,
  dropChannel,
  giveCredit,
  lateReconnect,
  openChannel,
  staleFrames,
} from "./sim-channel-ops";
import { network } from "./sim-delivery";
import { EPOCH, type SimulationRun } from "./sim-driver";
import { nodeDeath, restartCoordinator, restartShard } from "./sim-faults";
import { advance, alarm, poll } from "./sim-leases";
import { cancel, deregister, drain, heartbeat, register } from "./sim-node-ops";
import { campaignRace, election, leaseCall, report, submit } from "./sim-ops";
import { comingOfAge } from "./sim-retention";
import { erase, longJump, readTask, retentionEdge } from "./sim-retention-ops";
import { REGION_IDS, type Region } from "./sim-sut";
import { crossTenant } from "./sim-tenant-ops";

/** A step chosen, with the object it calls (null: several, or none) and how to run it. */
export interface Planned {
  op: Op;
  target: Target | null;
  exec: () => Promise<void>;
}

export type Target = Region | "coordinator";

/** The steps that call one shard only, and those that call the coordinator only (restarts of a shard cut long polls: not these). */
const SHARD_OPS: readonly Op[] = [
  "register",
  "heartbeat",
  "poll",
  "complete",
  "fail",
  "extend",
  "report",
  "cancel",
  "drain",
  "deregister",
  "alarm",
  "channelOpen",
  "channelCredit",
  "channelFrames",
  "channelDrain",
  "channelDrop",
  "channelStale",
  "channelElection",
  "readTask",
  "crossTenant",
];
const COORDINATOR_OPS: readonly Op[] = [
  "campaign",
  "resign",
  "fence",
  "getElection",
  "alarm",
  "restart",
  "network",
];

export type Op =
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
  | "campaignNode"
  | "campaignRace"
  | "resign"
  | "resignNode"
  | "fence"
  | "getElection"
  | "tick"
  | "jump"
  | "alarm"
  | "nodeDeath"
  | "restart"
  | "network"
  | "channelOpen"
  | "channelCredit"
  | "channelFrames"
  | "channelDrain"
  | "channelDrop"
  | "channelLate"
  | "channelStale"
  | "channelElection"
  | "longJump"
  | "retentionEdge"
  | "erase"
  | "readTask"
  | "crossTenant";

/**
 * Chooses the next step and what it acts on (so the object it calls is known before it runs).
 * `stay`: the object of the visit under way, whose own steps only are chosen (requests come in
 * bursts; a burst costs one visit).
 */
export function plan(run: SimulationRun, index: number, stay: Target | null): Planned {
  const { rng, model: m } = run;
  const region = stay === "coordinator" ? null : stay;
  const nodes = [...m.nodes.values()].filter((n) => region === null || n.region === region);
  const tasks = [...m.tasks.values()].filter((t) => region === null || t.region === region);
  const leased = tasks.filter((t) => t.status === "leased");
  const live = run.liveNodes().length;
  // Channel sessions: open ones, those in their grace period, nodes that may open one (not in a long
  // poll), nodes that may long poll (no session: which of its poll or its channel gets work is the shard's choice).
  const channeled = nodes.filter((n) => n.channel !== null);
  const away = nodes.filter((n) => n.channelClosedAt !== null && !n.dead);
  const openers = nodes.filter((n) => n.waiting === null);
  const pollers = nodes.filter((n) => n.channel === null && n.channelClosedAt === null);
  const stale = closedSockets(run, region);
  // Tasks gone by retention or erasure (reads and calls on them answer 404), and rows coming of age.
  const gone = [...m.forgottenTasks]
    .filter(([, g]) => region === null || g.region === region)
    .map(([id, g]) => ({ id, region: g.region as Region }));
  const aging = comingOfAge(m, region);
  const weights: Partial<Record<Op, number>> = {
    register: live < 2 ? 12 : live < 4 ? 6 : 1,
    heartbeat: nodes.length > 0 ? 10 : 0,
    poll: nodes.length > 0 ? 12 : 0,
    longPoll: pollers.length > 0 ? 4 : 0,
    submit: 16,
    batch: 3,
    complete: tasks.length > 0 ? (leased.length > 0 ? 12 : 2) : 0,
    fail: leased.length > 0 ? 4 : 0,
    extend: leased.length > 0 ? 3 : 0,
    report: nodes.length > 0 && m.tasks.size > 0 ? 3 : 0,
    cancel: tasks.length > 0 ? 3 : 0,
    drain: nodes.length > 0 ? 1 : 0,
    deregister: nodes.length > 0 ? 1 : 0,
    campaign: 4,
    campaignNode: nodes.length > 0 ? 5 : 0,
    campaignRace: nodes.length > 0 ? 1 : 0,
    resign: 1,
    resignNode: nodes.length > 0 ? 1 : 0,
    fence: 3,
    getElection: 2,
    tick: 10,
    jump: 2,
    alarm: 6,
    nodeDeath: nodes.length > 0 ? 1 : 0,
    restart: 3,
    network: 14,
    channelOpen: openers.length > 0 ? (away.length > 0 ? 6 : 4) : 0,
    channelCredit: channeled.length > 0 ? 6 : 0,
    channelFrames: channeled.length > 0 ? 8 : 0,
    channelDrain: channeled.length > 0 ? 0.5 : 0,
    channelDrop: channeled.length > 0 ? 2 : 0,
    channelLate: away.length > 0 ? 1 : 0,
    channelStale: stale.length > 0 ? 1.5 : 0,
    channelElection: channeled.length > 0 ? 3 : 0,
    longJump: 2,
    retentionEdge: aging.length > 0 ? 5 : 0,
    erase: tasks.length + gone.length > 0 ? 2 : 0,
    readTask: tasks.length + gone.length > 0 ? 3 : 0,
    crossTenant: tasks.length + nodes.length > 0 ? 3 : 0,
  };
  if (run.soak) {
    // Steady load: new nodes as the old ones die (each long jump silences them all), submits and
    // completions, long jumps that carry the runs over several retention periods.
    const available = run.liveNodes().filter((n) => m.available(n)).length;
    weights.register = available < 2 ? 14 : available < 4 ? 3 : 0.3;
    weights.submit = 30;
    weights.batch = 10;
    weights.poll = nodes.length > 0 ? 24 : 0;
    weights.complete = leased.length > 0 ? 30 : 0;
    weights.longJump = 5;
    weights.retentionEdge = aging.length > 0 ? 1 : 0;
    weights.alarm = 2; // the runtime fires them on time for retention: sim-leases.ts
  }
  if (stay !== null) {
    const mine = stay === "coordinator" ? COORDINATOR_OPS : SHARD_OPS;
    for (const op of Object.keys(weights) as Op[]) {
      if (!mine.includes(op)) {
        weights[op] = 0;
      }
    }
    // As often as outside a burst, among its fewer steps (a shard's restart ends the burst: it runs
    // outside any visit, as it waits for the long polls it cuts off).
    weights.restart = 0.5;
  }
  const op = rng.weighted<Op>(weights);
  run.stats.ops++;
  run.log.push(`#${index} t+${m.now - EPOCH} ${op}`);
  const local = (target: Target, exec: () => Promise<void>): Planned => ({ op, target, exec });
  const cross = (exec: () => Promise<void>): Planned => ({ op, target: null, exec });
  const targetOf = (): Target => stay ?? rng.pick<Target>([...REGION_IDS, "coordinator"]);
  switch (op) {
    case "register": {
      const at = region ?? rng.pick(REGION_IDS);
      const capacity = rng.int(1, 3);
      return local(at, () => register(run, at, capacity));
    }
    case "heartbeat": {
      const node = rng.pick(nodes);
      return local(node.region as Region, () => heartbeat(run, node));
    }
    case "poll": {
      const node = rng.pick(nodes);
      return local(node.region as Region, () => poll(run, node, false));
    }
    case "longPoll": {
      const node = rng.pick(pollers);
      return cross(() => poll(run, node, true));
    }
    case "submit":
    case "batch":
      return cross(() => submit(run, op === "batch" ? rng.int(2, 4) : 1));
    case "complete":
    case "fail":
    case "extend":
    case "cancel": {
      const task = run.pickTask(tasks);
      // Sometimes a task that is gone: a late executor's call gets 404 once it is pruned.
      const ghost = task === undefined && gone.length > 0 && rng.bool(0.5) ? rng.pick(gone) : undefined;
      const at = (task?.region ?? ghost?.region ?? region ?? rng.pick(REGION_IDS)) as Region;
      return local(at, () =>
        op === "cancel" ? cancel(run, task, at, ghost?.id) : leaseCall(run, op, task, at, ghost?.id),
      );
    }
    case "erase":
    case "readTask": {
      // Mostly a task still held (erase: finished ones most often), else one gone, else an unknown id.
      const finished = tasks.filter((t) => t.finishedAt !== null);
      const among = op === "erase" && finished.length > 0 && rng.bool(0.7) ? finished : tasks;
      const ghost = gone.length > 0 && (among.length === 0 || rng.bool(0.3)) ? rng.pick(gone) : undefined;
      const task = ghost === undefined ? run.pickTask(among) : undefined;
      const at = (task?.region ?? ghost?.region ?? region ?? rng.pick(REGION_IDS)) as Region;
      return op === "erase"
        ? cross(() => erase(run, task, at, ghost?.id))
        : local(at, () => readTask(run, task, at, ghost?.id));
    }
    case "crossTenant": {
      const at = (region ?? rng.pick([...tasks, ...nodes]).region) as Region;
      return local(at, () => crossTenant(run, at));
    }
    case "longJump":
      return cross(() => longJump(run));
    case "retentionEdge":
      return cross(() => retentionEdge(run));
    case "report":
    case "drain":
    case "deregister": {
      const node = rng.pick(nodes);
      const at = node.region as Region;
      return local(at, () =>
        op === "report" ? report(run, node) : op === "drain" ? drain(run, node) : deregister(run, node),
      );
    }
    case "campaign":
    case "resign":
    case "fence":
    case "getElection":
      return local("coordinator", () => election(run, op));
    case "campaignNode":
    case "resignNode":
      return cross(() => election(run, op === "campaignNode" ? "campaign" : "resign", true));
    case "campaignRace":
      return cross(() => campaignRace(run));
    case "tick":
      return cross(() => advance(run, rng.int(1, 2500)));
    case "jump":
      run.stats.clockJumps++;
      return cross(() => advance(run, rng.int(5000, 40_000)));
    case "alarm": {
      const target = targetOf();
      run.note(target);
      return local(target, () => alarm(run, target));
    }
    case "nodeDeath":
      return cross(() => nodeDeath(run));
    case "restart": {
      const target = targetOf();
      run.note(target);
      return target === "coordinator"
        ? local(target, () => restartCoordinator(run))
        : cross(() => restartShard(run, target));
    }
    case "network":
      return local("coordinator", () => network(run));
    case "channelOpen": {
      // Most often the node comes back within its grace period.
      const back = openers.filter((n) => n.channelClosedAt !== null);
      const node = rng.pick(back.length > 0 && rng.bool(0.6) ? back : openers);
      return local(node.region as Region, () => openChannel(run, node));
    }
    case "channelLate": {
      const node = rng.pick(away);
      return cross(() => lateReconnect(run, node));
    }
    case "channelStale": {
      const socket = rng.pick(stale);
      return local(socket.region, () => staleFrames(run, socket));
    }
    case "channelCredit":
    case "channelFrames":
    case "channelDrain":
    case "channelDrop":
    case "channelElection": {
      const node = rng.pick(channeled);
      const step = {
        channelCredit: giveCredit,
        channelFrames: channelFrames,
        channelDrain: drainChannel,
        channelDrop: dropChannel,
        channelElection: channelElection,
      }[op];
      return local(node.region as Region, () => step(run, node));
    }
  }
}
