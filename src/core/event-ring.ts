/**
 * The event hub's replay buffer and its readers' positions in it. Pure: ids, bounds and bytes only.
 *
 * Every event the hub takes gets the next id and a place at the end of one bounded ring (by count
 * and by bytes), kept as the SSE message it will be sent as. A stream is a cursor into that ring
 * (the id of the last event it has passed) with its filter: resuming with `Last-Event-ID`, replaying
 * and serving live events are the same read. A reader that falls behind costs no memory of its own:
 * when the ring lets go of events it has not read yet, the ones it wanted are counted as missed and
 * it is told so (`dropped`) before its next events.
 */
import {
  droppedMessage,
  type EventBody,
  type EventFilter,
  eventMessage,
  type NumberedEvent,
  type ResetReason,
  resetMessage,
  wants,
} from "./events";

/** How much the ring keeps. */
export interface RingLimits {
  maxEvents: number;
  maxBytes: number;
}

/** One event in the ring, with its SSE message (UTF-8), framed once whoever reads it. */
export interface RingSlot {
  event: NumberedEvent;
  message: Uint8Array;
}

/** A stream's position: the id of the last event it has passed, and what it must be told first. */
export interface RingReader {
  filter: EventFilter;
  cursor: number;
  /** Events it wanted that left the ring before it read them (sent as one `dropped`, then reset to 0). */
  missed: number;
  /** A control message to send before anything else (a `reset` on resume). */
  notice: string | null;
}

const encoder = new TextEncoder();

/**
 * The last events of the deployment, ids consecutive from `floor + 1`. `floor` is the last id given
 * before this ring started (the hub's persisted counter): every event with a larger id is here or
 * has not happened yet.
 */
export class EventRing {
  private readonly slots: RingSlot[] = [];
  /** Index in `slots` of the oldest event kept (the array is trimmed now and then, not on every eviction). */
  private head = 0;
  private bytes = 0;
  private last: number;

  constructor(
    private readonly limits: RingLimits,
    private floorId: number,
    /** Told of each event the ring lets go of (the hub counts it as missed by the readers behind). */
    private readonly onEvict: (slot: RingSlot) => void = () => {},
  ) {
    this.last = floorId;
  }

  /** The id of the newest event (the floor when there is none). */
  get lastId(): number {
    return this.last;
  }

  /** Every event with an id above this one is in the ring (or yet to come). */
  get floor(): number {
    return this.floorId;
  }

  get size(): number {
    return this.slots.length - this.head;
  }

  get byteSize(): number {
    return this.bytes;
  }

  /** Takes an event: it gets the next id, and the oldest events go while the ring is over its bounds. */
  append(body: EventBody): NumberedEvent {
    const event = { id: this.last + 1, ...body } as NumberedEvent;
    const message = encoder.encode(eventMessage(event));
    this.last = event.id;
    this.slots.push({ event, message });
    this.bytes += message.byteLength;
    while (this.size > this.limits.maxEvents || (this.bytes > this.limits.maxBytes && this.size > 1)) {
      this.evictOldest();
    }
    return event;
  }

  private evictOldest(): void {
    const slot = this.slots[this.head]!;
    this.head++;
    this.bytes -= slot.message.byteLength;
    this.floorId = slot.event.id;
    // Trimmed in bulk: shifting the array on every eviction would cost O(n) each time.
    if (this.head >= 1024 && this.head * 2 >= this.slots.length) {
      this.slots.splice(0, this.head);
      this.head = 0;
    }
    this.onEvict(slot);
  }

  /** The slot of event `id`, if the ring still holds it. */
  private slotOf(id: number): RingSlot | undefined {
    return id > this.floorId && id <= this.last ? this.slots[this.head + (id - this.floorId - 1)] : undefined;
  }

  /**
   * Where a new stream starts: after `lastEventId` when the ring still holds everything since then,
   * else at the newest event with a `reset` to send first (its events are gone: `too_old`; or it
   * names an id not given yet: `unknown_id`). Without an id, at the newest event (live only).
   */
  reader(filter: EventFilter, lastEventId: number | null): RingReader {
    const live: RingReader = { filter, cursor: this.last, missed: 0, notice: null };
    if (lastEventId === null) {
      return live;
    }
    let reason: ResetReason | null = null;
    if (lastEventId < this.floorId) {
      reason = "too_old";
    } else if (lastEventId > this.last) {
      reason = "unknown_id";
    }
    return reason === null ? { ...live, cursor: lastEventId } : { ...live, notice: resetMessage(reason) };
  }

  /** A reader behind an event the ring is letting go of: counted as missed if it wanted it. */
  static passEvicted(reader: RingReader, slot: RingSlot): void {
    if (reader.cursor < slot.event.id) {
      if (wants(reader.filter, slot.event)) {
        reader.missed++;
      }
      reader.cursor = slot.event.id;
    }
  }

  /**
   * The reader's next chunk: its notice, `dropped` if it missed events, then the events it wants
   * after its cursor, at most `maxEvents` of them and about `maxBytes`; its cursor moves past every
   * event looked at. Null when it has nothing to send.
   */
  read(reader: RingReader, maxEvents: number, maxBytes: number): Uint8Array | null {
    const parts: Uint8Array[] = [];
    let bytes = 0;
    const push = (part: Uint8Array) => {
      parts.push(part);
      bytes += part.byteLength;
    };
    if (reader.notice !== null) {
      push(encoder.encode(reader.notice));
      reader.notice = null;
    }
    if (reader.missed > 0) {
      push(encoder.encode(droppedMessage(reader.missed)));
      reader.missed = 0;
    }
    let taken = 0;
    while (reader.cursor < this.last && taken < maxEvents && bytes < maxBytes) {
      const slot = this.slotOf(reader.cursor + 1);
      reader.cursor++;
      if (slot !== undefined && wants(reader.filter, slot.event)) {
        push(slot.message);
        taken++;
      }
    }
    return parts.length === 0 ? null : concat(parts, bytes);
  }
}

/** The parts as one array (one write to the stream instead of one per event). */
function concat(parts: Uint8Array[], bytes: number): Uint8Array {
  // Always a copy, even of one part: a stream may take over (detach) the buffer it is given.
  const out = new Uint8Array(bytes);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}
