import { migrate } from "../migrate";

/**
 * A region shard's SQLite schema, one migration per version. The task table is v1's (the coordinator
 * held it then), in a database of its own per region.
 */
export const SHARD_MIGRATIONS: readonly string[] = [
  // v1
  `
  CREATE TABLE shard (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  CREATE TABLE nodes (
    id TEXT PRIMARY KEY,
    region TEXT NOT NULL,
    token_id TEXT NOT NULL,
    capacity INTEGER NOT NULL,
    load REAL,
    draining INTEGER NOT NULL DEFAULT 0,
    dead INTEGER NOT NULL DEFAULT 0,
    labels TEXT NOT NULL,
    registered_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
  );
  CREATE TABLE tasks (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    priority INTEGER NOT NULL,
    region TEXT NOT NULL,
    node_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    timeout_ms INTEGER NOT NULL,
    result TEXT,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    run_at INTEGER NOT NULL,
    lease_token TEXT,
    lease_expires_at INTEGER,
    idempotency_scope TEXT,
    idempotency_key TEXT,
    request_hash TEXT,
    affinity_key TEXT,
    routing TEXT NOT NULL
  );
  -- poll: the best runnable tasks, highest priority first, oldest first within one
  CREATE INDEX tasks_queue ON tasks(status, priority DESC, seq);
  -- alarm: due retries and delayed tasks
  CREATE INDEX tasks_due ON tasks(run_at) WHERE status = 'scheduled';
  -- alarm: expired leases
  CREATE INDEX tasks_lease ON tasks(lease_expires_at) WHERE status = 'leased';
  -- node death / deregistration: what it holds
  CREATE INDEX tasks_node ON tasks(node_id) WHERE status = 'leased';
  CREATE INDEX tasks_type ON tasks(type, id);
  -- what the coordinator must hear (node deaths), kept until it has acknowledged
  CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    body TEXT NOT NULL
  );
  `,
  // v2: node channels. When a node's channel closed (null while it is open, or for HTTP nodes): its
  // grace period runs from there, and outlives an eviction of the object.
  `
  ALTER TABLE nodes ADD COLUMN channel_closed_at INTEGER;
  `,
  // v3: metrics. When the task's last attempt was leased (null before its first): an attempt's run
  // time (meridian_task_run_seconds) counts from it, and extending the lease does not move it.
  `
  ALTER TABLE tasks ADD COLUMN leased_at INTEGER;
  `,
  // v4: retention. A finished task's updated_at is when it finished: this index finds the oldest
  // finished rows without reading live ones. dead_at is when a node was declared dead (a node dead
  // before v4 counts from its last sign of life).
  `
  CREATE INDEX tasks_finished ON tasks(updated_at) WHERE status IN ('succeeded', 'failed', 'canceled');
  ALTER TABLE nodes ADD COLUMN dead_at INTEGER;
  UPDATE nodes SET dead_at = last_seen_at WHERE dead = 1;
  CREATE INDEX nodes_dead ON nodes(dead_at) WHERE dead = 1;
  `,
  // v5: schedules (API-v2 §5) whose home is this region. `cursor`: every slot at or before it has been
  // handled. A run decided by the alarm is written to schedule_runs in the same commit that moves the
  // cursor, then submitted through normal routing with the slot's idempotency key, and deleted once
  // a task is stored: a restart in between submits it again, and the key makes that the same task.
  `
  CREATE TABLE schedules (
    id TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    token_id TEXT NOT NULL,
    role TEXT NOT NULL,
    paused INTEGER NOT NULL,
    cursor INTEGER NOT NULL,
    next_run_at INTEGER,
    last_run_at INTEGER,
    last_task_id TEXT,
    last_error TEXT,
    runs INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX schedules_due ON schedules(next_run_at) WHERE next_run_at IS NOT NULL;
  CREATE TABLE schedule_runs (
    schedule_id TEXT NOT NULL,
    slot INTEGER NOT NULL,
    body TEXT NOT NULL,
    token_id TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    retry_at INTEGER NOT NULL,
    PRIMARY KEY (schedule_id, slot)
  );
  CREATE INDEX schedule_runs_due ON schedule_runs(retry_at);
  ALTER TABLE tasks ADD COLUMN schedule_id TEXT;
  `,
  // v6: push endpoints. The signing secret never leaves the shard after the PUT that created it;
  // the breaker (JSON) is kept so a restart does not close an open one.
  `
  CREATE TABLE endpoints (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    capacity INTEGER NOT NULL,
    timeout_ms INTEGER,
    secret TEXT NOT NULL,
    breaker TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  `,
  // v7: allow-lists and replay (issue 12).
  // allow_list: the task's {regions, fallback} as JSON (null: none), kept so a reroute honours it.
  // retry_of: the task a rerouted retry replays; retried_as: the task this one was replayed as in
  // another region (set first, as a reservation, before that task is created).
  `
  ALTER TABLE tasks ADD COLUMN allow_list TEXT;
  ALTER TABLE tasks ADD COLUMN retry_of TEXT;
  ALTER TABLE tasks ADD COLUMN retried_as TEXT;
  `,
  // v8: tenants (API-v2 §8). Tasks, nodes, schedules and endpoints belong to a tenant; everything
  // stored before belongs to 'default'. A node leases only its tenant's tasks: the poll's index leads
  // with the tenant. A tenant's list pages by id: without tasks_tenant_id (and without ANALYZE, as
  // in a Durable Object) SQLite read every task of the tenant through tasks_tenant_queue and sorted
  // them for each page.
  `
  ALTER TABLE tasks ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
  CREATE INDEX tasks_tenant_queue ON tasks(tenant, status, priority DESC, seq);
  CREATE INDEX tasks_tenant_id ON tasks(tenant, id);
  ALTER TABLE nodes ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
  ALTER TABLE schedules ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
  ALTER TABLE schedule_runs ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
  ALTER TABLE endpoints ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
  `,
];

export function migrateShard(storage: Pick<DurableObjectStorage, "sql" | "transactionSync">): void {
  migrate(storage, SHARD_MIGRATIONS);
}
