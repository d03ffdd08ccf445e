import { describe, expect, it } from "vitest";
import { parseLiveEvent } from "../../dashboard/src/live-events";

describe("live events from the stream", () => {
  it("reads a task.routed event with and without an origin", () => {
    const data = {
      id: "12",
      type: "task.routed",
      at: 1000,
      taskId: "t-1",
      taskType: "work",
      region: "eu-west-1",
      origin: { lat: 48.86, lon: 2.35 },
      reason: "nearest",
    };
    expect(parseLiveEvent("task.routed", JSON.stringify(data), "12")).toEqual(data);
    expect(parseLiveEvent("task.routed", JSON.stringify({ ...data, origin: null }), "12")).toMatchObject({
      origin: null,
    });
  });

  it("skips what it does not understand: unknown types, non-JSON, missing or mistyped fields", () => {
    expect(parseLiveEvent("task.teleported", '{"at":1}', "1")).toBeNull();
    expect(parseLiveEvent("node.up", "not json", "1")).toBeNull();
    expect(parseLiveEvent("node.up", '{"at":1,"nodeId":"n","region":"r"}', "1")).toBeNull();
    expect(
      parseLiveEvent(
        "region.changed",
        '{"at":1,"region":"r","healthy":"yes","capacity":1,"inFlight":0,"queued":0}',
        "1",
      ),
    ).toBeNull();
    expect(
      parseLiveEvent(
        "task.routed",
        '{"at":1,"taskId":"t","taskType":"x","region":"r","origin":{"lat":"north"},"reason":"nearest"}',
        "1",
      ),
    ).toBeNull();
  });

  it("keeps a leader.changed with no leader", () => {
    expect(
      parseLiveEvent("leader.changed", '{"at":5,"election":"leader:r","leader":null,"term":3}', "2"),
    ).toEqual({
      type: "leader.changed",
      id: "2",
      at: 5,
      election: "leader:r",
      leader: null,
      term: 3,
    });
  });
});
