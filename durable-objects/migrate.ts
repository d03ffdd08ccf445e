/**
 * Brings a Durable Object's SQLite database up to the last of its `migrations`, one at a time, all or
 * nothing; a no-op when it is current. The `schema_version` row records how far a database has come
 * (Durable Objects do not allow `PRAGMA user_version`), so a later change is one more entry.
 */
export function migrate(
  storage: Pick<DurableObjectStorage, "sql" | "transactionSync">,
  migrations: readonly string[],
): void {
  const sql = storage.sql;
  storage.transactionSync(() => {
    sql.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
    const current =
      sql.exec<{ version: number }>("SELECT version FROM schema_version").toArray()[0]?.version ?? 0;
    for (let version = current; version < migrations.length; version++) {
      sql.exec(migrations[version]!);
      sql.exec("DELETE FROM schema_version");
      sql.exec("INSERT INTO schema_version (version) VALUES (?)", version + 1);
    }
  });
}

/** The version a database is at (0 for a new one). */
export function schemaVersion(sql: SqlStorage): number {
  sql.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  return sql.exec<{ version: number }>("SELECT version FROM schema_version").toArray()[0]?.version ?? 0;
}
