/**
 * The simulation's faults on the objects: a node dying (it falls silent while the others beat),
 * and restarts of a shard or of the coordinator (memory dropped, storage kept).
 */
import { InvariantError } from "./sim-check";
import type { PendingPoll, SimulationRun } from "./sim-driver";
import { advance, alarm, answer, queueSnapshot, reconcileLeases } from "./sim-leases";
import type { ModelNode } from "./sim-model";
import { expectResult, expectSame } from "./sim-ops";
import { ADMIN, REGION_IDS, type Region } from "./sim-sut";

/** Every live node of a region beats (one call), but `except`. */
export async function beatAll(run: SimulationRun, region: Region, except: ModelNode | null): Promise<void> {
  const m = run.model;
  const nodes = [...m.nodes.values()].filter((n) => n.region === region && n !== except && !n.dead);
  if (nodes.length === 0) {
    return;
  }
  const before = queueSnapshot(m);
  const expected = nodes.map((n) => run.acting(n));
  const replies = await run.sut.onShard(region, async (shard) => {
    const out = [];
    for (const node of nodes) {
      out.push(await shard.heartbeat(ADMIN, node.id, {}));
    }
    return out;
  });
  nodes.forEach((node, i) => {
    expectResult("heartbeat", replies[i]!, expected[i]!);
    if (expected[i]!.ok) {
      node.lastSeen = m.now;
    }
  });
  // A heartbeat may hand queued work to the node's waiting long poll.
  reconcileLeases(run, before, null, true);
}

/** A node falls silent while the others keep beating, past its deadline; then its shard's alarm runs. */
export async function nodeDeath(run: SimulationRun): Promise<void> {
  const m = run.model;
  const victims = [...m.nodes.values()].filter((n) => !n.dead);
  if (victims.length === 0) {
    return advance(run, 1000);
  }
  // Most often a candidate: its leaderships must end once the coordinator hears of its death.
  const candidates = victims.filter((n) =>
    [...m.elections.values()].some((e) => e.candidates.some((c) => c.nodeId === n.id)),
  );
  const victim = run.rng.pick(candidates.length > 0 && run.rng.bool(0.7) ? candidates : victims);
  run.note(victim.id);
  const half = Math.ceil(m.config.deadAfterMs / 2);
  for (let i = 0; i < 2; i++) {
    for (const region of REGION_IDS) {
      await beatAll(run, region, victim);
    }
    await advance(run, i === 0 ? half : m.config.deadAfterMs - half);
  }
  await alarm(run, victim.region as Region);
}

/**
 * A shard restarts: its memory is gone (long polls are cut off, like their HTTP requests; its
 * timers go), and it loads its storage again. Heartbeats are persisted lazily, so a node's last-seen
 * time may step back, by less than half an interval; the model adopts it.
 */
export async function restartShard(run: SimulationRun, region: Region): Promise<void> {
  const m = run.model;
  run.stats.restarts[region]++;
  const cut: PendingPoll[] = [];
  for (const node of m.nodes.values()) {
    if (node.region === region) {
      node.waiting = null;
      const pending = run.polls.get(node.id);
      if (pending) {
        cut.push(pending);
        run.polls.delete(node.id);
      }
    }
  }
  const before = queueSnapshot(m);
  await run.sut.restartShard(region, run.shardDeps(region));
  // Open channels outlive the restart: their credit, kept in the sockets' attachments, is offered again.
  reconcileLeases(run, before, null, false);
  for (const pending of cut) {
    expectSame(
      `the cut long poll of ${pending.nodeId}`,
      await answer(pending.promise, `the cut long poll of ${pending.nodeId}`),
      { ok: true, value: { tasks: [] } },
    );
  }
  m.restartedAt.set(region, m.now);
  const loaded = run.sut.shardState.get(region)!;
  for (const node of m.nodes.values()) {
    if (node.region !== region) {
      continue;
    }
    const lastSeenAt = loaded.nodes.find((n) => n.id === node.id)?.lastSeenAt ?? Number.NaN;
    const lag = node.lastSeen - lastSeenAt;
    if (!(lag >= 0 && lag < m.config.heartbeatIntervalMs / 2)) {
      throw new InvariantError(`node ${node.id}: heartbeat lost ${lag} ms across a restart`);
    }
    node.lastSeen = lastSeenAt;
  }
}

/** The coordinator restarts: its memory loaded again from storage (the checks compare it with the model). */
export async function restartCoordinator(run: SimulationRun): Promise<void> {
  run.stats.restarts.coordinator++;
  await run.sut.restartCoordinator(run.coordinatorDeps());
}
