/**
 * The ends of a simulated run: the fleet it starts with, and its last visit to each shard, where
 * every acknowledged task is executed to its end (liveness) and the shard sends what it owes.
 */
import type { RegionShard } from "../../durable-objects/region-shard";
import { adoptRunAts, InvariantError } from "./sim-check";
import { deliverAll } from "./sim-delivery";
import { EPOCH, type SimulationRun } from "./sim-driver";
import { advance, alarm, endWait, promote, queueSnapshot, reconcileLeases } from "./sim-leases";
import { ok } from "./sim-model";
import { newNodeId, register } from "./sim-node-ops";
import { expectResult } from "./sim-ops";
import { as, type PollReply, REGION_IDS, type Region, TENANTS } from "./sim-sut";

/**
 * The fleet a run starts with: each region gets up to two nodes, most often, and the network
 * delivers what their shards said (so the edge has healthy regions to route to). These are the
 * objects' first visits of the run, which wipe them anyway.
 */
export async function prelude(run: SimulationRun): Promise<void> {
  run.log.push("prelude");
  for (const region of REGION_IDS) {
    const count = run.rng.weighted({ 0: 1, 1: 2, 2: 1 });
    await run.sut.onShard(region, async () => {
      for (let i = 0; i < Number(count); i++) {
        await register(run, region, run.rng.int(1, 3));
      }
    });
  }
  await run.sut.onCoordinator(() => deliverAll(run));
  await run.check();
}

/**
 * After the faults, one last visit to each shard: it gets a fresh node when it has none that may
 * take work, and nodes poll and complete until every acknowledged task has ended (liveness:
 * nothing is stranded by what happened before), time passing for the shard (its own timers and
 * alarm) between rounds. Then its timers fire and its alarm runs once more (it sends what it
 * owes the coordinator), and its long polls are cut off: the run is over.
 */
export async function quiesce(run: SimulationRun): Promise<void> {
  const m = run.model;
  const unended = (region: Region) =>
    [...m.tasks.values()].filter((t) => t.region === region && t.outcome === null);
  for (const region of REGION_IDS) {
    await run.sut.onShard(region, async (shard, _ctx, photograph) => {
      for (let round = 0; unended(region).length > 0; round++) {
        if (round === 50) {
          const stuck = unended(region).map((t) => `${t.id}:${t.status}`);
          throw new InvariantError(`tasks never ended: ${stuck.join(", ")}`);
        }
        run.log.push(`quiesce ${region} round ${round} t+${m.now - EPOCH}`);
        await executeAll(run, region, shard, photograph);
        await run.afterStep(true, true);
        if (unended(region).length === 0) {
          break;
        }
        await advance(run, 1500, region);
        await alarm(run, region);
        await run.afterStep(true, true);
      }
      run.log.push(`last visit to ${region} t+${m.now - EPOCH}`);
      await advance(run, 300, region);
      await alarm(run, region);
      for (const node of m.nodes.values()) {
        if (node.region === region && node.waiting !== null) {
          endWait(run, node); // its request is cut off: answered with nothing
        }
      }
      for (const nodeId of [...shard.engine.nodes.waiting]) {
        shard.engine.scheduler.stopWaiting(nodeId, true);
      }
      await photograph();
      await run.afterStep(true, true);
    });
    await run.check();
  }
}

/** Inside a shard: a fresh node if needed, every free node polls, every valid lease completes. */
async function executeAll(
  run: SimulationRun,

  region: Region,
  shard: RegionShard,
  photograph: () => Promise<void>,
): Promise<void> {
  const m = run.model;
  const nodes = () => [...m.nodes.values()].filter((n) => n.region === region);
  for (const tenant of TENANTS) {
    // A node of each tenant with work left here (a node takes only its tenant's tasks).
    const work = [...m.tasks.values()].some(
      (t) => t.region === region && t.tenant === tenant && t.outcome === null,
    );
    if (!nodes().some((n) => n.tenant === tenant && m.available(n)) && (work || tenant === "default")) {
      const id = newNodeId(run, region);
      run.log.push(`  register ${id} ${tenant}`);
      expectResult("register", await shard.registerNode(as(tenant), { id, capacity: 3 }), ok);
      m.addNode(id, region, 3, tenant);
      await photograph();
    }
  }
  for (const node of nodes()) {
    if (node.dead || node.draining || node.waiting !== null) {
      continue;
    }
    adoptRunAts(m, run.sut);
    const expected = run.acting(node);
    if (expected.ok) {
      node.lastSeen = m.now;
      promote(m, region);
    }
    const before = queueSnapshot(m);
    const reply = (await shard.poll(as(node.tenant), node.id, { max: 3, waitMs: 0 })) as PollReply;
    await photograph();
    expectResult("poll", reply, expected);
    if (reply.ok) {
      reconcileLeases(run, before, { node, tasks: reply.value.tasks }, true);
    }
  }
  for (const task of [...m.tasks.values()]) {
    if (
      task.region === region &&
      task.status === "leased" &&
      task.leaseToken !== null &&
      m.leaseRefusal(task, task.leaseToken) === null
    ) {
      const reply = await shard.completeTask(as(task.tenant), task.id, {
        leaseToken: task.leaseToken,
        result: 1,
      });
      expectResult("complete", reply, ok);
      m.succeed(task);
      await photograph();
      reconcileLeases(run, queueSnapshot(m), null, true);
    }
  }
}
