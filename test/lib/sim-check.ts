/**
 * The invariants checked after every step of a simulated run: each shard's and the coordinator's
 * stored and in-memory state (their latest snapshots) against the reference model, plus the rules
 * that hold whatever the model says: no task lost, one outcome per task, one leader per term, terms
 * only grow, a dead node's leaderships end.
 */
import { OUTBOX_RETRY_MS } from "../../durable-objects/region-shard/coordinator-outbox";
import { splitScoped } from "../../src/core/tenant-names";
import type { Model, ModelTask } from "./sim-model";
import { EMPTY_LOAD, TERMINAL } from "./sim-model";
import { loadContent, type Network, type Send } from "./sim-network";
import { REGION_IDS, type Region, type ShardSnapshot, type Sut } from "./sim-sut";

/** A broken invariant: the message names it; the driver adds the seed and the step log. */
export class InvariantError extends Error {}

function fail(message: string): never {
  throw new InvariantError(message);
}

function same(what: string, actual: unknown, expected: unknown): void {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    fail(`${what}: the system has ${JSON.stringify(actual)}, the model expects ${JSON.stringify(expected)}`);
  }
}

/** Per-run memory the checks need across steps. */
export class CheckMemory {
  /** The stored row of each ended task, as first seen: it must never change again. */
  readonly terminalRows = new Map<string, string>();
  /** Which candidate each term of each election was given to: a term is never shared. */
  readonly termOwners = new Map<string, string>();
  readonly lastTerm = new Map<string, number>();
  /** The order of the last report each shard made. */
  readonly lastReport = new Map<string, { epoch: number; seq: number }>();
}

/** Adopts a shard's jittered runAt for retried tasks, after checking it is within the back-off bounds. */
export function adoptRunAts(model: Model, sut: Sut): void {
  for (const task of model.tasks.values()) {
    if (task.runAtBounds === null) {
      continue;
    }
    const row = sut.shardState.get(task.region as Region)?.tasks.find((r) => r.id === task.id);
    const [low, high] = task.runAtBounds;
    if (!row || row.run_at < low || row.run_at > high) {
      fail(`task ${task.id}: retry runAt ${row?.run_at} outside the back-off bounds [${low}, ${high}]`);
    }
    task.runAt = row.run_at;
    task.runAtBounds = null;
  }
}

/** Everything compared after a step. */
export function checkAll(model: Model, sut: Sut, memory: CheckMemory, network: Network): void {
  for (const region of REGION_IDS) {
    checkShard(model, region, sut.shardState.get(region)!, memory);
  }
  checkCoordinator(model, sut, memory, network);
}

function checkShard(model: Model, region: Region, state: ShardSnapshot, memory: CheckMemory): void {
  const rows = state.tasks;
  const mine = [...model.tasks.values()].filter((t) => t.region === region);
  // Every acknowledged task is stored, in the shard its id names; nothing else is. A task leaves
  // only by retention (the alarm, once it has been finished for TASK_RETENTION_MS) or erasure (a
  // finished one): the model forgets it then, and expects every other one to be there.
  const stored = new Set(rows.map((r) => r.id));
  for (const task of mine) {
    if (!stored.has(task.id)) {
      const age = task.finishedAt === null ? "unfinished" : `finished ${model.now - task.finishedAt} ms ago`;
      fail(`task ${task.id} (${task.status}, ${age}) is gone from ${region}: lost`);
    }
  }
  same(`${region} task count`, rows.length, mine.length);
  for (const row of rows) {
    const task: ModelTask | undefined = model.tasks.get(row.id);
    if (!task || task.region !== region || !row.id.endsWith(`-${region}`)) {
      fail(`task ${row.id} is stored in ${region} but was never acknowledged there`);
    }
    same(
      `task ${row.id}`,
      [
        row.tenant,
        row.status,
        row.region,
        row.priority,
        row.node_id,
        row.attempts,
        row.lease_token,
        row.lease_expires_at,
      ],
      [
        task.tenant,
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
      // Retention counts from when it ended, which is its row's last change.
      same(`task ${row.id} finished at`, row.updated_at, task.finishedAt);
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
  for (const status of ["scheduled", "queued", "leased", "succeeded", "failed", "canceled"] as const) {
    same(`${region} ${status} count`, state.depth[status], rows.filter((r) => r.status === status).length);
  }

  // Nodes: membership, flags (in memory and stored), heartbeat, load within capacity.
  const nodes = [...model.nodes.values()].filter((n) => n.region === region);
  same(`${region} nodes`, state.nodes.map((n) => n.id).sort(), nodes.map((n) => n.id).sort());
  same(`${region} stored nodes`, [...state.storedNodes.keys()].sort(), nodes.map((n) => n.id).sort());
  for (const node of nodes) {
    const live = state.nodes.find((n) => n.id === node.id)!;
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
    // Tenants: the node is its tenant's, and holds only that tenant's tasks.
    same(`tenant of node ${node.id}`, live.tenant, node.tenant);
    for (const r of rows) {
      if (r.status === "leased" && r.node_id === node.id && r.tenant !== node.tenant) {
        fail(`node ${node.id} of tenant ${node.tenant} holds task ${r.id} of tenant ${r.tenant}`);
      }
    }
    if (leased > node.capacity) {
      fail(`node ${node.id} holds ${leased} tasks over its capacity ${node.capacity}`);
    }
    const row = state.storedNodes.get(node.id);
    if (!row || row.dead !== Number(live.dead) || row.draining !== Number(live.draining)) {
      fail(`node ${node.id}: stored flags ${JSON.stringify(row)} differ from memory`);
    }
    // Retention counts a dead node's age from its death.
    same(`node ${node.id} died at`, row.dead_at, node.diedAt);
    const lag = live.lastSeenAt - row.last_seen_at;
    if (lag < 0 || lag >= model.config.heartbeatIntervalMs / 2) {
      fail(`node ${node.id}: stored heartbeat lags memory by ${lag} ms (bound: half an interval)`);
    }
  }
  same(
    `${region} nodes in a long poll`,
    [...state.waiting].sort(),
    nodes
      .filter((n) => n.waiting !== null)
      .map((n) => n.id)
      .sort(),
  );

  // Liveness: a live node waiting in a long poll with room is never left idle while its region has runnable work.
  for (const node of nodes) {
    if (
      node.waiting !== null &&
      model.available(node) &&
      model.inFlight(node.id) < node.capacity &&
      model.queue(region, node.tenant).length > 0
    ) {
      fail(`node ${node.id} waits with room while ${region} has queued tasks of its tenant ${node.tenant}`);
    }
  }

  // What the coordinator must still hear, kept until it acknowledges.
  same(`${region} outbox`, state.outbox, model.outboxOf(region));

  // The alarm is never later than the earliest due work (else a lease, retry or death could hang),
  // and comes back within the retry interval while the outbox holds something.
  const due = model.earliestShardDue(region);
  if (due !== null && (state.alarm === null || state.alarm > Math.max(due, model.now + 1))) {
    fail(`${region}: alarm at ${state.alarm} is later than the earliest due work at ${due}`);
  }
  if (state.outbox.length > 0 && (state.alarm === null || state.alarm > state.at + OUTBOX_RETRY_MS)) {
    fail(`${region}: the outbox holds ${state.outbox.join(",")} but the alarm is at ${state.alarm}`);
  }
  if (state.failed && (state.alarm === null || state.alarm > state.at + OUTBOX_RETRY_MS)) {
    fail(`${region}: a message to the coordinator went unacknowledged but the alarm is at ${state.alarm}`);
  }
}

function checkCoordinator(model: Model, sut: Sut, memory: CheckMemory, network: Network): void {
  const state = sut.coordinatorState;
  for (const [name, e] of model.elections) {
    const row = state.elections.get(name);
    same(`election ${name} exists`, row !== undefined, e.exists);
    if (row) {
      same(`election ${name}`, [row.term, row.leader, row.since], [e.term, e.leader, e.since]);
    }
    same(
      `election ${name} candidates`,
      state.candidates
        .filter((c) => c.election === name)
        .map((c) => [c.candidate, c.joined_at, c.expires_at, c.node_id]),
      e.candidates.map((c) => [c.candidate, c.joinedAt, c.expiresAt, c.nodeId]),
    );
    if (row && row.leader !== null) {
      // One leader per term: a term belongs to one leadership.
      const key = `${name}#${row.term}`;
      const owner = memory.termOwners.get(key);
      if (owner !== undefined && owner !== `${row.leader}@${row.since}`) {
        fail(`election ${name}: term ${row.term} given to ${owner} and to ${row.leader}@${row.since}`);
      }
      memory.termOwners.set(key, `${row.leader}@${row.since}`);
    }
    if (row) {
      // Terms only grow.
      const last = memory.lastTerm.get(name) ?? 0;
      if (row.term < last) {
        fail(`election ${name}: term went back from ${last} to ${row.term}`);
      }
      memory.lastTerm.set(name, row.term);
    }
  }
  same(
    "elections",
    [...state.elections.keys()].sort(),
    [...model.elections]
      .filter(([, e]) => e.exists)
      .map(([name]) => name)
      .sort(),
  );

  // A dead node's leaderships end: once the coordinator has heard a node is gone, no candidacy is
  // bound to it, and none is named after it if it died (a departed node's id may campaign as a name).
  same("nodes the coordinator heard are gone", [...state.gone].sort(), [...model.coordinatorGone].sort());
  // A dead node pruned by retention is, like one that left, a name of no node to its shard: a
  // campaign under its id before the coordinator hears of its death is taken, unbound (known gap).
  const died = (id: string) => model.nodes.get(id)?.dead === true;
  for (const c of state.candidates) {
    // Another tenant's candidacy under a dead node's id is a free name of that tenant, not the node.
    const dead = died(c.candidate) && splitScoped(c.election).tenant === model.nodeTenants.get(c.candidate);
    if ((c.node_id !== null && state.gone.has(c.node_id)) || (dead && state.gone.has(c.candidate))) {
      fail(`election ${c.election}: ${c.candidate} is a candidate although its node is gone`);
    }
  }
  for (const [name, row] of state.elections) {
    const ownNode = row.leader !== null && splitScoped(name).tenant === model.nodeTenants.get(row.leader);
    if (row.leader !== null && state.gone.has(row.leader) && died(row.leader) && ownNode) {
      fail(`election ${name}: dead node ${row.leader} still leads`);
    }
  }

  // The load table: in memory as stored, the latest report of each region; and once the last report
  // a shard sent was acknowledged and nothing of that shard is in flight, what that report says.
  for (const region of REGION_IDS) {
    const load = state.loads.get(region);
    same(`${region} load in memory and stored`, load, state.storedLoads.get(region) ?? EMPTY_LOAD);
    same(`${region} load`, load, model.loads.get(region) ?? EMPTY_LOAD);
    const last = network.lastLoad.get(region);
    if (last?.acked && !network.inFlight(region, "load") && last.payload.kind === "load") {
      same(
        `${region} load after its last report was acknowledged`,
        loadContent(load),
        loadContent(last.payload.report),
      );
    }
  }

  const due = model.earliestCoordinatorDue();
  if (due !== null && (state.alarm === null || state.alarm > Math.max(due, model.now + 1))) {
    fail(`coordinator: alarm at ${state.alarm} is later than the earliest candidate expiry at ${due}`);
  }
}

/**
 * What a shard sent says what it held at that instant: a load report is the region's load and
 * health (health judged by the contract's rules from the nodes' last contact), and only nodes that
 * died or left are reported gone.
 */
export function checkSends(model: Model, region: Region, sends: Send[], memory: CheckMemory): void {
  const hb = model.config.heartbeatIntervalMs;
  for (const { payload: p, probe } of sends) {
    if (probe === null) {
      fail(`${region} sent ${JSON.stringify(p)} before the simulation visited it`);
    }
    if (p.kind === "load") {
      // Reports are made in an order the coordinator can tell (whatever order they arrive in).
      const { at, epoch, seq, ...load } = p.report;
      const last = memory.lastReport.get(region) ?? { epoch: 0, seq: 0 };
      if (epoch < last.epoch || (epoch === last.epoch && seq <= last.seq)) {
        fail(`${region} made report ${epoch}.${seq} after report ${last.epoch}.${last.seq}`);
      }
      memory.lastReport.set(region, { epoch, seq });
      let healthy = 0;
      let capacity = 0;
      for (const n of probe.nodes) {
        const silence = probe.at - n.lastSeenAt;
        if (!n.dead && !n.draining && silence < model.config.deadAfterMs && silence <= 2 * hb) {
          healthy++;
          capacity += n.capacity;
        }
      }
      same(
        `${region} load report`,
        { at, ...load },
        {
          at: probe.at,
          healthy: healthy > 0,
          capacity,
          inFlight: probe.leased,
          queued: probe.queued,
          nodes: { healthy, total: probe.nodes.filter((n) => !n.dead).length },
        },
      );
    } else {
      for (const id of p.nodeIds) {
        const node = probe.nodes.find((n) => n.id === id);
        // Not held any more: it left, or it was dead and the call that sent this pruned it.
        const gone = model.departed.has(id) || model.nodes.get(id)?.dead === true;
        if (node ? !node.dead : !gone) {
          fail(`${region} reported node ${id} gone, but it is alive`);
        }
      }
    }
  }
}

/** What a reader is told about a leadership must name the oldest live candidate. */
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
