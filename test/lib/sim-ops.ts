/**
 * The simulation's request-shaped steps: submitting through the real edge placement (single and
 * batch, pinned and routed, with idempotency keys), lease-carrying calls (complete, fail, extend,
 * report) and elections (the edge's vouching by the node's shard, then the coordinator). Each
 * computes the model's expectation, calls the objects, compares, and applies the change to the model.
 */

import type { Result } from "../../src/core/errors";
import { formatTaskId } from "../../src/core/ids";
import { placeTasks } from "../../src/http/task-placement";
import type { SubmitTaskInput } from "../../src/schemas/tasks";
import { checkLeaderView, InvariantError } from "./sim-check";
import { deliverWhere } from "./sim-delivery";
import { ELECTIONS, type SimulationRun } from "./sim-driver";
import { endWait, queueSnapshot, reconcileLeases } from "./sim-leases";
import { type Expect, err, type ModelNode, type ModelTask, ok } from "./sim-model";
import { expectPlacement, type SimBody } from "./sim-placement";
import { ADMIN, as, REGIONS, type Region, TENANTS, type Tenant } from "./sim-sut";

export function expectSame(what: string, actual: unknown, expected: unknown): void {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new InvariantError(
      `${what}: got ${JSON.stringify(actual)}, model expects ${JSON.stringify(expected)}`,
    );
  }
}

/** A call's success or error (code and reason) is what the model said it would be. */
export function expectResult(what: string, reply: Result<unknown>, expected: Expect): void {
  if (reply.ok !== expected.ok) {
    throw new InvariantError(
      `${what}: got ${JSON.stringify(reply).slice(0, 300)}, model expects ${JSON.stringify(expected)}`,
    );
  }
  if (!reply.ok && !expected.ok) {
    expectSame(`${what} error`, [reply.error.code, reply.error.reason], [expected.code, expected.reason]);
  }
}

/** A task id of a region that names no task. */
export const unknownTaskId = (region: Region) => formatTaskId(region, 0, "zzzzzzzzzzzz");

/** A body: pinned (sometimes to a region that does not exist) or routed from near a city; keyed or not. */
function newBody(run: SimulationRun, tenant: Tenant): { input: SubmitTaskInput; sim: SimBody } {
  const { rng } = run;
  const pinned = rng.bool(0.4);
  const region = pinned ? (rng.bool(0.05) ? "nowhere" : rng.pick(Object.keys(REGIONS))) : null;
  const city = rng.pick(Object.values(REGIONS));
  const location = { lat: city.lat + rng.int(-20, 20), lon: city.lon + rng.int(-20, 20) };
  const delayMs = rng.bool(0.7) ? 0 : rng.int(1, 5000);
  const body: SubmitTaskInput = {
    type: "job",
    payload: { n: rng.int(0, 1e6) },
    priority: rng.int(0, 2),
    delayMs,
    maxAttempts: rng.int(1, 3),
    timeoutMs: rng.int(1000, 8000),
    location,
    ...(region === null ? {} : { region }),
  };
  // Keys of this run and tenant only: the key objects are not wiped between runs, and the tenants share one.
  const key = rng.bool(0.25) ? `s${run.seed}-${tenant}-k${rng.int(0, 5)}` : null;
  // A repeat of a known key resends the first body (a repeat) or a changed one (409), half and half.
  const known = key === null ? undefined : run.bodies.get(key);
  if (known && rng.bool(0.5)) {
    return known;
  }
  const input = key === null ? body : { ...body, idempotencyKey: key };
  const sim = { key, hash: JSON.stringify(body), pin: region, from: location, delayMs };
  if (key !== null && !known) {
    run.bodies.set(key, { input, sim });
  }
  return { input, sim };
}

/** Submits one task or a batch through the edge; each item stored, repeated or refused as the contract says. */
export async function submit(run: SimulationRun, count: number): Promise<void> {
  const m = run.model;
  const tenant = run.rng.pick(TENANTS);
  run.note(tenant);
  const bodies = Array.from({ length: count }, () => newBody(run, tenant));
  for (const b of bodies) {
    run.note(
      `${b.sim.pin ?? "routed"}${b.sim.key ? ` key=${b.sim.key}` : ""}${b.sim.delayMs ? " delayed" : ""}`,
    );
  }
  const { expected, stored } = expectPlacement(
    m,
    bodies.map((b) => b.sim),
  );
  const before = queueSnapshot(m);
  const placed = await placeTasks(
    run.edge,
    as(tenant),
    bodies.map((b) => b.input),
    () => null,
  );
  const ids: (string | null)[] = [];
  for (const [i, want] of expected.entries()) {
    const got = placed[i]!;
    const what = `submit item ${i}`;
    if (want.kind === "error") {
      const error = "error" in got ? got.error : null;
      expectSame(what, [error?.code, error?.reason], [want.code, want.reason]);
      ids.push(null);
      continue;
    }
    if (!("task" in got)) {
      throw new InvariantError(`${what}: got ${JSON.stringify(got)}, model expects ${JSON.stringify(want)}`);
    }
    ids.push(got.task.id);
    if (want.kind === "stored") {
      // A new task has a new id: never one of a task pruned or erased (a key outliving its task would bring it back).
      if (m.tasks.has(got.task.id) || m.forgottenTasks.has(got.task.id)) {
        throw new InvariantError(`${what}: stored under ${got.task.id}, the id of an earlier task`);
      }
      expectSame(
        what,
        [got.created, got.task.region, got.task.routing.region],
        [true, want.region, want.region],
      );
      if (!got.task.id.endsWith(`-${want.region}`)) {
        throw new InvariantError(`${what}: task id ${got.task.id} does not name region ${want.region}`);
      }
    } else {
      const taskId = want.kind === "repeat" ? want.taskId : ids[want.index];
      expectSame(`${what} (a repeat)`, [got.created, got.task.id], [false, taskId]);
    }
  }
  // Tasks stored, in the order the shards stored them.
  for (const i of stored) {
    const body = bodies[i]!.sim;
    const region = (expected[i] as { region: string }).region;
    const view = (placed[i] as { task: { id: string; status: string } }).task;
    const task = m.newTask({
      id: view.id,
      tenant,
      region,
      priority: bodies[i]!.input.priority,
      runAt: m.now + body.delayMs,
      maxAttempts: bodies[i]!.input.maxAttempts,
      timeoutMs: bodies[i]!.input.timeoutMs,
      idempotencyKey: body.key,
      requestHash: body.key === null ? null : body.hash,
    });
    expectSame(`status of ${view.id}`, view.status, task.status);
    run.stats.submitted++;
    run.stats.t2Submitted += tenant === "t2" ? 1 : 0;
    if (body.key !== null) {
      if (m.keys.has(body.key)) {
        run.stats.retention.expiredKeys++; // its first claim is past the retention: a new task
      }
      m.keys.set(body.key, { hash: body.hash, taskId: task.id, claimedAt: m.now });
    }
    // New queued tasks may go straight to a waiting node: they join the queue as it was.
    if (task.status === "queued") {
      before.get(region)!.push(task.id);
    }
  }
  reconcileLeases(run, before, null, count === 1);
}

/** complete / fail / extend with the current, a stale or a made-up lease token. */
export async function leaseCall(
  run: SimulationRun,
  op: "complete" | "fail" | "extend",
  task: ModelTask | undefined,
  region: Region,
  goneId?: string,
): Promise<void> {
  const m = run.model;
  const token = task ? run.pickToken(task) : "l-none";
  const refusal = task ? m.leaseRefusal(task, token) : null;
  const expected = !task ? err("not_found") : refusal ? err("conflict", refusal) : ok;
  run.note(`${task?.id ?? goneId ?? "unknown"} ${refusal ?? (task ? "valid" : goneId ? "gone" : "")}`);
  const id = task?.id ?? goneId ?? unknownTaskId(region);
  // The task's own tenant calls (a lease token is no key across tenants: sim-tenant-ops.ts).
  const caller = task ? as(task.tenant) : ADMIN;
  const before = queueSnapshot(m);
  if (op === "complete") {
    const reply = await run.sut.onShard(region, (s) =>
      s.completeTask(caller, id, { leaseToken: token, result: { by: "sim" } }),
    );
    expectResult(op, reply, expected);
    if (task && expected.ok) {
      m.succeed(task);
    }
  } else if (op === "fail") {
    const retryable = run.rng.bool(0.8);
    const reply = await run.sut.onShard(region, (s) =>
      s.failTask(caller, id, { leaseToken: token, error: "sim", retryable }),
    );
    expectResult(op, reply, expected);
    if (task && expected.ok) {
      m.failAttempt(task, retryable);
      expectSame(`fail of ${id}`, (reply as { value: { status: string } }).value.status, task.status);
    }
  } else {
    const extendMs = run.rng.int(1000, 20_000);
    const reply = await run.sut.onShard(region, (s) =>
      s.extendLease(caller, id, { leaseToken: token, extendMs }),
    );
    expectResult(op, reply, expected);
    if (task && expected.ok) {
      task.leaseExpiresAt = Math.max(task.leaseExpiresAt!, m.now + extendMs);
      expectSame(`extend of ${id}`, (reply as { value: unknown }).value, {
        leaseExpiresAt: task.leaseExpiresAt,
      });
    }
  }
  // A freed slot (complete, fail) may hand queued work to a waiting node.
  reconcileLeases(run, before, null, true);
}

/** One outcome of a report (HTTP or channel), with the task it names (undefined: an unknown id). */
export interface ReportPick {
  task: ModelTask | undefined;
  item: {
    id: string;
    leaseToken: string;
    outcome: "succeeded" | "failed";
    retryable: boolean;
    error: string;
    result: unknown;
  };
}

/** 1 to `most` outcomes of tasks picked among `among` (all by default), each with a current, stale or made-up token. */
export function pickReports(
  run: SimulationRun,
  region: Region,
  most: number,
  among?: ModelTask[],
): ReportPick[] {
  return Array.from({ length: run.rng.int(1, most) }, () => {
    const task = run.pickTask(among);
    return {
      task,
      item: {
        id: task?.id ?? unknownTaskId(region),
        leaseToken: task ? run.pickToken(task) : "l-none",
        outcome: run.rng.bool(0.7) ? ("succeeded" as const) : ("failed" as const),
        retryable: run.rng.bool(0.8),
        error: "sim",
        result: { by: "report" },
      },
    };
  });
}

/**
 * Each outcome of a report, in order, as the contract says: recorded, or refused alone (404 for a
 * task the shard does not hold, 409 with the lease's refusal); the model applies those recorded.
 */
export function expectReported(
  run: SimulationRun,
  region: Region,
  tenant: string,
  picks: ReportPick[],
  results: ({ id: string; status: string } | { id: string; error: { code: string; reason?: string } })[],
): void {
  const m = run.model;
  for (const [i, { task: picked, item: r }] of picks.entries()) {
    // Another region's task is not in this shard; another tenant's is not there for the caller (404).
    const task = picked?.region === region && picked.tenant === tenant ? picked : undefined;
    const got = results[i]!;
    const refusal = task ? m.leaseRefusal(task, r.leaseToken) : null;
    if (!task || refusal) {
      const want = !task ? ["not_found", undefined] : ["conflict", refusal];
      expectSame(`report item ${r.id}`, "error" in got ? [got.error.code, got.error.reason] : got, want);
      continue;
    }
    if (r.outcome === "succeeded") {
      m.succeed(task);
    } else {
      m.failAttempt(task, r.retryable);
    }
    expectSame(`report item ${r.id}`, got, { id: r.id, status: task.status });
  }
}

/** Many outcomes in one call to the node's shard; each item alone (a task of another region is not there). */
export async function report(run: SimulationRun, node: ModelNode): Promise<void> {
  const m = run.model;
  const region = node.region as Region;
  const picks = pickReports(run, region, 3);
  const reports = picks.map((p) => p.item);
  run.note(`${node.id} ${reports.length} items`);
  const expected = run.acting(node);
  const before = queueSnapshot(m);
  const reply = await run.sut.onShard(region, (s) => s.report(as(node.tenant), node.id, reports));
  expectResult("report", reply, expected);
  if (!reply.ok) {
    return;
  }
  expectReported(run, region, node.tenant, picks, reply.value.results);
  reconcileLeases(run, before, null, true);
}

/**
 * The node a candidate names, as the edge finds it: its shard vouches that the caller may act as
 * it (`act`: alive, to campaign) or owns it (`own`, to resign). A name of no node is a free name
 * (null); a refusal ends the request. Returns undefined when refused.
 */
async function vouch(
  run: SimulationRun,
  tenant: Tenant,
  candidate: string,
  mode: "act" | "own",
): Promise<string | null | undefined> {
  const found = run.model.nodes.get(candidate);
  if (!found && !run.model.departed.has(candidate)) {
    return null;
  }
  // Another tenant's node is no node to the caller (404): its id campaigns as a free name.
  const node = found?.tenant === tenant ? found : undefined;
  const region = candidate.slice(candidate.lastIndexOf("-") + 1) as Region;
  const expected = !node ? err("not_found") : mode === "act" ? run.acting(node) : ok;
  const before = queueSnapshot(run.model);
  const reply = await run.sut.onShard(region, (s) => s.authorizeNode(as(tenant), candidate, mode));
  expectResult(`vouch for ${candidate}`, reply, expected);
  reconcileLeases(run, before, null, true);
  if (!reply.ok) {
    return reply.error.code === "not_found" ? null : undefined;
  }
  return candidate;
}

/** A campaign at the coordinator, for a candidate bound to `nodeId` (or none). */
async function campaignAt(
  run: SimulationRun,
  tenant: Tenant,
  name: string,
  candidate: string,
  nodeId: string | null,
): Promise<void> {
  const m = run.model;
  // A node's candidacy lives long (an agent renews it while its channel is open): long enough to outlive its node.
  const ttlMs = run.rng.int(1000, nodeId === null ? 8000 : 30_000);
  run.note(`${tenant}/${name} ${candidate} ttl=${ttlMs}${nodeId ? " bound" : ""}`);
  const e = m.election(tenant, name);
  // A node the coordinator heard is gone may not campaign, bound or as a free name (ids are never reused).
  const refused = m.coordinatorGone.has(nodeId ?? candidate);
  const reply = await run.sut.onCoordinator((c) =>
    c.campaign(as(tenant), name, { candidate, ttlMs }, nodeId),
  );
  expectResult("campaign", reply, refused ? err("conflict", "node_dead") : ok);
  if (!reply.ok) {
    run.stats.deadCampaignsRefused++;
    return;
  }
  e.apply({ kind: "campaign", candidate, ttlMs, nodeId }, m.now);
  const position = e.candidates.findIndex((c) => c.candidate === candidate);
  expectSame(`campaign ${name}`, reply.value, {
    isLeader: position === 0,
    position,
    leader:
      e.leader === null
        ? null
        : { candidate: e.leader, term: e.term, since: e.since, expiresAt: e.leaderExpiresAt() },
  });
}

/** Campaign, resign, fence and read, by nodes (bound candidacies) and by free names. */
export async function election(
  run: SimulationRun,
  op: "campaign" | "resign" | "fence" | "getElection",
  byNode = false,
): Promise<void> {
  const { rng, model: m } = run;
  const name = rng.pick(ELECTIONS);
  const nodeIds = [...m.nodes.keys(), ...m.departed];
  const candidate = byNode && nodeIds.length > 0 ? rng.pick(nodeIds) : `c${rng.int(1, 3)}`;
  // Mostly the candidate node's own tenant; the same name in the other tenant is another election.
  const own = m.nodeTenants.get(candidate) as Tenant | undefined;
  const tenant = own !== undefined && rng.bool(0.8) ? own : rng.pick(TENANTS);
  const e = m.election(tenant, name);
  if (op === "campaign") {
    const nodeId = await vouch(run, tenant, candidate, "act");
    if (nodeId !== undefined) {
      await campaignAt(run, tenant, name, candidate, nodeId);
    }
    return;
  }
  if (op === "resign") {
    run.note(`${tenant}/${name} ${candidate}`);
    if ((await vouch(run, tenant, candidate, "own")) === undefined) {
      return;
    }
    expectResult(op, await run.sut.onCoordinator((c) => c.resign(as(tenant), name, { candidate })), ok);
    e.apply({ kind: "resign", candidate }, m.now);
    return;
  }
  const known = e.exists || e.candidates.length > 0;
  if (op === "fence") {
    const term = rng.pick([e.term, e.term - 1, e.term + 1, 0]);
    run.note(`${tenant}/${name} term=${term === e.term ? "current" : term}`);
    if (known) {
      e.apply({ kind: "tick" }, m.now);
    }
    const expected = !known
      ? err("not_found")
      : e.leader === null || term !== e.term
        ? err("conflict", "stale_term")
        : ok;
    expectResult(op, await run.sut.onCoordinator((c) => c.fence(as(tenant), name, { term })), expected);
    return;
  }
  run.note(`${tenant}/${name}`);
  if (known) {
    e.apply({ kind: "tick" }, m.now);
  }
  const reply = await run.sut.onCoordinator((c) => c.getElection(as(tenant), name));
  expectResult(op, reply, known ? ok : err("not_found"));
  if (reply.ok) {
    checkLeaderView(name, m.now, reply.value.leader, reply.value.candidates);
    expectSame(
      `election ${name}`,
      [reply.value.term, reply.value.leader?.candidate ?? null],
      [e.term, e.leader],
    );
  }
}

/**
 * A campaign that races its node's departure: the shard vouches for the node, the node deregisters
 * and the coordinator hears of it, and only then does the campaign reach the coordinator, which
 * must refuse it (409 node_dead) whatever order the messages came in.
 */
export async function campaignRace(run: SimulationRun): Promise<void> {
  const m = run.model;
  const live = [...m.nodes.values()].filter((n) => !n.dead);
  if (live.length === 0) {
    return election(run, "campaign", true);
  }
  const node = run.rng.pick(live);
  const region = node.region as Region;
  const name = run.rng.pick(ELECTIONS);
  const tenant = node.tenant as Tenant;
  if ((await vouch(run, tenant, node.id, "act")) !== node.id) {
    return;
  }
  const before = queueSnapshot(m);
  endWait(run, node);
  m.deregister(node);
  expectResult(
    "deregister",
    await run.sut.onShard(region, (s) => s.deregisterNode(as(node.tenant), node.id)),
    ok,
  );
  reconcileLeases(run, before, null, false);
  await deliverWhere(run, (p) => p.kind === "gone" && p.nodeIds.includes(node.id));
  await campaignAt(run, tenant, name, node.id, node.id);
}
