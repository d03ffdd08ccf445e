/**
 * Where each schedule lives: schedule id → its home region (whose shard keeps and fires it). Written
 * once when a schedule is created, so concurrent first PUTs of one id agree on one shard; read by
 * GET, DELETE and a replacing PUT. Schedule CRUD is rare: nothing on the task hot path reads it.
 */
export class ScheduleHomes {
  constructor(private readonly sql: SqlStorage) {}

  /** The schedule's home, claiming `proposed` for it when it has none (null `proposed`: look up only). */
  claim(id: string, proposed: string | null, now: number): string | null {
    const found = this.get(id);
    if (found !== null || proposed === null) {
      return found;
    }
    this.sql.exec("INSERT INTO schedule_homes (id, region, created_at) VALUES (?, ?, ?)", id, proposed, now);
    return proposed;
  }

  get(id: string): string | null {
    return (
      this.sql.exec<{ region: string }>("SELECT region FROM schedule_homes WHERE id = ?", id).toArray()[0]
        ?.region ?? null
    );
  }

  /** Forgets a deleted schedule (only if it still lives in `region`). */
  forget(id: string, region: string): void {
    this.sql.exec("DELETE FROM schedule_homes WHERE id = ? AND region = ?", id, region);
  }
}
