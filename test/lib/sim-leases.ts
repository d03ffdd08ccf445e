/**
 * The simulation's time-driven and lease-granting steps: polls and long polls, the alarm, clock
 * moves (stepping the long polls' faked timers in order), node death and coordinator restarts, and
 * the reconciliation that checks every lease the coordinator granted.
 */
import { vi } from "vitest";
import type { LeasedTask } from "../../durable-objects/coordinator/scheduler";
import type { Result } from "../../src/core/errors";
import { adoptRunAts, InvariantError } from "./sim-check";
import type { ADMIN as AdminCredential, PendingPoll, SimulationRun } from "./sim-driver";
import type { Model, ModelNode } from "./sim-model";
import { expectResult, expectSame } from "./sim-ops";

const ADMIN: typeof AdminCredential = { admin: true };
/** The real setTimeout, kept before any test fakes timers: a hung long poll is detected in real time. */
const realSetTimeout = globalThis.setTimeout;

/** Each region's queue (ids in the order nodes must get them), before an operation. */
export function queueSnapshot(model: Model): Map<string, string[]> {
  const snapshot = new Map<string, string[]>();
  for (const region of model.regions.keys()) {
    snapshot.set(
      region,
      model.queue(region).map((t) => t.id),
    );
  }
  return snapshot;
}

/** Moves scheduled tasks whose time has come to the queue (poll and alarm do this first). */
export function promote(model: Model): void {
  for (const task of model.tasks.values()) {
    // A retry scheduled in this same step has its runAt still to adopt; it is in the future anyway.
    if (task.status === "scheduled" && task.runAtBounds === null && task.runAt <= model.now) {
      task.status = "queued";
    }
  }
}

/** Waits for a poll the coordinator let go of; a poll that never answers is a broken invariant. */
async function answer(
  promise: Promise<Result<{ tasks: LeasedTask[] }>>,
  what: string,
): Promise<Result<{ tasks: LeasedTask[] }>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = realSetTimeout(() => reject(new InvariantError(`${what} never answered`)), 2000);
  });
  try {
    return await Promise.race([promise, hung]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Every task the model had queued that the coordinator now shows leased: it went to a live,
 * non-draining node of its region, within that node's room, and (when `ordered`) the leased tasks
 * are the head of each region's queue (priority, then FIFO). Work handed to a waiting node ends its
 * long poll, which must answer exactly that work. The model adopts the grants.
 */
export function reconcileLeases(
  run: SimulationRun,
  before: Map<string, string[]>,
  direct: { node: ModelNode; tasks: LeasedTask[] } | null,
  ordered: boolean,
): void {
  const m = run.model;
  const directIds = new Set(direct?.tasks.map((t) => t.id) ?? []);
  for (const [region, queue] of before) {
    const rows = queue.map(
      (id) =>
        run.sut.sql<{ id: string; status: string; node_id: string | null; lease_token: string | null }>(
          "SELECT id, status, node_id, lease_token FROM tasks WHERE id = ?",
          id,
        )[0]!,
    );
    const leased = rows.filter((r) => r.status === "leased");
    if (ordered) {
      const head = queue.slice(0, leased.length);
      expectSame(
        `${region}: leased tasks are the head of the queue`,
        leased.map((r) => r.id),
        head,
      );
    }
    for (const row of leased) {
      const node = row.node_id === null ? undefined : m.nodes.get(row.node_id);
      if (!node || node.region !== region || !m.available(node)) {
        throw new InvariantError(
          `task ${row.id} leased to ${row.node_id}, which may not take work in ${region}`,
        );
      }
      const task = m.tasks.get(row.id)!;
      if (directIds.has(row.id)) {
        if (direct?.node !== node) {
          throw new InvariantError(`task ${row.id} answered to ${direct?.node.id} but leased to ${node.id}`);
        }
        const handed = direct.tasks.find((t) => t.id === row.id)!;
        expectSame(`lease token of ${row.id}`, handed.leaseToken, row.lease_token);
        expectSame(`attempt of ${row.id}`, handed.attempt, task.attempts + 1);
        expectSame(`lease end of ${row.id}`, handed.leaseExpiresAt, m.now + task.timeoutMs);
      } else {
        const pending = run.polls.get(node.id);
        if (!pending || node.waiting === null) {
          throw new InvariantError(`task ${row.id} leased to ${node.id}, which neither polled nor waits`);
        }
        pending.expect = [...(pending.expect ?? []), row.id];
        pending.tokens.set(row.id, row.lease_token!);
      }
      m.grant(task, node, row.lease_token!);
    }
    for (const row of leased) {
      const node = m.nodes.get(row.node_id!)!;
      if (!directIds.has(row.id) && node.waiting !== null) {
        // Handed work ends the long poll (neither the dispatch nor the poll's end is a sign of life).
        node.waiting = null;
      }
    }
  }
  for (const t of direct?.tasks ?? []) {
    if (!before.get(direct!.node.region)?.includes(t.id)) {
      throw new InvariantError(
        `poll answered task ${t.id}, which was not runnable in ${direct!.node.region}`,
      );
    }
  }
}

/** A poll: waitMs 0 answers at once; a long poll waits for dispatched work or its timer. */
export async function poll(run: SimulationRun, long: boolean): Promise<void> {
  const m = run.model;
  const node = run.pickNode();
  const max = run.rng.int(1, 3);
  const waitMs = long ? run.rng.int(1000, 30_000) : 0;
  run.note(`${node.id} max=${max} waitMs=${waitMs}`);
  const pending = run.polls.get(node.id);
  // A node that sits in a long poll only polls again with a long poll that must wait too (no room
  // or no work); the case where its old poll is answered by the new one's promotion is left out.
  const room = node.capacity - m.inFlight(node.id);
  const wouldPromote = [...m.tasks.values()].some(
    (t) => t.status === "scheduled" && t.runAt <= m.now && t.region === node.region,
  );
  if (pending && (!long || (room > 0 && (m.queue(node.region).length > 0 || wouldPromote)))) {
    run.note("(heartbeat instead)");
    const beat = run.acting(node);
    expectResult("heartbeat", await run.sut.rpc.heartbeat(ADMIN, node.id, {}), beat);
    if (beat.ok) {
      node.lastSeen = m.now;
    }
    return;
  }
  adoptRunAts(m, run.sut);
  const expected = run.acting(node);
  if (expected.ok) {
    node.lastSeen = m.now;
    promote(m);
  }
  const before = queueSnapshot(m);
  const promise = run.sut.rpc.poll(ADMIN, node.id, { max, waitMs });
  if (pending && expected.ok) {
    // Replaced: the old long poll answers [] now, and the new one waits in its place.
    run.polls.delete(node.id);
    pending.expect = [];
    const old = await answer(pending.promise, `the replaced long poll of ${node.id}`);
    expectSame("replaced long poll", old, { ok: true, value: { tasks: [] } });
    node.waiting = null;
    reconcileLeases(run, before, null, true);
    startWait(run, node, max, waitMs, promise);
    return;
  }
  if (expected.ok && run.sut.state.fleet.waiting.has(node.id)) {
    reconcileLeases(run, before, null, true);
    startWait(run, node, max, waitMs, promise);
    return;
  }
  const reply = await answer(promise, `a poll of ${node.id}`);
  expectResult("poll", reply, expected);
  if (!reply.ok) {
    return;
  }
  const tasks = reply.value.tasks;
  reconcileLeases(run, before, { node, tasks }, true);
  const regionQueue = before.get(node.region)!;
  const toOthers = regionQueue.filter((id) => {
    const t = m.tasks.get(id)!;
    return t.status === "leased" && t.nodeId !== node.id;
  }).length;
  const queued = regionQueue.length;
  const free = node.capacity - (m.inFlight(node.id) - tasks.length);
  const want = node.draining ? 0 : Math.max(0, Math.min(max, free, queued - toOthers));
  expectSame(`tasks polled by ${node.id}`, tasks.length, want);
  if (tasks.length === 0 && waitMs > 0 && !node.draining) {
    throw new InvariantError(`long poll of ${node.id} answered [] at once`);
  }
}

function startWait(
  run: SimulationRun,
  node: ModelNode,
  max: number,
  waitMs: number,
  promise: Promise<Result<{ tasks: LeasedTask[] }>>,
): void {
  if (node.draining) {
    throw new InvariantError(`draining node ${node.id} was put in a long poll`);
  }
  const pending: PendingPoll = { nodeId: node.id, promise, expect: null, tokens: new Map() };
  run.polls.set(node.id, pending);
  node.waiting = { max, deadline: run.model.now + waitMs };
  run.timers.push(run.model.now + waitMs);
}

/** A node's long poll ends without work (drain, deregistration, its timer). */
export function endWait(run: SimulationRun, node: ModelNode): void {
  const pending = run.polls.get(node.id);
  if (pending) {
    pending.expect = [];
  }
  node.waiting = null;
}

/** Awaits every long poll the coordinator let go of, and checks it answered what was dispatched to it. */
export async function settlePolls(run: SimulationRun): Promise<void> {
  for (const [nodeId, pending] of [...run.polls]) {
    if (run.sut.state.fleet.waiting.has(nodeId)) {
      continue;
    }
    run.polls.delete(nodeId);
    const reply = await answer(pending.promise, `the long poll of ${nodeId}`);
    if (pending.expect === null && run.model.nodes.get(nodeId)?.waiting === null) {
      pending.expect = []; // ended by its node's death
    }
    if (pending.expect === null) {
      throw new InvariantError(`the long poll of ${nodeId} ended although the model has it waiting`);
    }
    if (!reply.ok) {
      throw new InvariantError(`the long poll of ${nodeId} failed: ${JSON.stringify(reply.error)}`);
    }
    expectSame(
      `long poll of ${nodeId}`,
      reply.value.tasks.map((t) => t.id).sort(),
      [...pending.expect].sort(),
    );
    for (const t of reply.value.tasks) {
      // The token granted at dispatch (the lease may have ended since, within the same step).
      expectSame(`lease token of ${t.id}`, t.leaseToken, pending.tokens.get(t.id));
    }
  }
}

/** Moves the clock forward, firing each long poll's timer at its own instant on the way. */
export async function advance(run: SimulationRun, ms: number): Promise<void> {
  const m = run.model;
  const target = m.now + ms;
  const due = run.timers.filter((t) => t > m.now && t <= target).sort((a, b) => a - b);
  run.timers = run.timers.filter((t) => t > target);
  for (const at of due) {
    moveTo(run, at);
    for (const node of m.nodes.values()) {
      if (node.waiting?.deadline === at) {
        endWait(run, node);
      }
    }
    await settlePolls(run);
  }
  moveTo(run, target);
}

function moveTo(run: SimulationRun, at: number): void {
  run.clock.now = at;
  run.model.now = at;
  vi.advanceTimersByTime(at - run.timersAt);
  run.timersAt = at;
}

/** The coordinator's alarm: node deaths, lease expiry, due retries, candidate ttl, in that order. */
export async function alarm(run: SimulationRun): Promise<void> {
  const m = run.model;
  run.stats.alarms++;
  adoptRunAts(m, run.sut);
  for (const node of m.nodes.values()) {
    if (!node.dead && m.silentTooLong(node)) {
      m.die(node);
      run.stats.nodeDeaths++;
    }
  }
  for (const task of m.tasks.values()) {
    if (task.status === "leased" && task.leaseExpiresAt !== null && task.leaseExpiresAt <= m.now) {
      m.failAttempt(task, true);
    }
  }
  promote(m);
  for (const e of m.elections.values()) {
    if (e.candidates.some((c) => c.expiresAt <= m.now)) {
      e.apply({ kind: "tick" }, m.now);
    }
  }
  const before = queueSnapshot(m);
  await run.sut.state.alarm();
  // Not checked for queue order: a slot freed by an expiry is refilled before the promotions that follow it.
  reconcileLeases(run, before, null, false);
}

/** A node falls silent while the others keep beating, past its deadline; then the alarm runs. */
export async function nodeDeath(run: SimulationRun): Promise<void> {
  const m = run.model;
  const victims = [...m.nodes.values()].filter((n) => !n.dead);
  if (victims.length === 0) {
    return advance(run, 1000);
  }
  const victim = run.rng.pick(victims);
  run.note(victim.id);
  const half = Math.ceil(m.config.deadAfterMs / 2);
  for (let i = 0; i < 2; i++) {
    for (const node of [...m.nodes.values()]) {
      if (node !== victim && !node.dead) {
        const beat = run.acting(node);
        expectResult("heartbeat", await run.sut.rpc.heartbeat(ADMIN, node.id, {}), beat);
        if (beat.ok) {
          node.lastSeen = m.now;
        }
        // A heartbeat may hand queued work to the node's waiting long poll.
        reconcileLeases(run, queueSnapshot(m), null, true);
      }
    }
    await advance(run, i === 0 ? half : m.config.deadAfterMs - half);
  }
  await alarm(run);
}

/**
 * The coordinator restarts: every in-memory structure is gone (long polls are cut off, like their
 * HTTP requests), and a new incarnation loads the storage. Heartbeats are persisted lazily, so a
 * node's last-seen time may step back, by less than half an interval; the model adopts it.
 */
export async function restart(run: SimulationRun): Promise<void> {
  run.stats.restarts++;
  vi.clearAllTimers();
  run.timers = [];
  run.polls.clear();
  for (const node of run.model.nodes.values()) {
    node.waiting = null;
  }
  await run.sut.boot();
  run.model.restartedAt = run.model.now;
  for (const node of run.model.nodes.values()) {
    const loaded = run.sut.state.fleet.nodes.get(node.id);
    const lag = node.lastSeen - (loaded?.lastSeenAt ?? Number.NaN);
    if (!(lag >= 0 && lag < run.model.config.heartbeatIntervalMs / 2)) {
      throw new InvariantError(`node ${node.id}: heartbeat lost ${lag} ms across a restart`);
    }
    node.lastSeen = loaded!.lastSeenAt;
  }
}
