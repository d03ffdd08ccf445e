import { migrate, schemaVersion } from "../migrate";

/**
 * The coordinator's SQLite schema, one migration per version (frozen text: a database is migrated
 * through each in turn). v1 and v2 are the single-object Meridian's, which held nodes and tasks too.
 */
export const MIGRATIONS: readonly string[] = [
  // v1
  `
  CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    label TEXT,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE regions (
    id TEXT PRIMARY KEY,
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    label TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
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
  CREATE INDEX nodes_by_region ON nodes(region);
  CREATE TABLE tasks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
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
  -- poll: the best runnable tasks of a region, highest priority first, oldest first within one
  CREATE INDEX tasks_queue ON tasks(region, status, priority DESC, seq);
  -- alarm: due retries and delayed tasks
  CREATE INDEX tasks_run_at ON tasks(status, run_at);
  -- alarm: expired leases
  CREATE INDEX tasks_lease ON tasks(lease_expires_at) WHERE status = 'leased';
  -- node death / deregistration: what it holds
  CREATE INDEX tasks_node ON tasks(node_id) WHERE status = 'leased';
  CREATE UNIQUE INDEX tasks_idempotency ON tasks(idempotency_scope, idempotency_key) WHERE idempotency_key IS NOT NULL;
  CREATE INDEX tasks_type ON tasks(type, seq);
  CREATE TABLE elections (
    name TEXT PRIMARY KEY,
    term INTEGER NOT NULL,
    leader TEXT,
    since INTEGER
  );
  CREATE TABLE candidates (
    election TEXT NOT NULL,
    candidate TEXT NOT NULL,
    node_id TEXT,
    joined_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (election, candidate)
  );
  CREATE INDEX candidates_expiry ON candidates(expires_at);
  CREATE INDEX candidates_node ON candidates(node_id) WHERE node_id IS NOT NULL;
  `,
  // v2: cheaper writes (docs/BENCHMARKS.md). The task table is rebuilt without AUTOINCREMENT, which
  // updated sqlite_sequence on every insert: tasks are never deleted, so a plain rowid is never
  // reused either. The due-task index covers scheduled tasks only, instead of every task by status.
  `
  CREATE TABLE tasks_v2 (
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
  INSERT INTO tasks_v2 SELECT * FROM tasks;
  DROP TABLE tasks;
  ALTER TABLE tasks_v2 RENAME TO tasks;
  -- poll: the best runnable tasks of a region, highest priority first, oldest first within one
  CREATE INDEX tasks_queue ON tasks(region, status, priority DESC, seq);
  -- alarm: due retries and delayed tasks
  CREATE INDEX tasks_due ON tasks(run_at) WHERE status = 'scheduled';
  -- alarm: expired leases
  CREATE INDEX tasks_lease ON tasks(lease_expires_at) WHERE status = 'leased';
  -- node death / deregistration: what it holds
  CREATE INDEX tasks_node ON tasks(node_id) WHERE status = 'leased';
  CREATE UNIQUE INDEX tasks_idempotency ON tasks(idempotency_scope, idempotency_key) WHERE idempotency_key IS NOT NULL;
  CREATE INDEX tasks_type ON tasks(type, seq);
  `,
  // v3: region shards. Nodes and tasks live in each region's shard; the coordinator keeps tokens,
  // regions, elections, the load table the shards report, and the nodes they reported gone.
  `
  DROP TABLE tasks;
  DROP TABLE nodes;
  -- every region that ever had a shard: listing tasks reaches the finished ones of a deleted region
  CREATE TABLE shards (region TEXT PRIMARY KEY);
  INSERT INTO shards (region) SELECT id FROM regions;
  -- each region's load and health as its shard last reported it
  CREATE TABLE region_loads (
    region TEXT PRIMARY KEY,
    at INTEGER NOT NULL,
    load TEXT NOT NULL
  );
  -- nodes a shard reported dead or deregistered: they may not campaign again (ids are never reused)
  CREATE TABLE gone_nodes (
    node_id TEXT PRIMARY KEY,
    at INTEGER NOT NULL
  );
  `,
  // v4: node channels. The shards whose nodes campaign in or observe an election over a channel:
  // each change of leader is pushed to them.
  `
  CREATE TABLE election_watchers (
    election TEXT NOT NULL,
    deployment TEXT NOT NULL,
    region TEXT NOT NULL,
    PRIMARY KEY (election, region)
  );
  `,
  // v5: token revocations still to be confirmed by each region shard (its channels and nodes of the
  // token end there). A row goes once a shard took the revocation after every edge forgot the token.
  `
  CREATE TABLE revocations (
    token_id TEXT NOT NULL,
    deployment TEXT NOT NULL,
    region TEXT NOT NULL,
    settle_after INTEGER NOT NULL,
    PRIMARY KEY (token_id, region)
  );
  CREATE INDEX revocations_due ON revocations(settle_after);
  `,
  // v6: metrics. How many leaderships each election has begun (one per new term), summed into
  // meridian_leader_changes_total; counted from this version on, and written with the term.
  `
  ALTER TABLE elections ADD COLUMN leader_changes INTEGER NOT NULL DEFAULT 0;
  `,
  // v7: schedules. Each schedule lives in the shard of its home region; this index names that region
  // by schedule id, so GET, DELETE and a replacing PUT find it with one look-up (submit and poll never
  // read it). Written once, when the schedule is first created.
  `
  CREATE TABLE schedule_homes (
    id TEXT PRIMARY KEY,
    region TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX schedule_homes_region ON schedule_homes(region);
  `,
  // v8: election retention. idle_since is when an election
  // was last left without candidates (null while it has some); the alarm deletes elections idle for
  // ELECTION_RETENTION_MS. One row keeps what they leave behind: the highest term they reached (a
  // name that comes back starts above it) and their leader changes (meridian_leader_changes_total
  // never goes down). Elections idle before this version count from the migration.
  `
  ALTER TABLE elections ADD COLUMN idle_since INTEGER;
  UPDATE elections SET idle_since = CAST(strftime('%s', 'now') AS INTEGER) * 1000
    WHERE NOT EXISTS (SELECT 1 FROM candidates WHERE candidates.election = elections.name);
  CREATE INDEX elections_idle ON elections(idle_since) WHERE idle_since IS NOT NULL;
  CREATE TABLE pruned_elections (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    max_term INTEGER NOT NULL,
    leader_changes INTEGER NOT NULL,
    count INTEGER NOT NULL
  );
  INSERT INTO pruned_elections (id, max_term, leader_changes, count) VALUES (1, 0, 0, 0);
  `,
  // v9: tenants (API-v2 §8). A token's tenant; null only for a global admin. Every v1 token that is
  // not an admin belongs to 'default'; v1 admin tokens administered everything and stay global.
  `
  ALTER TABLE tokens ADD COLUMN tenant TEXT;
  UPDATE tokens SET tenant = 'default' WHERE role != 'admin';
  `,
  // v10: a candidacy's owner, the token that first campaigned it: only that token (or an admin of the
  // tenant) renews or resigns it. Existing candidacies have none (legacy): any token of the tenant
  // may still renew or resign one, and the first renewal makes its token the owner.
  `
  ALTER TABLE candidates ADD COLUMN owner TEXT;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** The one command that resets local state, named by the refusal below. */
export const RESET_COMMAND = "npm run reset-state";

/**
 * Brings the coordinator's database to SCHEMA_VERSION. A database written by the single-object
 * Meridian (v1, v2) that holds nodes or tasks is left untouched and reported as `legacy`: its task
 * ids do not name a shard, so those tasks cannot be moved without breaking every client holding one.
 * The coordinator then refuses every call with a message naming RESET_COMMAND.
 */
export function migrateCoordinator(storage: Pick<DurableObjectStorage, "sql" | "transactionSync">): {
  legacy: boolean;
} {
  const sql = storage.sql;
  const version = schemaVersion(sql);
  if (version >= 1 && version < 3) {
    const held = sql
      .exec<{ n: number }>("SELECT (SELECT count(*) FROM tasks) + (SELECT count(*) FROM nodes) AS n")
      .one().n;
    if (held > 0) {
      return { legacy: true };
    }
  }
  migrate(storage, MIGRATIONS);
  return { legacy: false };
}
