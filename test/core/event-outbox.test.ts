import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { EVENT_FLUSH_MS, EVENT_RETRY_MS, EventOutbox } from "../../durable-objects/event-outbox";
import type { EventBody } from "../../src/core/events";

const event = (term: number): EventBody => ({
  type: "leader.changed",
  at: 0,
  election: "e",
  leader: null,
  term,
});
const terms = (batch: EventBody[]) => batch.map((e) => (e as { term: number }).term);

describe("EventOutbox (a producer's events on their way to the hub)", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("sends what was recorded within EVENT_FLUSH_MS in one call, in order", async () => {
    const sent: EventBody[][] = [];
    const outbox = new EventOutbox(() => async (batch) => void sent.push(batch));
    outbox.record(event(1));
    outbox.record(event(2));
    expect(sent).toEqual([]);
    await vi.advanceTimersByTimeAsync(EVENT_FLUSH_MS);
    outbox.record(event(3));
    await vi.advanceTimersByTimeAsync(EVENT_FLUSH_MS);
    expect(sent.map(terms)).toEqual([[1, 2], [3]]);
  });

  it("keeps a failed batch in front of newer events and tries again; never throws to the recorder", async () => {
    const sent: EventBody[][] = [];
    let up = false;
    const outbox = new EventOutbox(() => async (batch) => {
      if (!up) {
        throw new Error("hub unreachable");
      }
      sent.push(batch);
    });
    outbox.record(event(1));
    await vi.advanceTimersByTimeAsync(EVENT_FLUSH_MS);
    outbox.record(event(2));
    expect([outbox.failures, outbox.pending]).toEqual([1, 2]);
    up = true;
    await vi.advanceTimersByTimeAsync(EVENT_RETRY_MS);
    expect(sent.map(terms)).toEqual([[1, 2]]);
    expect(outbox.pending).toBe(0);
  });

  it("holds at most `max` events while the hub is down, dropping and counting the oldest", async () => {
    const sent: EventBody[][] = [];
    let up = false;
    const outbox = new EventOutbox(
      () => async (batch) => {
        if (!up) {
          throw new Error("down");
        }
        sent.push(batch);
      },
      EVENT_FLUSH_MS,
      3,
    );
    for (let i = 1; i <= 5; i++) {
      outbox.record(event(i));
    }
    await vi.advanceTimersByTimeAsync(EVENT_FLUSH_MS);
    expect([outbox.pending, outbox.dropped]).toEqual([3, 2]);
    up = true;
    await outbox.flush();
    expect(sent.map(terms)).toEqual([[3, 4, 5]]);
  });

  it("sends one batch at a time: a flush waits for the one in flight", async () => {
    const sent: number[][] = [];
    let release: () => void = () => {};
    const outbox = new EventOutbox(() => async (batch) => {
      sent.push(terms(batch));
      if (sent.length === 1) {
        await new Promise<void>((resolve) => {
          release = resolve;
        });
      }
    });
    outbox.record(event(1));
    const first = outbox.flush();
    outbox.record(event(2));
    const second = outbox.flush();
    await vi.advanceTimersByTimeAsync(0);
    expect(sent).toEqual([[1]]);
    release();
    await Promise.all([first, second]);
    expect(sent).toEqual([[1], [2]]);
  });
});
