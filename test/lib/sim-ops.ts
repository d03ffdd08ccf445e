/**
 * The simulation's request-shaped steps: submitting (single and batch, with idempotency keys and
 * routing), lease-carrying calls (complete, fail, extend, report) and elections. Each computes the
 * model's expectation, calls the coordinator, compares, and applies the change to the model.
 */
import type { SubmitCommand } from "../../durable-objects/coordinator/scheduler";
import type { Result } from "../../src/core/errors";
import { checkLeaderView, InvariantError } from "./sim-check";
import { ELECTIONS, REGIONS, type SimulationRun } from "./sim-driver";
import { queueSnapshot, reconcileLeases } from "./sim-leases";
import { distanceKm, type Expect, err, type Model, ok } from "./sim-model";

const ADMIN = { admin: true } as const;

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

/** Where the contract routes an unpinned task: the nearest healthy region with room, else the nearest healthy one. */
function route(m: Model, from: { lat: number; lon: number }): string | null {
  const healthy = [...m.regions.keys()].filter((r) => m.regionHealthy(r));
  const byDistance = healthy.sort(
    (a, b) => distanceKm(from, m.regions.get(a)!) - distanceKm(from, m.regions.get(b)!),
  );
  const withRoom = byDistance.filter((r) => {
    const load = m.regionLoad(r);
    return load.inFlight + load.queued < load.capacity;
  });
  return withRoom[0] ?? byDistance[0] ?? null;
}

function newCommand(run: SimulationRun): SubmitCommand {
  const { rng } = run;
  const pinned = rng.bool(0.4);
  const region = pinned ? (rng.bool(0.05) ? "nowhere" : rng.pick(Object.keys(REGIONS))) : null;
  const city = rng.pick(Object.values(REGIONS));
  const body = {
    type: "job",
    payload: { n: rng.int(0, 1e6) },
    priority: rng.int(0, 2),
    runAt: null,
    delayMs: rng.bool(0.7) ? 0 : rng.int(1, 5000),
    maxAttempts: rng.int(1, 3),
    timeoutMs: rng.int(1000, 8000),
    affinityKey: null,
    region,
    from: { lat: city.lat + rng.int(-20, 20), lon: city.lon + rng.int(-20, 20) },
  };
  const keyed = rng.bool(0.25);
  const key = keyed ? `k${rng.int(0, 5)}` : null;
  // A repeat of a known key resends the first body (200) or a changed one (409), half and half.
  const known = key === null ? undefined : run.keys.get(key);
  if (known && rng.bool(0.5)) {
    return { ...known.command };
  }
  return {
    ...body,
    decision: null,
    idempotencyKey: key,
    requestHash: key === null ? null : JSON.stringify(body),
  };
}

/** Submits one task or a batch; each item routed, stored or refused as the contract says. */
export async function submit(run: SimulationRun, count: number): Promise<void> {
  const m = run.model;
  const commands = Array.from({ length: count }, () => newCommand(run));
  const before = queueSnapshot(m);
  const reply =
    count === 1
      ? await run.sut.rpc.submit(ADMIN, commands[0]!)
      : await run.sut.rpc.submitBatch(ADMIN, commands);
  const items: Result<{ id: string; status: string; region: string }>[] =
    count === 1
      ? [reply.ok ? { ok: true, value: (reply.value as unknown as { task: never }).task } : reply]
      : reply.ok
        ? (reply.value as unknown as { results: ({ task: never } | { error: never })[] }).results.map((r) =>
            "task" in r ? { ok: true, value: r.task } : { ok: false, error: r.error },
          )
        : fail(`batch refused: ${JSON.stringify(reply)}`);
  const created = new Set<string>();
  for (const [i, command] of commands.entries()) {
    const item = items[i]!;
    const known = command.idempotencyKey === null ? undefined : run.keys.get(command.idempotencyKey);
    run.note(
      `${command.region ?? "routed"}${command.idempotencyKey ? ` key=${command.idempotencyKey}` : ""}`,
    );
    if (known) {
      if (known.hash !== command.requestHash) {
        expectResult("submit (changed body, same key)", item, err("conflict", "idempotency_mismatch"));
      } else {
        expectResult("submit (repeat)", item, ok);
        expectSame("idempotent repeat", item.ok && item.value.id, known.taskId);
        if (count === 1 && reply.ok) {
          expectSame("repeat is not created", (reply.value as { created: boolean }).created, false);
        }
      }
      continue;
    }
    let region: string | null;
    if (command.region !== null) {
      region = m.regions.has(command.region) ? command.region : null;
      if (region === null) {
        expectResult("submit (unknown region)", item, err("not_found"));
        continue;
      }
      if (!m.regionHealthy(region)) {
        expectResult("submit (unhealthy region)", item, err("no_healthy_region"));
        continue;
      }
    } else {
      region = route(m, command.from!);
      if (region === null) {
        expectResult("submit (no healthy region)", item, err("no_healthy_region"));
        continue;
      }
    }
    expectResult("submit", item, ok);
    const view = (item as { value: { id: string; status: string; region: string } }).value;
    expectSame(`region of ${view.id}`, view.region, region);
    const task = m.newTask({
      id: view.id,
      region,
      priority: command.priority,
      runAt: m.now + (command.delayMs ?? 0),
      maxAttempts: command.maxAttempts,
      timeoutMs: command.timeoutMs,
      idempotencyKey: command.idempotencyKey,
      requestHash: command.requestHash,
    });
    expectSame(`status of ${view.id}`, view.status, task.status);
    created.add(task.id);
    run.stats.submitted++;
    if (command.idempotencyKey !== null) {
      run.keys.set(command.idempotencyKey, { hash: command.requestHash!, taskId: task.id, command });
    }
  }
  // New queued tasks may go straight to a waiting node; the ones submitted now join the snapshot.
  for (const id of created) {
    const t = m.tasks.get(id)!;
    if (t.status === "queued") {
      before.get(t.region)!.push(id);
    }
  }
  reconcileLeases(run, before, null, count === 1);
}

function fail(message: string): never {
  throw new InvariantError(message);
}

/** complete / fail / extend with the current, a stale or a made-up lease token. */
export async function leaseCall(run: SimulationRun, op: "complete" | "fail" | "extend"): Promise<void> {
  const m = run.model;
  const task = run.pickTask();
  const token = task ? run.pickToken(task) : "l-none";
  const refusal = task ? m.leaseRefusal(task, token) : null;
  const expected = !task ? err("not_found") : refusal ? err("conflict", refusal) : ok;
  run.note(`${task?.id ?? "unknown"} ${refusal ?? (task ? "valid" : "")}`);
  const id = task?.id ?? "t-unknown";
  if (op === "complete") {
    const reply = await run.sut.rpc.completeTask(ADMIN, id, { leaseToken: token, result: { by: "sim" } });
    expectResult(op, reply, expected);
    if (task && expected.ok) {
      m.succeed(task);
    }
  } else if (op === "fail") {
    const retryable = run.rng.bool(0.8);
    const reply = await run.sut.rpc.failTask(ADMIN, id, { leaseToken: token, error: "sim", retryable });
    expectResult(op, reply, expected);
    if (task && expected.ok) {
      m.failAttempt(task, retryable);
      expectSame(`fail of ${id}`, (reply as { value: { status: string } }).value.status, task.status);
    }
  } else {
    const extendMs = run.rng.int(1000, 20_000);
    const reply = await run.sut.rpc.extendLease(ADMIN, id, { leaseToken: token, extendMs });
    expectResult(op, reply, expected);
    if (task && expected.ok) {
      task.leaseExpiresAt = Math.max(task.leaseExpiresAt!, m.now + extendMs);
      expectSame(`extend of ${id}`, (reply as { value: unknown }).value, {
        leaseExpiresAt: task.leaseExpiresAt,
      });
    }
  }
}

/** Many outcomes in one call; each item alone. */
export async function report(run: SimulationRun): Promise<void> {
  const m = run.model;
  const node = run.pickNode();
  const picks = Array.from({ length: run.rng.int(1, 3) }, () => run.pickTask());
  const reports = picks.map((task) => ({
    id: task?.id ?? "t-unknown",
    leaseToken: task ? run.pickToken(task) : "l-none",
    outcome: run.rng.bool(0.7) ? ("succeeded" as const) : ("failed" as const),
    retryable: run.rng.bool(0.8),
    error: "sim",
    result: { by: "report" },
  }));
  run.note(`${node.id} ${reports.length} items`);
  const expected = run.acting(node);
  const reply = await run.sut.rpc.report(ADMIN, node.id, reports);
  expectResult("report", reply, expected);
  if (!reply.ok) {
    return;
  }
  for (const [i, r] of reports.entries()) {
    const task = picks[i];
    const got = reply.value.results[i]!;
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

/** Campaign, resign, fence and read, by nodes (bound candidacies) and by free names. */
export async function election(
  run: SimulationRun,
  op: "campaign" | "resign" | "fence" | "getElection",
): Promise<void> {
  const { rng, model: m } = run;
  const name = rng.pick(ELECTIONS);
  const nodeIds = [...m.nodes.keys(), ...run.formerNodes];
  const candidate = nodeIds.length > 0 && rng.bool(0.5) ? rng.pick(nodeIds) : `c${rng.int(1, 3)}`;
  const e = m.election(name);
  const now = m.now;
  if (op === "campaign") {
    const ttlMs = rng.int(1000, 8000);
    run.note(`${name} ${candidate} ttl=${ttlMs}`);
    const node = m.nodes.get(candidate);
    const expected = node ? run.acting(node) : ok;
    const reply = await run.sut.rpc.campaign(ADMIN, name, { candidate, ttlMs });
    expectResult(op, reply, expected);
    if (!reply.ok) {
      return;
    }
    e.apply({ kind: "campaign", candidate, ttlMs, nodeId: node ? node.id : null }, now);
    const position = e.candidates.findIndex((c) => c.candidate === candidate);
    expectSame(`campaign ${name}`, reply.value, {
      isLeader: position === 0,
      position,
      leader:
        e.leader === null
          ? null
          : { candidate: e.leader, term: e.term, since: e.since, expiresAt: e.leaderExpiresAt() },
    });
    return;
  }
  if (op === "resign") {
    run.note(`${name} ${candidate}`);
    expectResult(op, await run.sut.rpc.resign(ADMIN, name, { candidate }), ok);
    e.apply({ kind: "resign", candidate }, now);
    return;
  }
  const known = e.exists || e.candidates.length > 0;
  if (op === "fence") {
    const term = rng.pick([e.term, e.term - 1, e.term + 1, 0]);
    run.note(`${name} term=${term === e.term ? "current" : term}`);
    if (known) {
      e.apply({ kind: "tick" }, now);
    }
    const expected = !known
      ? err("not_found")
      : e.leader === null || term !== e.term
        ? err("conflict", "stale_term")
        : ok;
    expectResult(op, await run.sut.rpc.fence(ADMIN, name, { term }), expected);
    return;
  }
  run.note(name);
  if (known) {
    e.apply({ kind: "tick" }, now);
  }
  const reply = await run.sut.rpc.getElection(ADMIN, name);
  expectResult(op, reply, known ? ok : err("not_found"));
  if (reply.ok) {
    checkLeaderView(name, now, reply.value.leader, reply.value.candidates);
    expectSame(
      `election ${name}`,
      [reply.value.term, reply.value.leader?.candidate ?? null],
      [e.term, e.leader],
    );
  }
}
