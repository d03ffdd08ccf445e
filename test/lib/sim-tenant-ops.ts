/**
 * The simulation's steps across tenants: a caller of one tenant names another tenant's task or node
 * (a read, a cancel, a complete with the lease token it stole, a report by its own node, a heartbeat,
 * a drain). Each answers 404, as for an id that does not exist, and changes nothing: the model is
 * left as it was, and the checks after the step compare every table with it.
 */
import type { SimulationRun } from "./sim-driver";
import { queueSnapshot, reconcileLeases } from "./sim-leases";
import { err, type ModelTask } from "./sim-model";
import { expectReported, expectResult } from "./sim-ops";
import { as, otherTenant, type Region } from "./sim-sut";

export type CrossTenantCall = "get" | "cancel" | "complete" | "report" | "heartbeat" | "drain";

/** One call of a tenant on another tenant's task or node in `region`: 404, and nothing changes. */
export async function crossTenant(run: SimulationRun, region: Region): Promise<void> {
  const { rng, model: m } = run;
  const tasks = [...m.tasks.values()].filter((t) => t.region === region);
  const nodes = [...m.nodes.values()].filter((n) => n.region === region);
  const call = rng.weighted<CrossTenantCall>({
    get: tasks.length > 0 ? 2 : 0,
    cancel: tasks.length > 0 ? 2 : 0,
    complete: tasks.length > 0 ? 3 : 0,
    // A node of one tenant reports the outcome of another tenant's task.
    report: tasks.some((t) => nodes.some((n) => n.tenant !== t.tenant)) ? 3 : 0,
    heartbeat: nodes.length > 0 ? 1 : 0,
    drain: nodes.length > 0 ? 1 : 0,
  });
  const before = queueSnapshot(m);
  run.stats.crossTenantCalls++;
  if (call === "heartbeat" || call === "drain") {
    const node = rng.pick(nodes);
    const caller = as(otherTenant(node.tenant));
    run.note(`${call} ${node.id} (${node.tenant}) as ${caller.tenant}`);
    const reply = await run.sut.onShard(region, (s) =>
      call === "heartbeat" ? s.heartbeat(caller, node.id, {}) : s.drainNode(caller, node.id),
    );
    expectResult(`${call} of another tenant's node`, reply, err("not_found"));
    reconcileLeases(run, before, null, true);
    return;
  }
  // A report names a task of which the region holds a node of the other tenant.
  const among = call === "report" ? tasks.filter((t) => nodes.some((n) => n.tenant !== t.tenant)) : tasks;
  const task: ModelTask = run.pickTask(among) ?? rng.pick(among);
  // The current lease token most often: the one a thief would want.
  const token = task.leaseToken ?? (task.tokens.length > 0 ? rng.pick(task.tokens) : `l-${"0".repeat(32)}`);
  if (call === "report") {
    const node = rng.pick(nodes.filter((n) => n.tenant !== task.tenant));
    run.note(`report ${task.id} (${task.tenant}, ${task.status}) by ${node.id} (${node.tenant})`);
    const expected = run.acting(node);
    const item = {
      id: task.id,
      leaseToken: token,
      outcome: "succeeded" as const,
      retryable: false,
      error: "stolen",
      result: { by: "another tenant" },
    };
    const reply = await run.sut.onShard(region, (s) => s.report(as(node.tenant), node.id, [item]));
    expectResult("report of another tenant's task", reply, expected);
    if (reply.ok) {
      expectReported(run, region, node.tenant, [{ task, item }], reply.value.results);
    }
    reconcileLeases(run, before, null, true);
    return;
  }
  const caller = as(otherTenant(task.tenant));
  run.note(`${call} ${task.id} (${task.tenant}, ${task.status}) as ${caller.tenant}`);
  const reply = await run.sut.onShard(region, (s) =>
    call === "get"
      ? s.getTask(caller, task.id)
      : call === "cancel"
        ? s.cancelTask(caller, task.id)
        : s.completeTask(caller, task.id, { leaseToken: token, result: { by: "another tenant" } }),
  );
  expectResult(`${call} of another tenant's task`, reply, err("not_found"));
  reconcileLeases(run, before, null, true);
}
