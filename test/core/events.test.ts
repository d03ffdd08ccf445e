import { describe, expect, it } from "vitest";
import {
  droppedMessage,
  EVENT_TYPES,
  type EventBody,
  eventMessage,
  KEEP_ALIVE_MESSAGE,
  NO_FILTER,
  parseTypes,
  resetMessage,
  wants,
} from "../../src/core/events";

const routed: EventBody = {
  type: "task.routed",
  at: 5,
  taskId: "t-1-eu-west",
  taskType: "thumbnail",
  region: "eu-west",
  origin: { lat: 48.86, lon: 2.35 },
  reason: "nearest",
};
const leader: EventBody = { type: "leader.changed", at: 6, election: "jobs", leader: "a", term: 3 };

describe("event filter", () => {
  it("gives a tenant's reader only its tenant's events and the shared ones; a global reader all", () => {
    const acme: EventBody = { ...routed, tenant: "acme" };
    const globex: EventBody = { ...routed, tenant: "globex" };
    const region: EventBody = {
      type: "region.changed",
      at: 1,
      region: "eu-west",
      healthy: true,
      capacity: 1,
      inFlight: 0,
      queued: 0,
    };
    const reader = { types: null, region: null, tenant: "acme" };
    expect([acme, globex, region].map((e) => wants(reader, e))).toEqual([true, false, true]);
    expect([acme, globex, region].map((e) => wants(NO_FILTER, e))).toEqual([true, true, true]);
    // The tenant is for the hub only: never written into the message.
    expect(eventMessage({ id: 1, ...acme })).not.toContain("acme");
  });

  it("passes everything without a filter", () => {
    expect(wants(NO_FILTER, routed)).toBe(true);
    expect(wants(NO_FILTER, leader)).toBe(true);
  });

  it.each([
    [["task.routed"], null, routed, true],
    [["task.leased"], null, routed, false],
    [null, "eu-west", routed, true],
    [null, "us-east", routed, false],
    // An event of no region passes any region filter, but not a types filter that leaves it out.
    [null, "us-east", leader, true],
    [["task.routed"], "us-east", leader, false],
    [["leader.changed"], "us-east", leader, true],
    [["task.routed"], "us-east", routed, false],
  ] as const)("types %j region %s: %j -> %s", (types, region, event, expected) => {
    expect(wants({ types: types === null ? null : new Set(types), region, tenant: null }, event)).toBe(
      expected,
    );
  });
});

describe("parseTypes", () => {
  it("reads a comma list of known types, ignoring blanks and repeats", () => {
    expect(parseTypes("task.routed, node.down,,task.routed")).toEqual({
      types: ["task.routed", "node.down"],
    });
    expect(parseTypes(EVENT_TYPES.join(","))).toEqual({ types: [...EVENT_TYPES] });
  });

  it("means every type when absent or empty", () => {
    expect(parseTypes(undefined)).toEqual({ types: null });
    expect(parseTypes("")).toEqual({ types: null });
    expect(parseTypes(" , ")).toEqual({ types: null });
  });

  it("names the first unknown type", () => {
    expect(parseTypes("task.routed,task.exploded,nope")).toEqual({ unknown: "task.exploded" });
    expect(parseTypes("TASK.ROUTED")).toEqual({ unknown: "TASK.ROUTED" });
  });
});

describe("SSE framing", () => {
  it("writes an event as id, event and one data line of JSON that leads with id and type", () => {
    const text = eventMessage({ id: 42, ...routed });
    expect(text).toBe(
      'id: 42\nevent: task.routed\ndata: {"id":42,"type":"task.routed","at":5,"taskId":"t-1-eu-west","taskType":"thumbnail","region":"eu-west","origin":{"lat":48.86,"lon":2.35},"reason":"nearest"}\n\n',
    );
  });

  it("keeps a value with a newline on one data line", () => {
    const text = eventMessage({ id: 1, ...leader, election: "a\nb" });
    expect(text.split("\n").filter((l) => l.startsWith("data: "))).toHaveLength(1);
    expect(text.endsWith("\n\n")).toBe(true);
    expect(text.slice(0, -2)).not.toContain("\n\n");
  });

  it("writes control messages without an id, and the keep-alive as a comment", () => {
    expect(droppedMessage(7)).toBe('event: dropped\ndata: {"missed":7}\n\n');
    expect(resetMessage("too_old")).toBe('event: reset\ndata: {"reason":"too_old"}\n\n');
    expect(KEEP_ALIVE_MESSAGE).toBe(": keep-alive\n\n");
  });
});
