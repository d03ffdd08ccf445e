/**
 * An object's one alarm. A call records every due time it creates (`dueAt`); when the call ends,
 * `commit` moves the alarm earlier if one of them is (never later: the alarm then finds nothing due
 * and sets the next). One `setAlarm` per call at most, and none when nothing became due earlier.
 */
export class AlarmSchedule {
  private alarmAt: number | null = null;
  private pending: number | null = null;

  constructor(private readonly storage: Pick<DurableObjectStorage, "getAlarm" | "setAlarm">) {}

  /** Reads the stored alarm (when the object starts). */
  async load(): Promise<void> {
    this.alarmAt = await this.storage.getAlarm();
  }

  dueAt(at: number): void {
    if ((this.alarmAt === null || at < this.alarmAt) && (this.pending === null || at < this.pending)) {
      this.pending = at;
    }
  }

  /** The alarm is running: it is no longer set. */
  fired(): void {
    this.alarmAt = null;
  }

  /** Sets the alarm to the earliest due time recorded since the last commit, if that is earlier. */
  async commit(): Promise<void> {
    const at = this.pending;
    this.pending = null;
    if (at !== null && (this.alarmAt === null || at < this.alarmAt)) {
      this.alarmAt = at;
      await this.storage.setAlarm(at);
    }
  }
}
