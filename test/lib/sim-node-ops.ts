/**
 * The simulation's steps on a node's life at its shard: registration, heartbeat, drain,
 * deregistration; and cancelling a task. Each computes the model's expectation, calls the shard,
 * compares, and applies the change to the model.
 */
import { formatNodeId, ID_ALPHABET } from "../../src/core/ids";
import type { SimulationRun } from "./sim-driver";
import { endWait, queueSnapshot, reconcileLeases } from "./sim-leases";
import { err, type ModelNode, type ModelTask, ok } from "./sim-model";
import { expectResult, expectSame, unknownTaskId } from "./sim-ops";
import { ADMIN, as, type Region, TENANTS } from "./sim-sut";

/** A node id made from the seed (candidate names order elections: ids must replay). */
export function newNodeId(run: SimulationRun, region: Region): string {
  return formatNodeId(region, Array.from({ length: 12 }, () => ID_ALPHABET[run.rng.int(0, 31)]).join(""));
}

export async function heartbeat(run: SimulationRun, node: ModelNode): Promise<void> {
  run.note(node.id);
  const expected = run.acting(node);
  const reply = await run.sut.onShard(node.region as Region, (s) =>
    s.heartbeat(as(node.tenant), node.id, {}),
  );
  expectResult("heartbeat", reply, expected);
  if (reply.ok) {
    node.lastSeen = run.model.now;
    expectSame("heartbeat status", reply.value.status, node.draining ? "draining" : "healthy");
  }
}

/** Cancels a task (`goneId`: one that is gone already, pruned or erased: 404). */
export async function cancel(
  run: SimulationRun,
  task: ModelTask | undefined,
  region: Region,
  goneId?: string,
): Promise<void> {
  const id = task?.id ?? goneId ?? unknownTaskId(region);
  run.note(task ? id : goneId ? `${id} gone` : "unknown");
  const expected = !task
    ? err("not_found")
    : task.outcome !== null
      ? err("conflict", "already_terminal")
      : ok;
  const reply = await run.sut.onShard(region, (s) => s.cancelTask(task ? as(task.tenant) : ADMIN, id));
  expectResult("cancel", reply, expected);
  if (task && expected.ok) {
    run.model.cancel(task);
  }
}

export async function drain(run: SimulationRun, node: ModelNode): Promise<void> {
  run.note(node.id);
  const expected = run.acting(node);
  const reply = await run.sut.onShard(node.region as Region, (s) => s.drainNode(as(node.tenant), node.id));
  expectResult("drain", reply, expected);
  if (expected.ok) {
    node.draining = true;
    endWait(run, node);
  }
}

export async function deregister(run: SimulationRun, node: ModelNode): Promise<void> {
  run.note(node.id);
  endWait(run, node);
  run.model.deregister(node); // before the call: the shard may tell the coordinator (and hear back) within it
  const reply = await run.sut.onShard(node.region as Region, (s) =>
    s.deregisterNode(as(node.tenant), node.id),
  );
  expectResult("deregister", reply, ok);
}

/** Registers a node. */
export async function register(run: SimulationRun, region: Region, capacity: number): Promise<void> {
  const m = run.model;
  const id = newNodeId(run, region);
  const tenant = run.rng.pick(TENANTS);
  run.note(`${id} cap=${capacity} ${tenant}`);
  const before = queueSnapshot(m);
  expectResult(
    "register",
    await run.sut.onShard(region, (s) => s.registerNode(as(tenant), { id, capacity })),
    ok,
  );
  m.addNode(id, region, capacity, tenant);
  reconcileLeases(run, before, null, true);
}
