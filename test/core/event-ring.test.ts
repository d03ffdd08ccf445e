import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EventRing, type RingReader } from "../../src/core/event-ring";
import { type EventBody, NO_FILTER } from "../../src/core/events";

const decoder = new TextDecoder();

function leader(term: number, election = "jobs"): EventBody {
  return { type: "leader.changed", at: term, election, leader: "a", term };
}

function node(region: string, n: number): EventBody {
  return { type: "node.up", at: n, nodeId: `node-${n}-${region}`, region, transport: "http" };
}

/** The messages of a chunk as [event, id or control field]. */
function parse(chunk: Uint8Array | null): [string, number | string][] {
  if (chunk === null) {
    return [];
  }
  return decoder
    .decode(chunk)
    .split("\n\n")
    .filter((block) => block !== "")
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)![1]!;
      const data = JSON.parse(/^data: (.*)$/m.exec(block)![1]!);
      return [event, data.id ?? data.missed ?? data.reason];
    });
}

/** A ring whose evictions move the given readers (as the hub does for its streams). */
function ringWith(limits: { maxEvents: number; maxBytes: number }, floor: number, readers: RingReader[]) {
  return new EventRing(limits, floor, (slot) => {
    for (const r of readers) {
      EventRing.passEvicted(r, slot);
    }
  });
}

describe("EventRing", () => {
  it("numbers events from floor + 1 and keeps the last maxEvents", () => {
    const ring = new EventRing({ maxEvents: 3, maxBytes: 1e9 }, 100);
    for (let i = 0; i < 5; i++) {
      expect(ring.append(leader(i)).id).toBe(101 + i);
    }
    expect([ring.size, ring.floor, ring.lastId]).toEqual([3, 102, 105]);
  });

  it("keeps within maxBytes (at least the newest event)", () => {
    const ring = new EventRing({ maxEvents: 1000, maxBytes: 500 }, 0);
    for (let i = 0; i < 50; i++) {
      ring.append(leader(i));
    }
    expect(ring.byteSize).toBeLessThanOrEqual(500);
    expect(ring.size).toBeGreaterThan(1);
    const tiny = new EventRing({ maxEvents: 1000, maxBytes: 1 }, 0);
    tiny.append(leader(1));
    tiny.append(leader(2));
    expect([tiny.size, tiny.floor]).toEqual([1, 1]);
  });

  it("starts a reader live, after an id it still holds, or with a reset", () => {
    const ring = new EventRing({ maxEvents: 3, maxBytes: 1e9 }, 0);
    for (let i = 1; i <= 5; i++) {
      ring.append(leader(i));
    }
    // Holds 3, 4, 5.
    expect(parse(ring.read(ring.reader(NO_FILTER, null), 100, 1e9))).toEqual([]);
    expect(parse(ring.read(ring.reader(NO_FILTER, 2), 100, 1e9))).toEqual([
      ["leader.changed", 3],
      ["leader.changed", 4],
      ["leader.changed", 5],
    ]);
    expect(parse(ring.read(ring.reader(NO_FILTER, 5), 100, 1e9))).toEqual([]);
    expect(parse(ring.read(ring.reader(NO_FILTER, 1), 100, 1e9))).toEqual([["reset", "too_old"]]);
    expect(parse(ring.read(ring.reader(NO_FILTER, 6), 100, 1e9))).toEqual([["reset", "unknown_id"]]);
  });

  it("reads only what the filter wants, in chunks of at most maxEvents", () => {
    const ring = new EventRing({ maxEvents: 100, maxBytes: 1e9 }, 0);
    for (let i = 1; i <= 10; i++) {
      ring.append(i % 2 === 0 ? node("eu-west", i) : node("us-east", i));
    }
    const reader = ring.reader({ types: null, region: "eu-west", tenant: null }, 0);
    expect(parse(ring.read(reader, 3, 1e9)).map(([, id]) => id)).toEqual([2, 4, 6]);
    expect(parse(ring.read(reader, 3, 1e9)).map(([, id]) => id)).toEqual([8, 10]);
    expect(ring.read(reader, 3, 1e9)).toBeNull();
  });

  it("counts what a slow reader wanted and lost, and says so once before its next events", () => {
    const slow: RingReader[] = [];
    const ring = ringWith({ maxEvents: 4, maxBytes: 1e9 }, 0, slow);
    const all = ring.reader(NO_FILTER, null);
    const euWest = ring.reader({ types: null, region: "eu-west", tenant: null }, null);
    slow.push(all, euWest);
    for (let i = 1; i <= 10; i++) {
      ring.append(i <= 6 ? node("eu-west", i) : node("us-east", i));
    }
    expect(parse(ring.read(all, 100, 1e9))).toEqual([
      ["dropped", 6],
      ["node.up", 7],
      ["node.up", 8],
      ["node.up", 9],
      ["node.up", 10],
    ]);
    // It lost 6 events, but wanted only the eu-west ones (1 to 6): those are its count.
    expect(parse(ring.read(euWest, 100, 1e9))).toEqual([["dropped", 6]]);
    expect(ring.read(euWest, 100, 1e9)).toBeNull();
  });

  it("property: whatever the appends and reads, each reader gets or is told it missed every event it wants, in order", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.oneof(fc.constant("read" as const), fc.constantFrom("eu-west", "us-east", null)), {
          maxLength: 200,
        }),
        fc.integer({ min: 1, max: 5 }),
        (maxEvents, steps, chunk) => {
          const readers: RingReader[] = [];
          const ring = ringWith({ maxEvents, maxBytes: 1e9 }, 0, readers);
          const filter = { types: null, region: "eu-west", tenant: null };
          const reader = ring.reader(filter, null);
          readers.push(reader);
          const wanted: number[] = [];
          const got: number[] = [];
          let missed = 0;
          const drain = () => {
            for (const [event, value] of parse(ring.read(reader, chunk, 1e9))) {
              if (event === "dropped") {
                missed += value as number;
              } else {
                got.push(value as number);
              }
            }
          };
          for (const step of steps) {
            if (step === "read") {
              drain();
            } else {
              const event = step === null ? leader(0) : node(step, 0);
              const { id } = ring.append(event);
              if (step !== "us-east") {
                wanted.push(id);
              }
            }
          }
          while (reader.cursor < ring.lastId || reader.missed > 0) {
            drain();
          }
          // What it got is in order, all wanted, and with what it missed accounts for every wanted one.
          expect(got).toEqual(wanted.filter((id) => got.includes(id)));
          expect(got.length + missed).toBe(wanted.length);
          expect(ring.size).toBeLessThanOrEqual(maxEvents);
        },
      ),
    );
  });
});
