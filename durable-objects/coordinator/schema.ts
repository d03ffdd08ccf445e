/**
 * The coordinator's SQLite schema, one migration per version. The `schema_version` row records how
 * far a database has come (Durable Objects do not allow `PRAGMA user_version`), so a later change is
 * one more entry at the end of MIGRATIONS.
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
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the database up to SCHEMA_VERSION, one migration at a time, all or nothing; a no-op when it
 * is current.
 */
export function migrate(storage: Pick<DurableObjectStorage, "sql" | "transactionSync">): void {
  const sql = storage.sql;
  storage.transactionSync(() => {
    sql.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
    const current =
      sql.exec<{ version: number }>("SELECT version FROM schema_version").toArray()[0]?.version ?? 0;
    for (let version = current; version < MIGRATIONS.length; version++) {
      sql.exec(MIGRATIONS[version]!);
      sql.exec("DELETE FROM schema_version");
      sql.exec("INSERT INTO schema_version (version) VALUES (?)", version + 1);
    }
  });
}
