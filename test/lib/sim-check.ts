/**
 * The invariants checked after every step of a simulated run: the coordinator's stored and
 * in-memory state against the reference model, plus the rules that hold whatever the model says.
 */
import type { Model, ModelTask } from "./sim-model";
import { TERMINAL } from "./sim-model";
import type { Sut } from "./sim-sut";

type TaskRow = {
  id: string;
  status: string;
  region: string;
  priority: number;
  node_id: string | null;
  attempts: number;
  run_at: number;
  lease_token: string | null;
  lease_expires_at: number | null;
  result: string | null;
  last_error: string | null;
  updated_at: number;
};

/** A broken invariant: the message names it; the driver adds the seed and the step log. */
export class InvariantError extends Error {}

function fail(message: string): never {
  throw new InvariantError(message);
}

function same(what: string, actual: unknown, expected: unknown): void {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    fail(`${what}: coordinator has ${JSON.stringify(actual)}, model expects ${JSON.stringify(expected)}`);
  }
}

/** Per-run memory the checks need across steps. */
export class CheckMemory {
  /** The stored row of each ended task, as first seen: it must never change again. */
  readonly terminalRows = new Map<string, string>();
  /** Which candidate each term of each election was given to: a term is never shared. */
  readonly termOwners = new Map<string, string>();
  readonly lastTerm = new Map<string, number>();
}

/** Adopts the coordinator's jittered runAt for retried tasks, after checking it is within the back-off bounds. */
export function adoptRunAts(model: Model, sut: Sut): void {
  for (const task of model.tasks.values()) {
    if (task.runAtBounds === null) {
      continue;
    }
    const row = sut.sql<{ run_at: number }>("SELECT run_at FROM tasks WHERE id = ?", task.id)[0];
    const [low, high] = task.runAtBounds;
    if (!row || row.run_at < low || row.run_at > high) {
      fail(`task ${task.id}: retry runAt ${row?.run_at} outside the back-off bounds [${low}, ${high}]`);
    }
    task.runAt = row.run_at;
    task.runAtBounds = null;
  }
}

/** Everything compared after a step. */
export async function checkAll(model: Model, sut: Sut, memory: CheckMemory): Promise<void> {
  const now = model.now;
  const rows = sut.sql<TaskRow>(
    "SELECT id, status, region, priority, node_id, attempts, run_at, lease_token, lease_expires_at, result, last_error, updated_at FROM tasks",
  );
  // Every acknowledged task is stored; nothing else is.
  same("task count", rows.length, model.tasks.size);
  for (const row of rows) {
    const task: ModelTask | undefined = model.tasks.get(row.id);
    if (!task) {
      fail(`task ${row.id} is stored but was never acknowledged`);
    }
    same(
      `task ${row.id}`,
      [
        row.status,
        row.region,
        row.priority,
        row.node_id,
        row.attempts,
        row.lease_token,
        row.lease_expires_at,
      ],
      [
        task.status,
        task.region,
        task.priority,
        task.nodeId,
        task.attempts,
        task.leaseToken,
        task.leaseExpiresAt,
      ],
    );
    if (task.status === "scheduled") {
      same(`task ${row.id} runAt`, row.run_at, task.runAt);
    }
    if (TERMINAL.includes(task.status)) {
      // Exactly one outcome: once ended, the row never changes.
      const snapshot = JSON.stringify(row);
      const first = memory.terminalRows.get(row.id);
      if (first === undefined) {
        memory.terminalRows.set(row.id, snapshot);
      } else if (first !== snapshot) {
        fail(`task ${row.id} changed after it ended: ${first} -> ${snapshot}`);
      }
    }
  }

  // Derived in-memory counts agree with the table.
  const counted = new Map<string, Record<string, number>>();
  for (const row of rows) {
    const c = counted.get(row.region) ?? {};
    c[row.status] = (c[row.status] ?? 0) + 1;
    counted.set(row.region, c);
  }
  for (const region of model.regions.keys()) {
    const depth = sut.state.tasks.depth(region);
    const c = counted.get(region) ?? {};
    for (const status of ["scheduled", "queued", "leased", "succeeded", "failed", "canceled"] as const) {
      same(`${region} ${status} count`, depth[status], c[status] ?? 0);
    }
  }

  // Nodes: membership, flags (in memory and stored), heartbeat, load within capacity.
  same("nodes", [...sut.state.fleet.nodes.keys()].sort(), [...model.nodes.keys()].sort());
  const stored = new Map(
    sut
      .sql<{ id: string; dead: number; draining: number; last_seen_at: number }>(
        "SELECT id, dead, draining, last_seen_at FROM nodes",
      )
      .map((r) => [r.id, r]),
  );
  for (const node of model.nodes.values()) {
    const live = sut.state.fleet.nodes.get(node.id)!;
    const leased = rows.filter((r) => r.status === "leased" && r.node_id === node.id).length;
    same(
      `node ${node.id}`,
      [live.dead, live.draining, live.capacity, live.lastSeenAt, live.inFlight, leased],
      [
        node.dead,
        node.draining,
        node.capacity,
        node.lastSeen,
        model.inFlight(node.id),
        model.inFlight(node.id),
      ],
    );
    if (leased > node.capacity) {
      fail(`node ${node.id} holds ${leased} tasks over its capacity ${node.capacity}`);
    }
    const row = stored.get(node.id);
    if (!row || row.dead !== Number(live.dead) || row.draining !== Number(live.draining)) {
      fail(`node ${node.id}: stored flags ${JSON.stringify(row)} differ from memory`);
    }
    const lag = live.lastSeenAt - row.last_seen_at;
    if (lag < 0 || lag >= model.config.heartbeatIntervalMs / 2) {
      fail(`node ${node.id}: stored heartbeat lags memory by ${lag} ms (bound: half an interval)`);
    }
  }
  same(
    "nodes in a long poll",
    [...sut.state.fleet.waiting].sort(),
    [...model.nodes.values()]
      .filter((n) => n.waiting !== null)
      .map((n) => n.id)
      .sort(),
  );

  // Liveness: a live node waiting in a long poll with room is never left idle while its region has runnable work.
  for (const node of model.nodes.values()) {
    if (
      node.waiting !== null &&
      model.available(node) &&
      model.inFlight(node.id) < node.capacity &&
      model.queue(node.region).length > 0
    ) {
      fail(`node ${node.id} waits with room while ${node.region} has queued tasks`);
    }
  }

  checkElections(model, sut, memory, now);

  // The alarm is never later than the earliest due work (else a lease, retry or death could hang).
  const due = model.earliestDue();
  if (due !== null) {
    const alarm = await sut.ctx.storage.getAlarm();
    if (alarm === null || alarm > Math.max(due, now + 1)) {
      fail(`alarm at ${alarm} is later than the earliest due work at ${due}`);
    }
  }
}

function checkElections(model: Model, sut: Sut, memory: CheckMemory, now: number): void {
  const rows = new Map(
    sut
      .sql<{ name: string; term: number; leader: string | null; since: number | null }>(
        "SELECT name, term, leader, since FROM elections",
      )
      .map((r) => [r.name, r]),
  );
  for (const [name, e] of model.elections) {
    const row = rows.get(name);
    same(`election ${name} exists`, row !== undefined, e.exists);
    if (row) {
      same(`election ${name}`, [row.term, row.leader, row.since], [e.term, e.leader, e.since]);
    }
    const candidates = sut.sql<{
      candidate: string;
      joined_at: number;
      expires_at: number;
      node_id: string | null;
    }>(
      "SELECT candidate, joined_at, expires_at, node_id FROM candidates WHERE election = ? ORDER BY joined_at, candidate",
      name,
    );
    same(
      `election ${name} candidates`,
      candidates.map((c) => [c.candidate, c.joined_at, c.expires_at, c.node_id]),
      e.candidates.map((c) => [c.candidate, c.joinedAt, c.expiresAt, c.nodeId]),
    );
    if (row && row.leader !== null) {
      // Never two leaders: a term belongs to one leadership; terms only grow.
      const key = `${name}#${row.term}`;
      const owner = memory.termOwners.get(key);
      if (owner !== undefined && owner !== `${row.leader}@${row.since}`) {
        fail(`election ${name}: term ${row.term} given to ${owner} and to ${row.leader}@${row.since}`);
      }
      memory.termOwners.set(key, `${row.leader}@${row.since}`);
    }
    if (row) {
      const last = memory.lastTerm.get(name) ?? 0;
      if (row.term < last) {
        fail(`election ${name}: term went back from ${last} to ${row.term}`);
      }
      memory.lastTerm.set(name, row.term);
    }
  }
  void now;
}

/** What an observer is told about a leadership must name the oldest live candidate. */
export function checkLeaderView(
  name: string,
  now: number,
  leader: { candidate: string; term: number } | null,
  candidates: { candidate: string; joinedAt: number; expiresAt: number }[],
): void {
  const live = candidates.filter((c) => c.expiresAt > now);
  if (live.length !== candidates.length) {
    fail(`election ${name}: a view lists expired candidates`);
  }
  const oldest = [...live].sort((a, b) => a.joinedAt - b.joinedAt)[0];
  same(
    `election ${name} leader is the oldest live candidate`,
    leader?.candidate ?? null,
    oldest?.candidate ?? null,
  );
}
