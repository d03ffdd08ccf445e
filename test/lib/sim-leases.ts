/**
 * The simulation's time-driven and lease-granting steps: polls and long polls, the alarms, clock
 * moves (firing each object's timers in its own context, in order), and the reconciliation that
 * checks every lease a shard granted.
 */
import type { LeasedTask } from "../../durable-objects/region-shard/scheduler";
import { adoptRunAts, InvariantError } from "./sim-check";
import type { PendingPoll, SimulationRun } from "./sim-driver";
import type { Model, ModelNode } from "./sim-model";
import { expectResult, expectSame } from "./sim-ops";
import { adoptPrune, duePrune, duePrunesNow, nextRuntimePrune } from "./sim-retention";
import { as, type PollReply, REGION_IDS, type Region, TENANTS } from "./sim-sut";

/** The real setTimeout, kept before any run replaces it: a hung long poll is detected in real time. */
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;

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

/** Moves a region's scheduled tasks whose time has come to the queue (poll and alarm do this first). */
export function promote(model: Model, region: string): void {
  for (const task of model.tasks.values()) {
    // A retry scheduled in this same step has its runAt still to adopt; it is in the future anyway.
    if (
      task.region === region &&
      task.status === "scheduled" &&
      task.runAtBounds === null &&
      task.runAt <= model.now
    ) {
      task.status = "queued";
    }
  }
}

/** Waits for a poll a shard let go of; a poll that never answers is a broken invariant. */
export async function answer(promise: Promise<PollReply>, what: string): Promise<PollReply> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = realSetTimeout(() => reject(new InvariantError(`${what} never answered`)), 2000);
  });
  try {
    return await Promise.race([promise, hung]);
  } finally {
    realClearTimeout(timer);
  }
}

/**
 * Every task the model had queued that its shard now shows leased: it went to a live, non-draining
 * node of its region, within that node's room, and (when `ordered`) the leased tasks are the head
 * of each region's queue (priority, then FIFO). Work handed to a waiting node ends its long poll,
 * which must answer exactly that work. The model adopts the grants.
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
    const stored = new Map(run.sut.shardState.get(region as Region)!.tasks.map((r) => [r.id, r]));
    const lost = queue.find((id) => !stored.has(id));
    if (lost !== undefined) {
      throw new InvariantError(`task ${lost} was queued and is gone from ${region}: lost`);
    }
    const leased = queue.map((id) => stored.get(id)!).filter((r) => r.status === "leased");
    if (ordered) {
      // Each tenant's nodes take the head of that tenant's queue (a node leases only its tenant's tasks).
      for (const tenant of TENANTS) {
        const mine = queue.filter((id) => m.tasks.get(id)!.tenant === tenant);
        const taken = leased.filter((r) => r.tenant === tenant).map((r) => r.id);
        expectSame(
          `${region}: leased tasks of ${tenant} are the head of its queue`,
          taken,
          mine.slice(0, taken.length),
        );
      }
    }
    for (const row of leased) {
      const node = row.node_id === null ? undefined : m.nodes.get(row.node_id);
      if (!node || node.region !== region || !m.available(node)) {
        throw new InvariantError(
          `task ${row.id} leased to ${row.node_id}, which may not take work in ${region}`,
        );
      }
      const task = m.tasks.get(row.id)!;
      if (node.tenant !== task.tenant) {
        throw new InvariantError(
          `task ${row.id} of tenant ${task.tenant} leased to ${node.id} of tenant ${node.tenant}`,
        );
      }
      if (directIds.has(row.id)) {
        if (direct?.node !== node) {
          throw new InvariantError(`task ${row.id} answered to ${direct?.node.id} but leased to ${node.id}`);
        }
        const handed = direct.tasks.find((t) => t.id === row.id)!;
        expectSame(`lease token of ${row.id}`, handed.leaseToken, row.lease_token);
        expectSame(`attempt of ${row.id}`, handed.attempt, task.attempts + 1);
        expectSame(`lease end of ${row.id}`, handed.leaseExpiresAt, m.now + task.timeoutMs);
      } else if (node.waiting !== null && run.polls.has(node.id)) {
        const pending = run.polls.get(node.id)!;
        pending.expect = [...(pending.expect ?? []), row.id];
        pending.tokens.set(row.id, row.lease_token!);
      } else if (node.channel !== null && node.channel.credit > 0) {
        // Pushed on its channel: within the credit it gave (the checks match the pushed frame).
        node.channel.credit--;
        run.socket(node.channel.socket).expectPushed.push({ id: row.id, leaseToken: row.lease_token! });
        run.stats.channels.pushed++;
      } else {
        throw new InvariantError(
          `task ${row.id} leased to ${node.id}, which neither polled, waits, nor has channel credit left`,
        );
      }
      m.grant(task, node, row.lease_token!);
      run.stats.t2Leases += task.tenant === "t2" ? 1 : 0;
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
export async function poll(run: SimulationRun, node: ModelNode, long: boolean): Promise<void> {
  const m = run.model;
  const region = node.region as Region;
  const max = run.rng.int(1, 3);
  const waitMs = long ? run.rng.int(1000, 30_000) : 0;
  run.note(`${node.id} max=${max} waitMs=${waitMs}`);
  // A long poll answered but not yet settled (within a visit) no longer holds the node.
  const pending = node.waiting === null ? undefined : run.polls.get(node.id);
  // A node that sits in a long poll only polls again with a long poll that must wait too (no room
  // or no work); the case where its old poll is answered by the new one's promotion is left out.
  const room = node.capacity - m.inFlight(node.id);
  const wouldPromote = [...m.tasks.values()].some(
    (t) => t.status === "scheduled" && t.runAt <= m.now && t.region === region && t.tenant === node.tenant,
  );
  if (pending && (!long || (room > 0 && (m.queue(region, node.tenant).length > 0 || wouldPromote)))) {
    run.note("(heartbeat instead)");
    const beat = run.acting(node);
    expectResult(
      "heartbeat",
      await run.sut.onShard(region, (s) => s.heartbeat(as(node.tenant), node.id, {})),
      beat,
    );
    if (beat.ok) {
      node.lastSeen = m.now;
    }
    return;
  }
  adoptRunAts(m, run.sut);
  const expected = run.acting(node);
  if (expected.ok) {
    node.lastSeen = m.now;
    promote(m, region);
  }
  const before = queueSnapshot(m);
  let reply: PollReply;
  if (long) {
    // Through the stub, so that the request stays open while it waits; then look until it waits or answers.
    const promise = run.sut.startPoll(region, as(node.tenant), node.id, { max, waitMs });
    let settled = false;
    void promise.then(
      () => (settled = true),
      () => (settled = true),
    );
    // The poll it replaces answers when the new one arrives: until then, "waiting" is the old one.
    let replaced = pending === undefined;
    void pending?.promise.then(() => (replaced = true));
    let waits = false;
    for (let i = 0; i < 50; i++) {
      // What had happened before the snapshot is in it.
      const [answered, arrived] = [settled, replaced];
      await run.sut.onShard(region, () => null);
      if (answered) {
        break;
      }
      if (arrived && run.sut.shardState.get(region)!.waiting.includes(node.id)) {
        waits = true;
        break;
      }
    }
    if (waits) {
      if (pending) {
        // Replaced: the old long poll answers [] now, and the new one waits in its place.
        run.polls.delete(node.id);
        pending.expect = [];
        const old = await answer(pending.promise, `the replaced long poll of ${node.id}`);
        expectSame("replaced long poll", old, { ok: true, value: { tasks: [] } });
        node.waiting = null;
      }
      reconcileLeases(run, before, null, true);
      startWait(run, node, max, waitMs, promise);
      return;
    }
    reply = await answer(promise, `a poll of ${node.id}`);
  } else {
    reply = await run.sut.onShard(
      region,
      (s) => s.poll(as(node.tenant), node.id, { max, waitMs }) as Promise<PollReply>,
    );
  }
  expectResult("poll", reply, expected);
  if (!reply.ok) {
    return;
  }
  const tasks = reply.value.tasks;
  reconcileLeases(run, before, { node, tasks }, true);
  // The node's share: its tenant's queue only.
  const regionQueue = before.get(region)!.filter((id) => m.tasks.get(id)!.tenant === node.tenant);
  // Work handed elsewhere meanwhile: to other waiting nodes, or pushed to this node's own channel
  // (the poll's promotions dispatch before the poll takes its share).
  const answered = new Set(tasks.map((t) => t.id));
  const toOthers = regionQueue.filter(
    (id) => m.tasks.get(id)!.status === "leased" && !answered.has(id),
  ).length;
  const free = node.capacity - (m.inFlight(node.id) - tasks.length);
  const want = node.draining ? 0 : Math.max(0, Math.min(max, free, regionQueue.length - toOthers));
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
  promise: Promise<PollReply>,
): void {
  if (node.draining) {
    throw new InvariantError(`draining node ${node.id} was put in a long poll`);
  }
  const pending: PendingPoll = { nodeId: node.id, promise, expect: null, tokens: new Map(), settled: false };
  void promise.then(
    () => (pending.settled = true),
    () => (pending.settled = true),
  );
  run.polls.set(node.id, pending);
  node.waiting = { max, deadline: run.model.now + waitMs };
}

/** A node's long poll ends without work (drain, deregistration, its timer). */
export function endWait(run: SimulationRun, node: ModelNode): void {
  const pending = run.polls.get(node.id);
  // A poll already handed work (not yet settled, within a visit) keeps its answer.
  if (pending && pending.expect === null) {
    pending.expect = [];
  }
  node.waiting = null;
}

/** Awaits every long poll its shard let go of, and checks it answered what was dispatched to it. */
export async function settlePolls(run: SimulationRun): Promise<void> {
  for (const [nodeId, pending] of [...run.polls]) {
    const node = run.model.nodes.get(nodeId);
    const region = (node?.region ?? nodeId.slice(nodeId.lastIndexOf("-") + 1)) as Region;
    if (run.sut.shardState.get(region)!.waiting.includes(nodeId)) {
      continue;
    }
    run.polls.delete(nodeId);
    const reply = await answer(pending.promise, `the long poll of ${nodeId}`);
    if (pending.expect === null && node?.waiting === null) {
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

/**
 * Moves the clock forward, firing each timer at its own instant, in the context of the object that
 * set it. Within a visit to a shard (`only`), only that shard's timers fire: the others' are late,
 * and fire at the next move outside a visit. In a soak, the runtime also fires a shard's alarm at
 * the instant one of its rows comes of age (sim-retention.ts), so retention is never late.
 */
export async function advance(run: SimulationRun, ms: number, only: Region | null = null): Promise<void> {
  const m = run.model;
  const target = m.now + ms;
  const fires = (owner: string | null) => only === null || owner === only;
  const regions = only === null ? REGION_IDS : [only];
  for (;;) {
    const timerAt = run.timers.nextDue(target, fires);
    const pruneAt = run.soak ? nextRuntimePrune(run, regions, target) : null;
    if (timerAt === null && pruneAt === null) {
      break;
    }
    moveTo(
      run,
      Math.max(Math.min(timerAt ?? Number.POSITIVE_INFINITY, pruneAt ?? Number.POSITIVE_INFINITY), m.now),
    );
    const owners = run.timers.ownersDueAt(m.now).filter(fires);
    for (const owner of owners) {
      if (owner === null) {
        run.timers.fire(null, m.now);
      } else {
        await run.sut.onShard(owner as Region, () => run.timers.fire(owner, m.now));
      }
    }
    for (const node of m.nodes.values()) {
      if (node.waiting !== null && node.waiting.deadline <= m.now && owners.includes(node.region)) {
        endWait(run, node);
      }
    }
    if (run.soak) {
      await runtimeAlarms(run, regions);
    }
    if (only === null) {
      await settlePolls(run);
    }
  }
  moveTo(run, target);
}

/** The soak's runtime: fires each shard's alarm that retention makes due now (once per instant). */
export async function runtimeAlarms(
  run: SimulationRun,
  regions: readonly Region[] = REGION_IDS,
): Promise<void> {
  for (const region of duePrunesNow(run, regions)) {
    run.log.push(`  runtime alarm ${region} t+${run.model.now - run.clock.start}`);
    run.stats.retention.runtimeAlarms++;
    await alarm(run, region);
  }
}

function moveTo(run: SimulationRun, at: number): void {
  run.clock.now = at;
  run.model.now = at;
}

/**
 * A shard's alarm (node deaths, lease expiry, due retries, in that order, then a prune pass), or the
 * coordinator's (candidate ttl).
 */
export async function alarm(run: SimulationRun, target: Region | "coordinator"): Promise<void> {
  const m = run.model;
  run.stats.alarms++;
  if (target === "coordinator") {
    for (const e of m.elections.values()) {
      if (e.candidates.some((c) => c.expiresAt <= m.now)) {
        e.apply({ kind: "tick" }, m.now);
      }
    }
    await run.sut.onCoordinator(async (coordinator, ctx) => {
      await ctx.storage.deleteAlarm();
      await coordinator.alarm();
    });
    return;
  }
  adoptRunAts(m, run.sut);
  // Deaths as the reaper declares them: the silent nodes, then those whose channel's grace has lapsed.
  for (const lapsed of [m.silentTooLong, m.graceLapsed]) {
    for (const node of m.nodes.values()) {
      if (node.region === target && !node.dead && lapsed.call(m, node)) {
        m.die(node);
        run.stats.nodeDeaths++;
      }
    }
  }
  for (const task of m.tasks.values()) {
    if (
      task.region === target &&
      task.status === "leased" &&
      task.leaseExpiresAt !== null &&
      task.leaseExpiresAt <= m.now
    ) {
      m.failAttempt(task, true);
    }
  }
  promote(m, target);
  const before = queueSnapshot(m);
  // Then retention: what is past it, a slice at most of each (a death declared now is not).
  const due = duePrune(m, target);
  await run.sut.onShard(target, async (shard, ctx) => {
    await ctx.storage.deleteAlarm();
    await shard.alarm();
  });
  // Not checked for queue order: a slot freed by an expiry is refilled before the promotions that follow it.
  reconcileLeases(run, before, null, false);
  adoptPrune(run, target, due);
}
